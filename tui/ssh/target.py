"""What a person typed after ``-H``, split into user, host and port.

Anything ``ssh`` accepts works: a Host alias from ``~/.ssh/config``, ``user@host``,
plus ``host:port`` (which ``ssh`` itself spells ``-p``), ``[v6addr]:port`` and
``ssh://user@host:port``. The host part is left as typed, so that asyncssh looks
it up in the SSH config exactly as ``ssh`` would (HostName, User, Port, ProxyJump
of a matching ``Host`` block all apply; a user or port typed here wins).
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Optional

from tui.errors import ConnectError


class BadHost(ConnectError):
    """What followed ``-H`` is not something ssh could connect to."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=False)


@dataclass(frozen=True)
class SshTarget:
    typed: str
    host: str
    user: Optional[str] = None
    port: Optional[int] = None

    def ssh_command(self) -> str:
        """The ``ssh`` command line reaching the same place, for messages."""
        words = ["ssh"]
        if self.port is not None:
            words += ["-p", str(self.port)]
        words.append(f"{self.user}@{self.host}" if self.user else self.host)
        return " ".join(shlex.quote(w) for w in words)


def parse_target(typed: str) -> SshTarget:
    """Split ``[ssh://][user@]host[:port]``; raises `BadHost` with the reason."""
    text = typed.strip()
    rest = text[len("ssh://") :] if text.startswith("ssh://") else text
    rest = rest.rstrip("/")
    if not rest:
        raise BadHost("no host given: use -H HOST with a Host alias, user@host or host:port")
    if any(c.isspace() for c in rest) or rest.startswith("-"):
        raise BadHost(f"{typed!r} is not a host name: use a Host alias, user@host or host:port")
    user: Optional[str] = None
    if "@" in rest:
        user, _, rest = rest.rpartition("@")
        if not user:
            raise BadHost(f"{typed!r} has an empty user name before @")
    host, port = _split_port(typed, rest)
    if not host:
        raise BadHost(f"{typed!r} has no host name")
    return SshTarget(typed=typed, host=host, user=user, port=port)


def _split_port(typed: str, rest: str) -> tuple[str, Optional[int]]:
    if rest.startswith("["):
        host, bracket, after = rest[1:].partition("]")
        if not bracket:
            raise BadHost(f"{typed!r} opens [ for an IPv6 address but never closes it")
        if not after:
            return host, None
        if not after.startswith(":"):
            raise BadHost(f"{typed!r} has {after!r} after the IPv6 address; expected :PORT")
        return host, _port(typed, after[1:])
    if rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
        return host, _port(typed, port_text)
    return rest, None  # no port, or a bare IPv6 address


def _port(typed: str, text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise BadHost(f"{typed!r} has port {text!r}; a port is a number from 1 to 65535")
    return int(text)
