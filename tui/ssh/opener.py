"""`ssh_opener(host)`: the runner on a remote host, as a byte stream pair.

Each call (first contact, and every reconnect of the `HostSession` holding it):

1. reuses the SSH connection if it is still up, else opens one with the
   person's SSH config (`tui.ssh.options`), mapping every failure to one
   sentence (`tui.ssh.errors`);
2. runs the bootstrap (`tui.ssh.bootstrap`) on it, which finds the runner,
   starts it if needed and says where its socket is;
3. opens a channel to that socket with SSH streamlocal forwarding, or, where
   the server forbids that, runs ``tether-runner bridge`` on an exec channel
   (remembered, so later reconnects go straight to the bridge).

Closing the returned writer closes the channel; a channel given up on while
still open also closes the SSH connection, since the link under it is suspect
or no longer wanted. `aclose` closes whatever is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Optional, Tuple

import asyncssh

from tui.config import load_config
from tui.errors import ConnectError
from tui.rpc import ByteReader, ByteWriter
from tui.ssh import errors
from tui.ssh.bootstrap import RunnerLocation, bootstrap_command, parse_bootstrap
from tui.ssh.channel import ChannelReader, ChannelWriter
from tui.ssh.hostkeys import HostKeyWitness, known_hosts_vouches_for
from tui.ssh.options import ResolvedOptions, resolve_options
from tui.ssh.target import SshTarget, parse_target

#: Seconds for TCP connect, key exchange and authentication, ProxyJump hops included.
CONNECT_TIMEOUT_S = 20.0
#: Seconds for the bootstrap, which may have to start the runner.
BOOTSTRAP_TIMEOUT_S = 30.0
#: Seconds for the server to open the channel to the runner.
CHANNEL_TIMEOUT_S = 15.0
#: SSH flow-control window per channel: room for several 256 KiB log chunks in flight.
CHANNEL_WINDOW = 8 * 1024 * 1024


class SshOpener:
    """Opens channels to one host's runner, keeping one SSH connection while it lives."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._target: Optional[SshTarget] = None
        self._conn: Optional[asyncssh.SSHClientConnection] = None
        self._use_bridge = False
        self.location: Optional[RunnerLocation] = None

    @property
    def transport(self) -> str:
        """``streamlocal`` or ``bridge``: how the last channel reached the runner."""
        return "bridge" if self._use_bridge else "streamlocal"

    async def __call__(self) -> Tuple[ByteReader, ByteWriter]:
        try:
            target = self._target or parse_target(self.host)
            self._target = target
            conn = await self._connection(target)
            override = await asyncio.to_thread(_runner_override, target)
            self.location = await self._bootstrap(conn, override)
            if not self._use_bridge:
                pair = await self._open_streamlocal(conn, self.location.socket_path)
                if pair is not None:
                    return pair
                self._use_bridge = True
            return await self._open_bridge(conn, override)
        except BaseException:
            self._drop_connection()
            raise

    async def aclose(self) -> None:
        """Close the SSH connection, if one is still open."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            with contextlib.suppress(asyncio.TimeoutError, asyncssh.Error, OSError):
                await asyncio.wait_for(conn.wait_closed(), 5.0)

    # -- the SSH connection ---------------------------------------------------------

    async def _connection(self, target: SshTarget) -> asyncssh.SSHClientConnection:
        if self._conn is not None and not self._conn.is_closed():
            return self._conn
        self._conn = None
        try:
            resolved = await resolve_options(target)
        except (ValueError, OSError) as exc:
            raise ConnectError(
                f"{target.typed}: cannot use your SSH configuration ({exc})", retryable=False
            ) from exc
        self._conn = await _connect(target, resolved)
        return self._conn

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _channel_closed(self, abandoned: bool) -> None:
        if abandoned:
            self._drop_connection()

    # -- the runner -----------------------------------------------------------------

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
                f"{BOOTSTRAP_TIMEOUT_S:.0f} s"
            ) from None
        except (asyncssh.Error, OSError) as exc:
            raise self._lost_during("starting the runner", exc) from exc
        return parse_bootstrap(
            self.host, str(result.stdout or ""), str(result.stderr or ""), result.exit_status
        )

    async def _open_streamlocal(
        self, conn: asyncssh.SSHClientConnection, socket_path: str
    ) -> Optional[Tuple[ByteReader, ByteWriter]]:
        """A channel to the runner's socket; None when the server will not open one.

        OpenSSH answers a forward forbidden by ``AllowStreamLocalForwarding no``
        with the same "open failed" as one to a missing socket, and the bootstrap
        has just seen the socket answer: so any refusal means "use the bridge",
        and a bridge that cannot reach the runner either says why.
        """
        try:
            reader, writer = await asyncio.wait_for(
                conn.open_unix_connection(socket_path, window=CHANNEL_WINDOW),
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
    ) -> Tuple[ByteReader, ByteWriter]:
        """``tether-runner bridge`` on an exec channel: its stdin/stdout are the stream."""
        try:
            process = await asyncio.wait_for(
                conn.create_process(
                    bootstrap_command("bridge", override), encoding=None, window=CHANNEL_WINDOW
                ),
                CHANNEL_TIMEOUT_S,
            )
        except asyncio.TimeoutError:
            raise ConnectError(f"{self.host}: the SSH server did not start the bridge") from None
        except (asyncssh.Error, OSError) as exc:
            raise self._lost_during("starting tether-runner bridge", exc) from exc
        channel_reader = ChannelReader(process.stdout, self.host, process)
        return channel_reader, ChannelWriter(process.stdin, channel_reader, self._channel_closed)

    def _lost_during(self, what: str, exc: BaseException) -> ConnectError:
        reason = exc.reason if isinstance(exc, asyncssh.Error) else str(exc)
        return ConnectError(f"{self.host}: the SSH connection failed while {what} ({reason})")


async def _connect(target: SshTarget, resolved: ResolvedOptions) -> asyncssh.SSHClientConnection:
    """One authenticated SSH connection, or the `ConnectError` that says why not."""
    witness = HostKeyWitness()
    endpoint = resolved.endpoint
    try:
        return await asyncio.wait_for(
            asyncssh.connect(
                target.host,
                target.port if target.port is not None else (),
                options=resolved.options,
                client_factory=lambda: witness,
            ),
            CONNECT_TIMEOUT_S,
        )
    except asyncssh.HostKeyNotVerifiable as exc:
        raise await _host_key_error(target, resolved, witness, exc) from None
    except asyncssh.PermissionDenied as exc:
        raise errors.auth_refused(target, endpoint, exc) from None
    except asyncssh.Error as exc:
        raise errors.ssh_failure(target, endpoint, exc) from None
    except (OSError, asyncio.TimeoutError) as exc:
        raise errors.unreachable(target, endpoint, exc) from None
    except ValueError as exc:
        raise ConnectError(f"{target.typed}: cannot connect ({exc})", retryable=False) from None


async def _host_key_error(
    target: SshTarget,
    resolved: ResolvedOptions,
    witness: HostKeyWitness,
    exc: asyncssh.HostKeyNotVerifiable,
) -> ConnectError:
    offered = witness.offered
    if offered is None:  # refused before reaching the host itself: a ProxyJump hop
        return errors.jump_host_key_refused(target, exc)
    shown = _home_relative(resolved.known_hosts[0])
    known = await asyncio.to_thread(
        known_hosts_vouches_for, resolved.known_hosts, offered.host, offered.addr, offered.port
    )
    if known:
        return errors.host_key_changed(target, offered, shown)
    return errors.host_key_unknown(target, offered, shown)


def _runner_override(target: SshTarget) -> Optional[str]:
    """``[hosts.NAME] runner`` from tether's config, by the name typed or the bare host."""
    return load_config().host(target.typed, target.host).runner


def _home_relative(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path


def ssh_opener(host: str) -> SshOpener:
    """The opener `tui.hosts.make_session` gives a remote host's `HostSession`."""
    return SshOpener(host)


__all__ = ["SshOpener", "ssh_opener"]
