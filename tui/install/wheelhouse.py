"""Wheels of the runner's dependencies for a host that cannot download them itself.

An offline GPU node or one behind blocked egress still gets its runner: the
client runs ``pip download --only-binary=:all:`` with the host's Python version,
ABI and platform tags (`tui.install.tags`), honouring the *client's* pip
configuration, and pushes the wheels over SSH. Wheels are kept per host kind
under ``$XDG_CACHE_HOME/tether/wheels/<tag>/`` (``~/.cache`` by default), so a
fleet of identical hosts costs one download. A cache entry is complete only when
its manifest, written last, names every wheel with its size and the requirements
it was made for; anything else is fetched again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import secrets
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from protocol.units import duration
from tui.install.errors import InstallError
from tui.install.tags import HostPlatform

#: What the runner imports beyond the standard library (as pyproject.toml states
#: them, minus the client's own textual and asyncssh); pip adds pydantic-core,
#: typing-extensions, annotated-types and typing-inspection.
RUNNER_REQUIREMENTS = ("msgpack>=1.0", "pydantic>=2.5,<3", "psutil>=5.9", "nvidia-ml-py>=12.535")
MANIFEST = "wheelhouse.json"
DOWNLOAD_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Wheelhouse:
    directory: Path
    wheels: Tuple[Path, ...]

    @property
    def size(self) -> int:
        return sum(p.stat().st_size for p in self.wheels)


def cache_root() -> Path:
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "tether" / "wheels"


def cached_wheelhouse(platform: HostPlatform, root: Optional[Path] = None) -> Optional[Wheelhouse]:
    """The complete cache entry for `platform`, or None (blocking: reads a few files)."""
    directory = (root or cache_root()) / platform.cache_key()
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict) or manifest.get("requirements") != list(RUNNER_REQUIREMENTS):
        return None
    files = manifest.get("files")
    if not isinstance(files, dict) or not files:
        return None
    wheels = []
    for name, size in sorted(files.items()):
        path = directory / name
        try:
            if path.stat().st_size != size:
                return None
        except OSError:
            return None
        wheels.append(path)
    return Wheelhouse(directory, tuple(wheels))


async def wheelhouse_for(
    platform: HostPlatform, *, refresh: bool = False, root: Optional[Path] = None
) -> Wheelhouse:
    """Wheels fit for `platform`: from the cache, else downloaded into it now."""
    root = root or cache_root()
    if not refresh:
        cached = await asyncio.to_thread(cached_wheelhouse, platform, root)
        if cached is not None:
            return cached
    staging = root / f".tmp-{platform.cache_key()}-{os.getpid()}-{secrets.token_hex(4)}"
    await asyncio.to_thread(staging.mkdir, parents=True, mode=0o700)
    try:
        await _pip_download(platform, staging)
        return await asyncio.to_thread(_publish, platform, staging, root)
    finally:
        await asyncio.to_thread(shutil.rmtree, staging, True)


async def _pip_download(platform: HostPlatform, into: Path) -> None:
    argv = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--dest",
        str(into),
        *platform.pip_download_args(),
        *RUNNER_REQUIREMENTS,
    ]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), DOWNLOAD_TIMEOUT_S)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise InstallError(
            f"downloading the runner's dependencies ({platform.describe()}) took over "
            f"{duration(DOWNLOAD_TIMEOUT_S)}"
        ) from None
    except asyncio.CancelledError:
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        said = (err or out).decode(errors="replace").strip().splitlines()
        detail = next(
            (s for s in reversed(said) if s.startswith("ERROR")), said[-1] if said else ""
        )
        if "No module named pip" in detail:
            detail = f"{sys.executable} has no pip"
        raise InstallError(
            f"could not download the runner's dependencies for {platform.describe()} on this "
            f"machine ({detail.strip() or f'pip exited {proc.returncode}'}); check this "
            f"machine's pip configuration, or let the host reach a package index"
        )


def _publish(platform: HostPlatform, staging: Path, root: Path) -> Wheelhouse:
    files: Dict[str, int] = {p.name: p.stat().st_size for p in staging.glob("*.whl")}
    if not files:
        raise InstallError(f"pip downloaded no wheels for {platform.describe()}")
    manifest = {"requirements": list(RUNNER_REQUIREMENTS), "files": files}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    target = root / platform.cache_key()
    if target.exists():
        old = root / f".old-{target.name}-{secrets.token_hex(4)}"
        with contextlib.suppress(OSError):
            target.rename(old)
            shutil.rmtree(old, ignore_errors=True)
    try:
        staging.rename(target)
    except OSError:
        pass  # another tether filled the cache meanwhile; use theirs if it is whole
    found = cached_wheelhouse(platform, root)
    if found is None:
        raise InstallError(f"the wheel cache {target} could not be written")
    return found


def wheel_names(wheelhouse: Wheelhouse) -> List[str]:
    return [p.name for p in wheelhouse.wheels]
