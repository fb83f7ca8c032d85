"""Host keys: always checked against known_hosts, and explained when refused.

asyncssh refuses a key that ``known_hosts`` does not vouch for, but says only
"not trusted". A person needs to know more: is this the first contact (check the
fingerprint, then accept it) or did a known host's key change (possibly an
attack: refuse loudly)? `HostKeyWitness` records the key the server offered, and
`known_hosts_vouches_for` tells the two cases apart.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, List, Optional, Sequence, Union

import asyncssh

DEFAULT_PORT = 22


def default_known_hosts() -> Path:
    return Path.home() / ".ssh" / "known_hosts"


def known_hosts_files(configured: Any) -> List[str]:
    """The files host keys are checked against, as asyncssh resolved them.

    ``UserKnownHostsFile none`` in the SSH config would turn checking off in
    asyncssh; tether never allows that and falls back to ``~/.ssh/known_hosts``.
    """
    if isinstance(configured, (list, tuple)) and configured:
        return [os.path.expanduser(str(p)) for p in configured]
    if isinstance(configured, str) and configured:
        return [os.path.expanduser(configured)]
    return [str(default_known_hosts())]


@dataclass(frozen=True)
class OfferedKey:
    """The key a server presented that known_hosts did not vouch for."""

    host: str
    addr: str
    port: Optional[int]
    key: asyncssh.SSHKey

    @property
    def fingerprint(self) -> str:
        return str(self.key.get_fingerprint("sha256"))

    @property
    def algorithm(self) -> str:
        return str(self.key.get_algorithm())

    @property
    def pattern(self) -> str:
        """How OpenSSH names this host in known_hosts."""
        if self.port is None or self.port == DEFAULT_PORT:
            return self.host
        return f"[{self.host}]:{self.port}"

    def known_hosts_line(self) -> str:
        """The line that, appended to known_hosts, accepts this key."""
        public = self.key.export_public_key("openssh").decode().split()
        return f"{self.pattern} {public[0]} {public[1]}\n"


class HostKeyWitness(asyncssh.SSHClient):
    """An SSH client that notes which key it was asked to trust, and trusts none.

    asyncssh consults `validate_host_public_key` only for a key known_hosts did
    not vouch for; answering False keeps the refusal, and the note lets the
    error say which key it was.
    """

    def __init__(self) -> None:
        self.offered: Optional[OfferedKey] = None

    def validate_host_public_key(
        self, host: str, addr: str, port: Optional[int], key: asyncssh.SSHKey
    ) -> bool:
        self.offered = OfferedKey(host, addr, port, key)
        return False


def known_hosts_vouches_for(
    files: Sequence[Union[str, Path]], host: str, addr: str, port: Optional[int]
) -> bool:
    """Whether any known_hosts file holds a key for this host (blocking: small files)."""
    for name in files:
        try:
            text = Path(name).read_bytes()
        except OSError:
            continue
        trusted, cas, *_ = asyncssh.match_known_hosts(text, host, addr, port)
        if trusted or cas:
            return True
    return False


def append_known_host(offered: OfferedKey, path: Optional[Path] = None) -> Path:
    """Accept `offered` the way ``ssh`` does when a person answers yes (blocking)."""
    path = path or default_known_hosts()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as out:
        out.write(offered.known_hosts_line())
    return path
