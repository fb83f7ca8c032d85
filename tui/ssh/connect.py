"""One authenticated SSH connection to a host, or the one sentence saying why not."""

from __future__ import annotations

import asyncio
import os
from typing import Optional, Tuple

import asyncssh

from tui.errors import ConnectError
from tui.ssh import errors
from tui.ssh.hostkeys import HostKeyWitness, known_hosts_vouches_for
from tui.ssh.options import ResolvedOptions, resolve_options
from tui.ssh.target import SshTarget

#: Seconds for TCP connect, key exchange and authentication, per hop.
CONNECT_TIMEOUT_S = 20.0
#: More hops than this is a ProxyJump that leads back to itself (``Host *`` with ProxyJump).
MAX_JUMPS = 8


async def connect(target: SshTarget) -> asyncssh.SSHClientConnection:
    """Connect as ``ssh TARGET`` would; every failure is a `ConnectError`.

    ProxyJump hops are opened here, each as a target of its own with tether's
    host key rule, and refused with the same message as the last hop would be.
    """
    return await _connect(target, via=None, hops=0)


async def _connect(
    target: SshTarget, via: Optional[asyncssh.SSHClientConnection], hops: int
) -> asyncssh.SSHClientConnection:
    """`target`, through the connection `via` when given (whose ownership passes to
    the new connection: it closes with it, or here when connecting fails)."""
    try:
        resolved = await resolve_options(target)
    except (ValueError, OSError) as exc:
        _close(via)
        raise ConnectError(
            f"{target.typed}: cannot use your SSH configuration ({exc})", retryable=False
        ) from exc
    tunnel = via
    if tunnel is None and resolved.jump_hosts:
        tunnel = await _open_jumps(target, resolved.jump_hosts, hops)
    try:
        conn = await _open(target, resolved, tunnel)
    except BaseException:
        _close(tunnel)
        raise
    if tunnel is not None:
        conn.set_tunnel(tunnel)
    return conn


async def _open(
    target: SshTarget, resolved: ResolvedOptions, tunnel: Optional[asyncssh.SSHClientConnection]
) -> asyncssh.SSHClientConnection:
    witness = HostKeyWitness()
    endpoint = resolved.endpoint
    try:
        return await asyncio.wait_for(
            asyncssh.connect(
                target.host,
                target.port if target.port is not None else (),
                options=resolved.options,
                tunnel=tunnel if tunnel is not None else (),
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


async def _open_jumps(
    target: SshTarget, jumps: Tuple[SshTarget, ...], hops: int
) -> asyncssh.SSHClientConnection:
    """The last hop of `jumps`, each opened through the one before."""
    conn: Optional[asyncssh.SSHClientConnection] = None
    for jump in jumps:
        if hops >= MAX_JUMPS:
            _close(conn)
            raise ConnectError(
                f"{target.typed}: more than {MAX_JUMPS} ProxyJump hops; check that the "
                f"ProxyJump lines in ~/.ssh/config do not lead back to themselves",
                retryable=False,
            )
        hops += 1
        named = SshTarget(
            typed=f"{target.typed}'s jump host (ProxyJump) {jump.typed}",
            host=jump.host,
            user=jump.user,
            port=jump.port,
        )
        conn = await _connect(named, via=conn, hops=hops)
    assert conn is not None
    return conn


def _close(conn: Optional[asyncssh.SSHClientConnection]) -> None:
    if conn is not None:
        conn.close()


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


def _home_relative(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path
