"""Wheels of the runner's dependencies for a host that cannot download them itself.

An offline GPU node or one behind blocked egress still gets its runner: the
client runs ``pip download --only-binary=:all:`` with the host's Python version,
ABI and platform tags (`tui.install.tags`), honouring the *client's* pip
configuration, and pushes the wheels over SSH. Wheels are kept per host kind
under ``$XDG_CACHE_HOME/tether/wheels/<tag>/`` (``~/.cache`` by default), so a
fleet of identical hosts costs one download. A cache entry is complete only when
its manifest, written last, names every wheel with its size and sha256 and the
requirements it was made for; anything else is fetched again. The hashes are
checked before a wheel leaves this machine and again by the host before it is
installed, and every name in a manifest must be a plain wheel file name inside
its entry: the cache is never a way for a host to make the client read or send
another file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from protocol.units import duration
from tui.cache_file import cache_home
from tui.install.errors import InstallError
from tui.install.tags import HostPlatform

#: What the runner imports beyond the standard library (as pyproject.toml states
#: them, minus the client's own textual and asyncssh); pip adds pydantic-core,
#: typing-extensions, annotated-types and typing-inspection.
RUNNER_REQUIREMENTS = ("msgpack>=1.0", "pydantic>=2.5,<3", "psutil>=5.9", "nvidia-ml-py>=12.535")
MANIFEST = "wheelhouse.json"
#: A wheel's file name (PEP 427: name-version[-build]-python-abi-platform.whl): one
#: plain name, never a path, so a manifest can only point inside its own entry.
WHEEL_NAME = re.compile(
    r"[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*-[A-Za-z0-9_.!+]+(-[0-9][A-Za-z0-9_.]*)?"
    r"-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl"
)
SHA256 = re.compile(r"[0-9a-f]{64}")
DOWNLOAD_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class CachedWheel:
    """A wheel in the cache and what its manifest recorded when it was downloaded."""

    path: Path
    size: int
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


@dataclass(frozen=True)
class Wheelhouse:
    directory: Path
    wheels: Tuple[CachedWheel, ...]

    @property
    def size(self) -> int:
        return sum(w.size for w in self.wheels)

    def hashes(self) -> Dict[str, str]:
        """Wheel file name -> sha256, for the host to check what it received."""
        return {w.name: w.sha256 for w in self.wheels}


def cache_root() -> Path:
    return cache_home() / "wheels"


def cached_wheelhouse(platform: HostPlatform, root: Optional[Path] = None) -> Optional[Wheelhouse]:
    """The complete cache entry for `platform`, every wheel checked against the sha256
    its manifest recorded, or None when there is no complete entry (blocking).

    Raises `InstallError` for an entry that is whole but not what was downloaded: a
    wheel whose bytes changed, or a manifest naming anything but a plain wheel file
    inside the entry. Those are never read further, let alone uploaded.
    """
    directory = entry_dir(platform, root or cache_root())
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
    for name, recorded in sorted(files.items()):
        if not isinstance(recorded, dict):
            return None  # a manifest from before hashes were recorded: fetch again
        wheel = _recorded_wheel(directory, name, recorded)
        if wheel is None:
            return None
        _check_bytes(wheel, _read_wheel(wheel))
        wheels.append(wheel)
    return Wheelhouse(directory, tuple(wheels))


def entry_dir(platform: HostPlatform, root: Path) -> Path:
    """The cache entry for `platform`, checked to be a directory right inside `root`."""
    key = platform.cache_key()
    directory = root / key
    if directory.resolve().parent != root.resolve():
        raise InstallError(f"the wheel cache entry {directory} is not inside {root}")
    return directory


def _recorded_wheel(
    directory: Path, name: str, recorded: Dict[str, object]
) -> Optional[CachedWheel]:
    """The wheel the manifest names, if its name and record are well formed and the file
    is a plain file of the recorded size inside `directory`; None when it is missing or
    short (an interrupted download)."""
    size, digest = recorded.get("size"), recorded.get("sha256")
    if not WHEEL_NAME.fullmatch(name) or ".." in name:
        raise _damaged(directory, f"names {name!r}, which is not a wheel file name")
    if type(size) is not int or not isinstance(digest, str) or not SHA256.fullmatch(digest):
        raise _damaged(directory, f"records no size and sha256 for {name}")
    path = directory / name
    try:
        info = path.lstat()
    except OSError:
        return None
    if not stat.S_ISREG(info.st_mode) or path.resolve().parent != directory.resolve():
        raise _damaged(directory, f"has {name} as something other than a plain file")
    if info.st_size != size:
        return None
    return CachedWheel(path, size, digest)


def _read_wheel(wheel: CachedWheel) -> bytes:
    """The wheel's bytes, opened without following a link (its size is known and small)."""
    fd = os.open(wheel.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as source:
        return source.read(wheel.size + 1)


def _check_bytes(wheel: CachedWheel, data: bytes) -> None:
    if hashlib.sha256(data).hexdigest() != wheel.sha256:
        raise _damaged(
            wheel.path.parent,
            f"holds {wheel.name}, whose sha256 differs from the one recorded when it was "
            f"downloaded",
        )


def _damaged(directory: Path, what: str) -> InstallError:
    return InstallError(
        f"the wheel cache entry {directory} {what}, so tether sends nothing from it: "
        f"delete that directory and run tether again to download the wheels afresh"
    )


def copy_verified(wheelhouse: Wheelhouse, into: Path) -> List[Path]:
    """Copies of the wheels in `into` (a private directory), each checked against its
    recorded sha256 as it is read: what is uploaded is exactly what was checked, even if
    the cache changes meanwhile (blocking)."""
    copies = []
    for wheel in wheelhouse.wheels:
        data = _read_wheel(wheel)
        _check_bytes(wheel, data)
        copy = into / wheel.name
        fd = os.open(copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        copies.append(copy)
    return copies


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
    await asyncio.to_thread(root.mkdir, parents=True, exist_ok=True, mode=0o700)
    await asyncio.to_thread(staging.mkdir, mode=0o700)
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
    files = {p.name: _record(p) for p in sorted(staging.glob("*.whl"))}
    if not files:
        raise InstallError(f"pip downloaded no wheels for {platform.describe()}")
    manifest = {"requirements": list(RUNNER_REQUIREMENTS), "files": files}
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
    target = entry_dir(platform, root)
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


def _record(path: Path) -> Dict[str, object]:
    data = path.read_bytes()
    return {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
