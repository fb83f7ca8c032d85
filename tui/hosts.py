"""Turning what the person typed after ``-H`` into a session.

No host, ``local`` or ``localhost`` means this machine's runner over its unix
socket, with no SSH at all. Anything else is what ``ssh`` itself would accept.
"""

from __future__ import annotations

import os
from typing import Optional

from tui.config import load_config
from tui.errors import ConnectError
from tui.local import LocalOpener
from tui.mirror.host import HostMirror
from tui.mirror.writer import MirrorWriter
from tui.session import HostSession

LOCAL_NAMES = frozenset({"", "local", "localhost"})


def resolve_host(host: Optional[str]) -> str:
    """The host a verb acts on: the flag, else ``TETHER_HOST``, else this machine."""
    chosen = host if host is not None else os.environ.get("TETHER_HOST", "")
    return chosen.strip()


def is_local(host: str) -> bool:
    return host in LOCAL_NAMES


class _ProgressInState:
    """Install progress shown as the session's connecting state (for the app, where
    stderr is not on screen) instead of a line on stderr (for the CLI)."""

    def __init__(self, session: HostSession) -> None:
        self._session = session
        self._step = ""

    def begin(self, text: str) -> None:
        self._step = text.strip()
        self._session.report_progress(self._step)

    def end(self, text: str) -> None:
        self._session.report_progress(f"{self._step} {text.strip()}".strip())

    def note(self, text: str) -> None:
        self._session.report_progress(text.strip())


def make_session(
    host: str, *, reconnect: bool = True, progress_in_state: bool = False, kept: bool = False
) -> HostSession:
    """A session for `host`. With `progress_in_state`, a runner install on first
    contact is reported through the session's state rather than on stderr. With
    `kept`, a remote host is reached through its keeper where one runs, and a
    keeper is left for the next verb (`tui.keeper`): for the CLI's short verbs."""
    if is_local(host):
        return HostSession("local", LocalOpener(), reconnect=reconnect)
    mirror = mirror_writer(host)
    if kept:
        from tui.keeper.opener import KeptOpener

        return HostSession(host, KeptOpener(host), reconnect=reconnect, mirror=mirror)
    from tui.remote import ssh_opener

    opener = ssh_opener(host)
    session = HostSession(host, opener, reconnect=reconnect, mirror=mirror)
    if progress_in_state:
        opener.install_progress = _ProgressInState(session)
    return session


def mirror_writer(host: str) -> Optional[MirrorWriter]:
    """What keeps a copy of what is read from `host` (`tui.mirror`), unless the
    config turns the mirror off (``[mirror] max_size = "0"``)."""
    cap = load_config().mirror_max_bytes
    return MirrorWriter(HostMirror(host), cap) if cap > 0 else None


def make_app_session(host: str) -> HostSession:
    return make_session(host, progress_in_state=True)


__all__ = ["ConnectError", "is_local", "make_app_session", "make_session", "resolve_host"]
