"""What the last bootstrap learnt about a host, kept so the next command can skip it.

Finding and starting the runner costs a process start on the host (a Python
``tether-runner status``), which is most of what ``tether ls`` would otherwise
spend there. After a successful contact tether remembers, per host as typed,
the runner's socket path and the transport that reached it; the next contact
opens that channel directly and falls back to the full bootstrap when it does
not answer (runner stopped, socket moved, server settings changed). A stale or
damaged entry therefore costs one failed channel open, never a wrong answer.
Nor a wrong listener: a remembered path is only a hint, and `tui.remote` checks
on the host that the socket and its directory are still the account's own and
private before opening it (after a reboot a /tmp path may be another account's).

An entry holds for the client version that wrote it: a client of another
version bootstraps again, which is when a runner of another version is
upgraded (`tui.install.contact`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

from protocol.version import __version__
from tui.cache_file import cache_home, replace_json

TRANSPORTS = ("streamlocal", "bridge")


@dataclass(frozen=True)
class Route:
    socket_path: str
    transport: str

    def entry(self) -> Dict[str, str]:
        return {"socket_path": self.socket_path, "transport": self.transport, "client": __version__}


def cache_path() -> Path:
    return cache_home() / "ssh-routes.json"


def _read_all(path: Path) -> Dict[str, Dict[str, str]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def load_route(host: str, path: Optional[Path] = None) -> Optional[Route]:
    """The remembered route to `host`, or None (a damaged cache counts as empty)."""
    entry = _read_all(path or cache_path()).get(host)
    if not isinstance(entry, dict) or entry.get("client") != __version__:
        return None
    socket_path, transport = entry.get("socket_path"), entry.get("transport")
    if not isinstance(socket_path, str) or transport not in TRANSPORTS:
        return None
    return Route(socket_path=socket_path, transport=str(transport))


def routed_hosts(path: Optional[Path] = None) -> List[str]:
    """Every host a route is remembered for: the hosts reached with ``-H`` before."""
    return sorted(_read_all(path or cache_path()))


def save_route(host: str, route: Route, path: Optional[Path] = None) -> None:
    """Remember `route` for `host`; written atomically, and best effort only."""
    path = path or cache_path()
    entries = _read_all(path)
    if entries.get(host) == route.entry():
        return
    entries[host] = route.entry()
    # A cache that cannot be written only costs the next contact a bootstrap.
    replace_json(path, entries, ".ssh-routes.")
