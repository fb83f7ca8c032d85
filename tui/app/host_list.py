"""The hosts the app remembers, and the Host aliases `~/.ssh/config` offers.

The remembered set lives in ``~/.config/tether/hosts.json`` (next to
``config.toml``, which holds per-host settings): a JSON list of what the person
typed after ``-H`` or in the add-host dialog. The app opens these hosts when it
starts with no ``-H``. A damaged file is reported, never overwritten unasked.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shlex
import tempfile
from pathlib import Path
from typing import Iterable, List, Optional

from tui.config import config_path
from tui.errors import TetherError

#: Characters that make a `Host` pattern a pattern, not an alias one could connect to.
_PATTERN_CHARS = set("*?!")
#: Most nested `Include` levels followed (ssh itself allows 16).
_MAX_INCLUDE_DEPTH = 16


class HostListError(TetherError):
    """The remembered-hosts file exists but cannot be read as a list of hosts."""


def hosts_path() -> Path:
    return config_path().parent / "hosts.json"


def load_hosts(path: Optional[Path] = None) -> List[str]:
    """The remembered hosts, in the order they were added; none if no file yet."""
    path = path or hosts_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError) as exc:
        raise HostListError(f"cannot read {path}: {exc}") from exc
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise HostListError(f"{path} is not valid JSON ({exc}); fix or delete it") from exc
    if not isinstance(data, list) or not all(isinstance(h, str) for h in data):
        raise HostListError(f'{path} must hold a JSON list of host names, e.g. ["gpu1"]')
    return _unique(h.strip() for h in data)


def save_hosts(hosts: Iterable[str], path: Optional[Path] = None) -> None:
    """Write the list atomically (a crash leaves the old list or the new one)."""
    path = path or hosts_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = json.dumps(_unique(hosts), indent=2) + "\n"
    fd, temp = tempfile.mkstemp(prefix=".hosts.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(payload)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise


def remember_host(host: str, path: Optional[Path] = None) -> List[str]:
    """Add `host` to the remembered list (no duplicates); returns the new list."""
    hosts = load_hosts(path)
    if host not in hosts:
        hosts.append(host)
        save_hosts(hosts, path)
    return hosts


def forget_host(host: str, path: Optional[Path] = None) -> List[str]:
    hosts = [h for h in load_hosts(path) if h != host]
    save_hosts(hosts, path)
    return hosts


def ssh_config_aliases(path: Optional[Path] = None) -> List[str]:
    """The concrete `Host` names of the person's SSH config (patterns left out),
    following `Include` as ssh does (relative paths are under ``~/.ssh``)."""
    path = path or Path.home() / ".ssh" / "config"
    found: List[str] = []
    _collect_aliases(path, found, 0)
    return _unique(found)


def _collect_aliases(path: Path, found: List[str], depth: int) -> None:
    if depth > _MAX_INCLUDE_DEPTH:
        return
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.replace("=", " ", 1).partition(" ")
        try:
            words = shlex.split(rest, comments=True)
        except ValueError:
            continue
        keyword = keyword.lower()
        if keyword == "host":
            found.extend(w for w in words if not (_PATTERN_CHARS & set(w)))
        elif keyword == "include":
            for pattern in words:
                expanded = os.path.expanduser(pattern)
                if not os.path.isabs(expanded):
                    expanded = str(Path.home() / ".ssh" / expanded)
                for included in sorted(glob.glob(expanded)):
                    _collect_aliases(Path(included), found, depth + 1)


def _unique(hosts: Iterable[str]) -> List[str]:
    seen: List[str] = []
    for host in hosts:
        if host and host not in seen:
            seen.append(host)
    return seen
