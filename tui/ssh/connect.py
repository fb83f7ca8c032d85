"""One authenticated SSH connection to a host, or the one sentence saying why not."""

from __future__ import annotations

import asyncio
import os

import asyncssh

from tui.errors import ConnectError
from tui.ssh import errors
from tui.ssh.hostkeys import HostKeyWitness, known_hosts_vouches_for
from tui.ssh.options import ResolvedOptions, resolve_options
from tui.ssh.target import SshTarget

#: Seconds for TCP connect, key exchange and authentication, ProxyJump hops included.
CONNECT_TIMEOUT_S = 20.0


async def connect(target: SshTarget) -> asyncssh.SSHClientConnection:
    """Connect as ``ssh TARGET`` would; every failure is a `ConnectError`."""
    try:
        resolved = await resolve_options(target)
    except (ValueError, OSError) as exc:
        raise ConnectError(
            f"{target.typed}: cannot use your SSH configuration ({exc})", retryable=False
        ) from exc
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


def _home_relative(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home) :] if path.startswith(home + os.sep) else path
