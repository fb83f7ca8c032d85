"""A shell from the app (``S``): the app steps aside, the shell has the terminal,
and the app comes back when it exits.

The shell runs on the event loop the app runs on, over the session the app
already holds (`tui.shell.on_host`): its SSH connection carries the shell, and
the app's watchers keep it (and the host's state) alive meanwhile. Two things
keep the app quiet while it is suspended, since its timers and watchers go on:
no repaint is drawn (a batch update spans the shell; Textual's output thread
is stopped, and a repaint would fill its queue and then block the loop), and
nothing escapes the suspension unhandled, because `App.suspend` only gives the
terminal back to the app when its block ends normally.
"""

from __future__ import annotations

from typing import Any, Optional

from textual.app import App, SuspendNotSupported

from protocol.jobs import JobInfo
from tui.errors import ShellError
from tui.session import HostSession
from tui.shell.on_host import open_shell
from tui.shell.terminal import Terminal


async def shell_beside_app(app: App[Any], session: HostSession, job: Optional[JobInfo]) -> int:
    """The login shell on `session`'s host (in `job`'s place when given), with the
    app suspended around it; its exit status. `ShellError` when this terminal
    cannot be handed over (a headless app, the web)."""
    terminal = Terminal()
    if not terminal.is_terminal():
        raise ShellError("a shell needs the app on a terminal: stdin or stdout is not one")
    failure: Optional[BaseException] = None
    status = 0
    try:
        with app.batch_update(), app.suspend():
            try:
                status = await open_shell(session, job, [], terminal)
            except BaseException as exc:  # carried past the suspension (see above)
                failure = exc
    except SuspendNotSupported:
        raise ShellError(
            "this terminal cannot be handed to a shell (the app cannot step aside)"
        ) from None
    if failure is not None:
        raise failure
    return status
