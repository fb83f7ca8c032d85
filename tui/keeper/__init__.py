"""Kept connections: tether's answer to OpenSSH's ``ControlPersist``.

The first verb that reaches a remote host starts a *keeper* (`tui.keeper.server`,
its own background process, no Textual): it holds one SSH connection to the
host and offers the runner's socket on a private unix socket on this machine.
Later verbs for that host speak to that socket exactly as to a local runner
(`tui.keeper.client`), so they pay for neither an SSH handshake nor importing
asyncssh. A keeper leaves after `persist_seconds` with no clients, when its SSH
connection ends, or on ``tether disconnect``; a verb that finds none, or a dead
one, connects directly and starts a new one.
"""
