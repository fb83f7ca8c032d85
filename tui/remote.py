"""`ssh_opener(host)`: the runner on a remote host, as a byte stream pair.

This is where SSH (`tui.ssh`: connect, bootstrap, channels) and installing
(`tui.install`, which runs its commands over `tui.ssh`) meet, so it sits above
both and `tui.ssh` never has to import `tui.install`.

Each call (first contact, and every reconnect of the `HostSession` holding it):

1. reuses the SSH connection if it is still up, else opens one as ``ssh HOST``
   would (`tui.ssh.connect`);
2. opens a streamlocal channel straight to the runner's socket where that
   route is known (from this session or the route cache, `tui.ssh.route_cache`);
3. otherwise runs the bootstrap (`tui.ssh.bootstrap`, wrapped by
   `tui.install.contact.ensure_runner`, which installs or upgrades the runner
   when needed), which finds the runner, starts it if needed and says where
   its socket is, and opens a channel to that socket with SSH streamlocal
   forwarding or, where the server refuses that, runs ``tether-runner bridge``
   on an exec channel. The route that worked is remembered for the next call
   and the next command.

Before a streamlocal channel is opened, the socket and its directory are checked
on the host (`tui.ssh.bootstrap.socket_check_command`: the account's own, no one
else's way in), so that nothing is ever sent to a socket another account planted
in /tmp. A remembered streamlocal route that fails that check or no longer
answers (the runner was stopped, the host rebooted) falls back to the bootstrap,
which starts the runner again, at a place of its own. A remembered bridge
route only skips the streamlocal attempt: the bootstrap still runs first, so a
missing or outdated runner is installed rather than reported by a bridge.

Closing the returned writer closes the channel; a channel given up on while
still open also closes the SSH connection, since the link under it is suspect
or no longer wanted. `aclose` closes whatever is left.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Optional, Tuple

import asyncssh

from protocol.units import duration
from tui.config import load_config
from tui.errors import ConnectError, ConnectionLost
from tui.install.contact import ensure_runner
from tui.install.installer import Progress
from tui.install.ssh_shell import SshShell
from tui.rpc import ByteReader, ByteWriter
from tui.ssh.bootstrap import (
    MISSING_EXIT,
    RunnerLocation,
    bootstrap_command,
    missing_message,
    parse_bootstrap,
    socket_check_command,
    socket_check_problem,
)
from tui.ssh.channel import ChannelReader, ChannelWriter
from tui.ssh.connect import connect
from tui.ssh.route_cache import Route, load_route, save_route
from tui.ssh.target import SshTarget, parse_target

#: Seconds for the bootstrap, which may have to start the runner.
BOOTSTRAP_TIMEOUT_S = 30.0
#: Seconds for the server to open the channel to the runner.
CHANNEL_TIMEOUT_S = 15.0
#: SSH flow-control window per channel: room for several 256 KiB log chunks in flight.
CHANNEL_WINDOW = 8 * 1024 * 1024
#: Largest SSH packet the server may send on the channel: fewer, larger packets
#: cost less to decrypt and dispatch (OpenSSH accepts packets up to 256 KiB).
CHANNEL_MAX_PACKET = 128 * 1024

Pair = Tuple[ByteReader, ByteWriter]


class SshOpener:
    """Opens channels to one host's runner, keeping one SSH connection while it lives."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._target: Optional[SshTarget] = None
        self._conn: Optional[asyncssh.SSHClientConnection] = None
        self._sftp: Optional[asyncssh.SFTPClient] = None
        self._no_sftp = False
        self.route: Optional[Route] = None
        #: Where "installing tether X runner on HOST…" goes (None: stderr).
        self.install_progress: Optional[Progress] = None
        #: Whether a channel given up on while open takes the SSH connection with it.
        #: A keeper (`tui.keeper`) says no: its clients come and go, each with a
        #: channel of its own, and one leaving says nothing about the link.
        self.drop_on_abandon = True
        self._override: Optional[str] = None

    async def __call__(self) -> Pair:
        try:
            target = self._target or parse_target(self.host)
            self._target = target
            conn = await self._connection(target)
            override = await asyncio.to_thread(_runner_override, target)
            self._override = override
            route = self.route or await asyncio.to_thread(load_route, self.host)
            if route is not None and route.transport == "streamlocal":
                pair = await self._open_checked_streamlocal(conn, route.socket_path)
                if pair is not None:
                    self.route = route
                    return pair
            bridge = route is not None and route.transport == "bridge"
            return await self._open_after_bootstrap(conn, override, bridge)
        except BaseException:
            self._drop_connection()
            raise

    async def open_again(self) -> Pair:
        """Another channel to the runner by the route the last call found, its socket
        not checked again: for a keeper, which checks it once per connection and then
        opens a channel per client. A route that no longer answers, or none, is a
        full call (the check, and the bootstrap where needed)."""
        conn, route = self._conn, self.route
        if conn is None or conn.is_closed() or route is None:
            return await self()
        try:
            if route.transport == "bridge":
                return await self._open_bridge(conn, self._override)
            pair = await self._open_streamlocal(conn, route.socket_path)
        except BaseException:
            self._drop_connection()
            raise
        return pair if pair is not None else await self()

    async def aclose(self) -> None:
        """Close the SSH connection, if one is still open."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(asyncio.TimeoutError, asyncssh.Error, OSError):
                await asyncio.wait_for(conn.wait_closed(), 5.0)

    # -- the SSH connection ---------------------------------------------------------

    async def _connection(self, target: SshTarget) -> asyncssh.SSHClientConnection:
        if self._conn is None or self._conn.is_closed():
            self._conn = await connect(target)
        return self._conn

    async def ssh_connection(self) -> asyncssh.SSHClientConnection:
        """The SSH connection the runner's channels use, opened as ``ssh HOST`` would
        when none is up: for channels of other kinds beside them (a shell with a pty,
        a forwarded port). Raises `ConnectError` as the first contact does."""
        target = self._target or parse_target(self.host)
        self._target = target
        try:
            return await self._connection(target)
        except BaseException:
            self._drop_connection()
            raise

    async def sftp(self) -> Optional[asyncssh.SFTPClient]:
        """An SFTP client on the SSH connection the runner's channel uses, for bulk
        reads (`tether pull`): bytes a C sftp-server reads straight from the disk,
        not relayed by the runner. None while no connection is up, or where the
        server offers no SFTP (then it is not asked again)."""
        conn = self._conn
        if self._no_sftp or conn is None or conn.is_closed():
            return None
        if self._sftp is None:
            try:
                self._sftp = await asyncio.wait_for(conn.start_sftp_client(), CHANNEL_TIMEOUT_S)
            except (asyncssh.Error, OSError, asyncio.TimeoutError):
                self._no_sftp = True
                return None
        return self._sftp

    def _drop_connection(self) -> None:
        self._sftp = None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _channel_closed(self, abandoned: bool) -> None:
        if abandoned and self.drop_on_abandon:
            self._drop_connection()

    # -- routes to the runner ---------------------------------------------------------

    async def _open_after_bootstrap(
        self, conn: asyncssh.SSHClientConnection, override: Optional[str], bridge: bool
    ) -> Pair:
        location = await ensure_runner(
            SshShell(conn, self.host),
            lambda: self._bootstrap(conn, override),
            self.install_progress,
        )
        pair = None
        if not bridge:
            problem = await self._socket_problem(conn, location.socket_path)
            if problem is not None:
                raise ConnectError(problem, retryable=False)
            pair = await self._open_streamlocal(conn, location.socket_path)
        transport = "streamlocal"
        if pair is None:
            pair, transport = await self._open_bridge(conn, override), "bridge"
        self.route = Route(socket_path=location.socket_path, transport=transport)
        await asyncio.to_thread(save_route, self.host, self.route)
        return pair

    async def _bootstrap(
        self, conn: asyncssh.SSHClientConnection, override: Optional[str]
    ) -> RunnerLocation:
        command = bootstrap_command("start", override)
        try:
            result = await asyncio.wait_for(
                conn.run(command, encoding="utf-8", errors="replace", check=False),
                BOOTSTRAP_TIMEOUT_S,
            )
        except asyncio.TimeoutError:
            raise ConnectError(
                f"{self.host}: finding and starting the runner took over "
                f"{duration(BOOTSTRAP_TIMEOUT_S)}"
            ) from None
        except (asyncssh.Error, OSError) as exc:
            raise self._lost_during("starting the runner", exc) from exc
        return parse_bootstrap(
            self.host, str(result.stdout or ""), str(result.stderr or ""), result.exit_status
        )

    async def _open_checked_streamlocal(
        self, conn: asyncssh.SSHClientConnection, socket_path: str
    ) -> Optional[Pair]:
        """A remembered route, opened only if its socket is still the account's own;
        None (so: the bootstrap) when it is not or does not answer."""
        if await self._socket_problem(conn, socket_path) is not None:
            return None
        return await self._open_streamlocal(conn, socket_path)

    async def _socket_problem(
        self, conn: asyncssh.SSHClientConnection, socket_path: str
    ) -> Optional[str]:
        """Why `socket_path` on the host must not be used, or None when it is safe."""
        try:
            result = await asyncio.wait_for(
                conn.run(
                    socket_check_command(socket_path),
                    encoding="utf-8",
                    errors="replace",
                    check=False,
                ),
                CHANNEL_TIMEOUT_S,
            )
        except asyncio.TimeoutError:
            raise ConnectError(
                f"{self.host}: checking the runner's socket took over {duration(CHANNEL_TIMEOUT_S)}"
            ) from None
        except (asyncssh.Error, OSError) as exc:
            raise self._lost_during("checking the runner's socket", exc) from exc
        return socket_check_problem(self.host, socket_path, str(result.stdout or ""))

    async def _open_streamlocal(
        self, conn: asyncssh.SSHClientConnection, socket_path: str
    ) -> Optional[Pair]:
        """A channel to the runner's socket; None when the server will not open one.

        OpenSSH answers a forward forbidden by ``AllowStreamLocalForwarding no``
        with the same "open failed" as one to a socket nobody listens on: either
        way the next step is the bootstrap, and then the bridge.
        """
        try:
            reader, writer = await asyncio.wait_for(
                conn.open_unix_connection(
                    socket_path, window=CHANNEL_WINDOW, max_pktsize=CHANNEL_MAX_PACKET
                ),
                CHANNEL_TIMEOUT_S,
            )
        except asyncssh.ChannelOpenError:
            return None
        except asyncio.TimeoutError:
            raise ConnectError(f"{self.host}: the SSH server did not open the channel") from None
        except (asyncssh.Error, OSError) as exc:
            raise self._lost_during("opening the channel", exc) from exc
        channel_reader = ChannelReader(reader, self.host)
        return channel_reader, ChannelWriter(writer, channel_reader, self._channel_closed)

    async def _open_bridge(
        self, conn: asyncssh.SSHClientConnection, override: Optional[str]
    ) -> Pair:
        """``tether-runner bridge`` on an exec channel: its stdin/stdout are the stream."""
        try:
            process = await asyncio.wait_for(
                conn.create_process(
                    bootstrap_command("bridge", override),
                    encoding=None,
                    window=CHANNEL_WINDOW,
                    max_pktsize=CHANNEL_MAX_PACKET,
                ),
                CHANNEL_TIMEOUT_S,
            )
        except asyncio.TimeoutError:
            raise ConnectError(f"{self.host}: the SSH server did not start the bridge") from None
        except (asyncssh.Error, OSError) as exc:
            raise self._lost_during("starting tether-runner bridge", exc) from exc
        channel_reader = ChannelReader(process.stdout, self.host, process, self._bridge_failure)
        return channel_reader, ChannelWriter(process.stdin, channel_reader, self._channel_closed)

    def _bridge_failure(self, status: int, stderr: str) -> ConnectionLost:
        """Why a bridge ended early, from its exit status and what it printed."""
        if status == MISSING_EXIT:
            return ConnectionLost(missing_message(self.host, stderr), retryable=False)
        detail = " ".join(stderr.split())[-300:]
        return ConnectionLost(
            f"{self.host}: tether-runner bridge exited with status {status}"
            + (f": {detail}" if detail else "")
        )

    def _lost_during(self, what: str, exc: BaseException) -> ConnectError:
        reason = exc.reason if isinstance(exc, asyncssh.Error) else str(exc)
        return ConnectError(f"{self.host}: the SSH connection failed while {what} ({reason})")


def _runner_override(target: SshTarget) -> Optional[str]:
    """``[hosts.NAME] runner`` from tether's config, by the name typed or the bare host."""
    return load_config().host(target.typed, target.host).runner


def ssh_opener(host: str) -> SshOpener:
    """The opener `tui.hosts.make_session` gives a remote host's `HostSession`."""
    return SshOpener(host)


__all__ = ["SshOpener", "ssh_opener"]
