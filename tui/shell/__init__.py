"""``tether shell``: a shell on a host, in a job's directory and environment.

`verb` is the verb (its arguments and `run_shell`); `on_host` opens a shell
through a `HostSession` (the app comes in there); `enter` builds the command
that enters a job's place; `terminal` and `relay` hold the person's terminal
in raw mode and pump it to a pty; `local` and `remote` are the two kinds of pty.

Nothing is imported here: the CLI builds its parser from `verb` without
loading asyncio or SSH.
"""
