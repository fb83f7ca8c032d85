"""asyncssh connection options from the person's own SSH setup.

``~/.ssh/config`` is handed to asyncssh (``config=``), which applies HostName,
User, Port, IdentityFile, ProxyJump, UserKnownHostsFile and the agent itself;
tether parses none of it. Two things are tether's: host keys are always checked
(a config that turns checking off is overruled), and AES-GCM goes first in the
cipher list when the CPU has AES instructions, where it is several times faster
than asyncssh's first choice, chacha20-poly1305. A ``Ciphers`` line in the SSH
config is the person's choice and is left alone.

The first rule holds for every hop, not only the last: asyncssh would open a
ProxyJump hop with options of its own, read afresh from the config, so a jump
host under ``UserKnownHostsFile none`` would go unchecked. Here the hops are
taken out of the options (`ResolvedOptions.jump_hosts`) and `tui.ssh.connect`
opens each one as a target of its own, resolved by these same rules.
"""

from __future__ import annotations

import asyncio
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence, Tuple

import asyncssh

from tui.errors import ConnectError
from tui.ssh.errors import Endpoint
from tui.ssh.hostkeys import known_hosts_files
from tui.ssh.target import SshTarget, parse_target

_CPUINFO = Path("/proc/cpuinfo")


@functools.lru_cache(maxsize=1)
def cpu_has_aes() -> bool:
    """Whether /proc/cpuinfo lists the ``aes`` flag (x86 ``flags``, Arm ``Features``)."""
    try:
        text = _CPUINFO.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return "aes" in value.split()
    return False


def aes_gcm_first(algs: Sequence[bytes]) -> List[str]:
    """The same ciphers, AES-GCM ones first, the rest in their order."""
    names = [a.decode("ascii") for a in algs]
    gcm = [a for a in names if "-gcm" in a]
    return gcm + [a for a in names if a not in gcm]


def ssh_config_paths() -> List[str]:
    """The person's ``~/.ssh/config`` when there is one (what ``ssh`` reads first)."""
    path = Path.home() / ".ssh" / "config"
    return [str(path)] if path.is_file() else []


@dataclass(frozen=True)
class ResolvedOptions:
    options: asyncssh.SSHClientConnectionOptions
    endpoint: Endpoint
    known_hosts: List[str]
    #: The ProxyJump hops, in order; `options` opens none of them itself.
    jump_hosts: Tuple[SshTarget, ...] = ()


async def resolve_options(target: SshTarget) -> ResolvedOptions:
    """Options for `target` as the SSH config describes it, with tether's two rules.

    Reading the config and the keys touches files, so it runs in a thread. Raises
    ValueError or OSError for an SSH config or key asyncssh cannot use.
    """
    return await asyncio.to_thread(_resolve, target, asyncio.get_running_loop())


def _resolve(target: SshTarget, loop: asyncio.AbstractEventLoop) -> ResolvedOptions:
    base = asyncssh.SSHClientConnectionOptions(
        loop=loop,
        config=ssh_config_paths(),
        host=target.host,
        port=target.port if target.port is not None else (),
        username=target.user if target.user is not None else (),
    )
    known_hosts = known_hosts_files(base.known_hosts)
    present = [f for f in known_hosts if Path(f).is_file()]
    # An empty list would be read as "use the default"; b"" is "no keys trusted".
    overrides: dict[str, object] = {"known_hosts": present or b""}
    jump_hosts = proxy_jumps(base.tunnel)
    if jump_hosts:
        overrides["tunnel"] = None
    if base.config.get("Ciphers") is None and cpu_has_aes():
        overrides["encryption_algs"] = aes_gcm_first(base.encryption_algs)
    options = asyncssh.SSHClientConnectionOptions(base, loop=loop, **overrides)
    endpoint = Endpoint(host=str(options.host), port=int(options.port), user=str(options.username))
    return ResolvedOptions(
        options=options, endpoint=endpoint, known_hosts=known_hosts, jump_hosts=jump_hosts
    )


def proxy_jumps(tunnel: object) -> Tuple[SshTarget, ...]:
    """The hops of a ProxyJump line (``[user@]host[:port]``, comma-separated), as targets
    tether connects to itself; raises ValueError for a hop that is not a host."""
    if not isinstance(tunnel, str) or tunnel.strip().lower() in ("", "none"):
        return ()
    hops: List[SshTarget] = []
    for hop in tunnel.split(","):
        try:
            hops.append(parse_target(hop))
        except ConnectError as exc:
            raise ValueError(f"ProxyJump {tunnel!r}: {exc}") from None
    return tuple(hops)
