"""Every way reaching a host over SSH fails, as one sentence a person can act on.

Each error names the host as typed and the cause. `retryable` says whether a
session should keep trying: a link that is down may come back, but a refused key,
an unknown host key or a missing runner will not fix themselves by waiting.
"""

from __future__ import annotations

import asyncio
import os
import socket
from dataclasses import dataclass
from typing import Optional

import asyncssh

from tui.errors import ConnectError
from tui.ssh.hostkeys import OfferedKey
from tui.ssh.target import SshTarget


class HostUnreachable(ConnectError):
    """No SSH server answered (network down, wrong name or port)."""


class AuthRefused(ConnectError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


class HostKeyUnknown(ConnectError):
    """First contact: known_hosts has no key for the host. `offered` is what to accept."""

    def __init__(self, message: str, offered: Optional[OfferedKey]) -> None:
        super().__init__(message, retryable=False)
        self.offered = offered


class HostKeyChanged(ConnectError):
    """known_hosts holds a different key for the host: refused, never overridden."""

    def __init__(self, message: str, offered: Optional[OfferedKey]) -> None:
        super().__init__(message, retryable=False)
        self.offered = offered


class RunnerMissing(ConnectError):
    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class Endpoint:
    """Where the SSH config sent us: the real host name, port and user."""

    host: str
    port: int
    user: str

    def describe(self) -> str:
        return f"{self.host} port {self.port}"


def unreachable(target: SshTarget, endpoint: Endpoint, exc: BaseException) -> ConnectError:
    name = target.typed
    if isinstance(exc, socket.gaierror):
        return HostUnreachable(
            f"{name}: cannot resolve the host name {endpoint.host!r} ({exc.strerror}); "
            f"check the name or its HostName in ~/.ssh/config",
            retryable=False,
        )
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return HostUnreachable(f"{name}: no SSH answer from {endpoint.describe()} (timed out)")
    number = getattr(exc, "errno", None)
    reason = os.strerror(number) if number else (str(exc) or type(exc).__name__)
    return HostUnreachable(f"{name}: cannot reach {endpoint.describe()} ({reason.lower()})")


def auth_refused(
    target: SshTarget, endpoint: Endpoint, exc: asyncssh.PermissionDenied
) -> ConnectError:
    return AuthRefused(
        f"{target.typed}: {endpoint.host} refused every key for user {endpoint.user!r} "
        f"({exc.reason}); check IdentityFile for this host in ~/.ssh/config or load the key "
        f"into your agent with ssh-add"
    )


def host_key_unknown(target: SshTarget, offered: OfferedKey, known_hosts: str) -> ConnectError:
    return HostKeyUnknown(
        f"{target.typed}: the host key of {offered.pattern} is not in {known_hosts} "
        f"({offered.algorithm} {offered.fingerprint}); if that fingerprint is right, accept it "
        f"by connecting once with `{target.ssh_command()}` and answering yes "
        f"(or `ssh-keyscan{_keyscan_port(offered)} {offered.host} >> {known_hosts}`), "
        f"then run tether again",
        offered,
    )


def host_key_changed(target: SshTarget, offered: OfferedKey, known_hosts: str) -> ConnectError:
    return HostKeyChanged(
        f"{target.typed}: WARNING: THE HOST KEY OF {offered.pattern} HAS CHANGED: it now "
        f"offers {offered.algorithm} {offered.fingerprint}, which {known_hosts} does not "
        f"hold; someone may be intercepting the connection, so tether refuses to connect; "
        f"if the host was reinstalled, remove the old key with "
        f"`ssh-keygen -R '{offered.pattern}'` and check the new fingerprint",
        offered,
    )


def jump_host_key_refused(target: SshTarget, exc: asyncssh.HostKeyNotVerifiable) -> ConnectError:
    return HostKeyUnknown(
        f"{target.typed}: the host key of a jump host (ProxyJump) is not trusted ({exc.reason}); "
        f"it is unknown or has changed: connect to that host once with ssh to check it",
        None,
    )


def ssh_failure(target: SshTarget, endpoint: Endpoint, exc: asyncssh.Error) -> ConnectError:
    """Any other SSH-level failure (key exchange, protocol, disconnect)."""
    return ConnectError(
        f"{target.typed}: the SSH connection to {endpoint.describe()} failed: {exc.reason}",
        retryable=not isinstance(exc, asyncssh.KeyExchangeFailed),
    )


def _keyscan_port(offered: OfferedKey) -> str:
    return "" if offered.port in (None, 22) else f" -p {offered.port}"
