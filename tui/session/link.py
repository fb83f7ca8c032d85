"""`Link`: the one owner of a session's connection, its state and its retries.

It opens a `RunnerConnection` through the session's opener, says hello, and,
when the link is lost, makes it again after `backoff_delay`, reporting each
step as a `SessionState`. A failure that waiting will not fix (a refused key,
an incompatible runner) leaves it ``offline`` until `retry_now`. First contact
and reconnection are the same loop, so a host that was never reachable and one
that went away look and behave alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from typing import Awaitable, Callable, List, Optional, Tuple

from protocol.connection.events import Heartbeat
from tui.errors import ConnectError, ConnectionLost, IncompatibleRunner, TetherError
from tui.rpc import ByteReader, ByteWriter, RunnerConnection
from tui.session.state import SessionState, backoff_delay

Opener = Callable[[], Awaitable[Tuple[ByteReader, ByteWriter]]]
StateListener = Callable[[SessionState], None]

HANDSHAKE_TIMEOUT_S = 15.0


class Link:
    """A session's connection and the single task that makes and remakes it.

    ``state`` is what to show; ``listeners`` hear every change. The supervisor
    task starts with `connect_once` (after a first success) or `keep_connected`
    (from the first try) and ends in `close`.
    """

    def __init__(self, name: str, opener: Opener, *, reconnect: bool, heartbeat: Heartbeat) -> None:
        self.name = name
        self._heartbeat = heartbeat
        self._opener = opener
        self._reconnect = reconnect
        self.conn: Optional[RunnerConnection] = None
        self.state = SessionState("connecting")
        self.listeners: List[StateListener] = []
        self._changed = asyncio.Event()
        self._lost: Optional[ConnectionLost] = None
        self._wake = asyncio.Event()
        self._supervisor: Optional[asyncio.Task[None]] = None
        self._closed = False

    @property
    def opener(self) -> Opener:
        return self._opener

    # -- state -----------------------------------------------------------------------

    def set_state(self, state: SessionState) -> None:
        self.state = state
        self._pulse()
        for listener in list(self.listeners):
            listener(state)

    def _pulse(self) -> None:
        """Wake every task waiting for the link to change; later waiters wait anew."""
        self._changed.set()
        self._changed = asyncio.Event()

    def report_progress(self, text: str) -> None:
        kind = (
            self.state.kind if self.state.kind in ("connecting", "reconnecting") else "connecting"
        )
        self.set_state(dataclasses.replace(self.state, kind=kind, reason=text, error=None))

    # -- connecting --------------------------------------------------------------------

    async def connect_once(self) -> None:
        """One attempt; on failure the state goes offline and the error is raised."""
        try:
            await self._connect()
        except TetherError as exc:
            self.set_state(SessionState("offline", str(exc), error=exc))
            raise
        self._supervise(connected=True)

    def keep_connected(self) -> None:
        """Connect in the background and stay connected until `close`."""
        self._supervise(connected=False)

    def retry_now(self) -> None:
        self._wake.set()

    def _supervise(self, connected: bool) -> None:
        if self._supervisor is None or self._supervisor.done():
            self._supervisor = asyncio.ensure_future(self._keep(connected))

    async def _keep(self, connected: bool) -> None:
        """Connect, then connect again after every loss, until closed: the only
        loop that (re)makes the link, for first contact and reconnects alike."""
        attempt, reason = 0, ""
        while not self._closed:
            if not connected:
                error = await self._attempt(attempt, reason)
                if error is None:
                    connected = True
                elif isinstance(error, ConnectError) and error.retryable:
                    attempt, reason = attempt + 1, str(error)
                    continue
                else:
                    await self._offline(error)
                    attempt = 0
                    continue
            lost = await self._until_lost()
            connected = False
            if self._reconnect:
                attempt, reason = 1, str(lost)
            else:
                await self._offline(lost)
                attempt = 0

    async def _attempt(self, attempt: int, reason: str) -> Optional[TetherError]:
        """Try `attempt` (0: at once, else after its backoff): None when connected,
        else what failed."""
        if attempt > 0:
            await self._back_off(attempt, reason)
        try:
            await self._connect()
        except TetherError as exc:
            return exc
        except Exception as exc:  # an opener's bug must show, not end the retries unseen
            return ConnectError(f"{self.name}: cannot connect ({exc!r})", retryable=False)
        return None

    async def _back_off(self, attempt: int, reason: str) -> None:
        delay = backoff_delay(attempt)
        self.set_state(SessionState("reconnecting", reason, attempt, time.time() + delay))
        self._wake.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._wake.wait(), delay)

    async def _offline(self, exc: TetherError) -> None:
        """Stay offline, saying why, until someone asks to try again."""
        self._wake.clear()
        self.set_state(SessionState("offline", str(exc), error=exc))
        await self._wake.wait()
        self.set_state(SessionState("connecting", str(exc)))

    async def _until_lost(self) -> ConnectionLost:
        while self._lost is None:
            await self._changed.wait()
        return self._lost

    async def _connect(self, replaced: bool = False) -> None:
        try:
            reader, writer = await self._opener()
        except TetherError:
            raise
        except OSError as exc:
            raise ConnectError(f"{self.name}: cannot connect ({exc})") from exc
        # The runner on this machine (`tui.hosts`) is offered no compression: it saves no time.
        compression = () if self.name == "local" else None
        conn = RunnerConnection(reader, writer, self.name, self._heartbeat, compression)
        try:
            await conn.open(HANDSHAKE_TIMEOUT_S)
        except asyncio.TimeoutError as exc:
            await conn.close()
            raise ConnectError(f"{self.name}: the runner did not answer the handshake") from exc
        except IncompatibleRunner as exc:
            await conn.close()
            # Refused for its protocol (no version said) by a runner the opener may
            # replace: the one on this machine, left by another install.
            replace = getattr(self._opener, "replace_incompatible", None)
            if replace is None or replaced or exc.runner_version is not None:
                raise
            await replace()
            await self._connect(replaced=True)
            return
        except BaseException:
            await conn.close()
            raise
        conn.on_lost = self._on_lost
        self.conn = conn
        self._lost = None
        self.set_state(SessionState("connected"))

    def _on_lost(self, exc: ConnectionLost) -> None:
        if self._closed:
            return
        self._lost = exc
        self._pulse()  # the supervisor takes it from here and says what comes next

    # -- using it ----------------------------------------------------------------------

    async def connection(self) -> RunnerConnection:
        """The live connection, waiting through (re)connecting; raises
        `ConnectError` when offline or closed."""
        while True:
            if self._closed:
                raise ConnectError(f"{self.name}: session closed", retryable=False)
            if self.state.kind == "offline":
                raise ConnectError(self.state.reason, retryable=False)
            conn = self.conn
            if conn is not None and conn.alive:
                return conn
            await self._changed.wait()

    async def close(self) -> None:
        self._closed = True
        if self._supervisor is not None:
            self._supervisor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._supervisor
        if self.conn is not None:
            await self.conn.close()
        # An opener that holds a link of its own (an SSH connection) lets it go here.
        opener_close = getattr(self._opener, "aclose", None)
        if opener_close is not None:
            await opener_close()
        self.set_state(SessionState("closed"))
