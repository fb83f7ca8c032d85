"""tether's own settings: ``~/.config/tether/config.toml``.

Most of a host's setup is the person's SSH config; this file holds only what SSH
cannot say, per host, under the name typed after ``-H``::

    [hosts.gpu1]
    runner = "/opt/venv/bin/tether-runner"   # where the runner is on gpu1

    [hosts.cluster]
    executor = "slurm"   # jobs go to Slurm unless run with --here

    [app]
    notify = "desktop"   # when a job ends: "desktop" (the terminal's), "bell", "off"

    [fleet]
    hosts = ["gpu1", "gpu2"]   # hosts `tether hosts` and `-H @all` always include

    [mirror]
    max_size = "2G"   # what the local copy of remote hosts' jobs may hold; "0": none

The file is optional. A file that is there but wrong is an error naming the file,
the place and the fix, never silently ignored: a typo would otherwise make tether
look for the runner in the wrong place without saying so.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple

from protocol.units import parse_size
from tui.errors import TetherError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the client runs on 3.11+ in CI
    import tomli as tomllib

#: Settings a ``[hosts.NAME]`` table may hold, with what each one means.
HOST_SETTINGS = {
    "runner": "the path of tether-runner on that host",
    "executor": 'where jobs run by default: "local" or "slurm"',
}
#: What ``[app] notify`` may be: how the app tells of a job that ended.
NOTIFY_MODES = ("desktop", "bell", "off")


class ConfigError(TetherError):
    """tether's config file exists but cannot be used as it is."""


@dataclass(frozen=True)
class HostConfig:
    """What tether's config says about one host; every field is optional."""

    runner: Optional[str] = None
    #: Where ``tether run`` sends a job that says neither ``--slurm`` nor
    #: ``--here`` (None: as the host's runner is set up).
    executor: Optional[str] = None


@dataclass(frozen=True)
class AppConfig:
    """The app's own settings (``[app]``)."""

    notify: str = "desktop"


#: What the mirror of remote hosts may hold unless ``[mirror] max_size`` says.
DEFAULT_MIRROR_MAX_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class TetherConfig:
    path: Path
    hosts: Mapping[str, HostConfig] = field(default_factory=dict)
    app: AppConfig = field(default_factory=AppConfig)
    #: ``[fleet] hosts``: always part of `tether hosts` and ``-H @all``.
    fleet: Tuple[str, ...] = ()
    #: ``[mirror] max_size`` in bytes; 0 keeps no mirror (`tui.mirror`).
    mirror_max_bytes: int = DEFAULT_MIRROR_MAX_BYTES

    def host(self, typed: str, hostname: Optional[str] = None) -> HostConfig:
        """The settings for `typed` (what followed ``-H``), else for its bare `hostname`."""
        for key in (typed, hostname):
            if key and key in self.hosts:
                return self.hosts[key]
        return HostConfig()


def config_path() -> Path:
    """``$XDG_CONFIG_HOME/tether/config.toml``, else ``~/.config/tether/config.toml``."""
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".config"
    return base / "tether" / "config.toml"


def load_config(path: Optional[Path] = None) -> TetherConfig:
    """Read and check the config file; a missing file is an empty config."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return TetherConfig(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc
    return parse_config(text, path)


def parse_config(text: str, path: Path) -> TetherConfig:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path} is not valid TOML: {exc}") from exc
    unknown = sorted(set(data) - {"hosts", "app", "fleet", "mirror"})
    if unknown:
        raise ConfigError(
            f"{path}: unknown section [{unknown[0]}] "
            "(tether knows [hosts.NAME], [app], [fleet], [mirror])"
        )
    hosts = data.get("hosts", {})
    if not isinstance(hosts, dict):
        raise ConfigError(f"{path}: `hosts` must be a table of [hosts.NAME] sections")
    parsed = {name: _host(path, name, table) for name, table in hosts.items()}
    app = _app(path, data.get("app", {}))
    return TetherConfig(path, parsed, app, _fleet(path, data), _mirror(path, data))


def _mirror(path: Path, data: Dict[str, Any]) -> int:
    table = data.get("mirror", {})
    if not isinstance(table, dict) or set(table) - {"max_size"}:
        raise ConfigError(f'{path}: [mirror] holds one setting: max_size = "2G"')
    text = table.get("max_size")
    if text is None:
        return DEFAULT_MIRROR_MAX_BYTES
    count = parse_size(text) if isinstance(text, str) else None
    if count is None:
        raise ConfigError(
            f'{path}: [mirror] max_size is a size such as "500M" or "2G" ("0": keep no '
            f"mirror), not {text!r}"
        )
    return count


def _fleet(path: Path, data: Dict[str, Any]) -> Tuple[str, ...]:
    table = data.get("fleet", {})
    if not isinstance(table, dict) or set(table) - {"hosts"}:
        raise ConfigError(f'{path}: [fleet] holds one setting: hosts = ["gpu1", "gpu2"]')
    hosts = table.get("hosts", [])
    if not isinstance(hosts, list) or not all(isinstance(h, str) and h.strip() for h in hosts):
        raise ConfigError(f'{path}: [fleet] hosts must be a list of names, e.g. ["gpu1", "gpu2"]')
    return tuple(h.strip() for h in hosts)


def _app(path: Path, table: Any) -> AppConfig:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: `app` must be a table: [app]")
    unknown = sorted(set(table) - {"notify"})
    if unknown:
        raise ConfigError(f"{path}: unknown setting {unknown[0]!r} in [app]; known: notify")
    notify = table.get("notify", "desktop")
    if notify not in NOTIFY_MODES:
        modes = ", ".join(f'"{mode}"' for mode in NOTIFY_MODES)
        raise ConfigError(f"{path}: [app] notify must be one of {modes}, not {notify!r}")
    return AppConfig(notify=notify)


def _host(path: Path, name: str, table: Any) -> HostConfig:
    if not isinstance(table, dict):
        raise ConfigError(f'{path}: hosts.{name} must be a table, e.g. [hosts."{name}"]')
    settings: Dict[str, Any] = table
    for key in settings:
        if key not in HOST_SETTINGS:
            known = ", ".join(f"{k} ({v})" for k, v in HOST_SETTINGS.items())
            raise ConfigError(f"{path}: unknown setting {key!r} in [hosts.{name}]; known: {known}")
    runner = settings.get("runner")
    if runner is not None and (not isinstance(runner, str) or not runner.strip()):
        raise ConfigError(
            f'{path}: [hosts.{name}] runner must be a path, e.g. "~/venv/bin/tether-runner"'
        )
    if runner is not None and not (runner.startswith("/") or runner.startswith("~/")):
        raise ConfigError(
            f"{path}: [hosts.{name}] runner must be an absolute path or start with ~/, "
            f"got {runner!r}"
        )
    executor = settings.get("executor")
    if executor is not None and executor not in ("local", "slurm"):
        raise ConfigError(
            f'{path}: [hosts.{name}] executor must be "local" or "slurm", not {executor!r}'
        )
    return HostConfig(runner=runner, executor=executor)
