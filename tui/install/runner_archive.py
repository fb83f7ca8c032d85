"""The runner's own code, packed from this client's installed files.

Only ``runner/`` and ``protocol/`` go to a host (never ``tui/``, Textual,
asyncssh or torch): the ``.py`` files of the very installation the client runs,
so client and runner are always the same code. The archive is a plain zip laid
out like a wheel's contents, so the host unpacks it next to the dependency
wheels with the same few lines; it is byte-for-byte reproducible (sorted names,
fixed timestamps), so a cache can tell whether anything changed.

Finding the packages goes through `importlib.util.find_spec`, which locates
them without importing them: the client never imports the runner.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from protocol.version import __version__
from tui.install.errors import InstallError

PACKAGES = ("runner", "protocol")
#: Where the version string sits; replaced when a different version is asked for.
VERSION_FILE = "protocol/version.py"
_VERSION_LINE = re.compile(r'^__version__ = "[^"]*"$', re.MULTILINE)
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class RunnerArchive:
    version: str
    data: bytes

    @property
    def sha256(self) -> str:
        """What the host checks the uploaded archive against before unpacking it."""
        return hashlib.sha256(self.data).hexdigest()

    @property
    def file_name(self) -> str:
        return f"tether_runner-{self.version}.zip"


def package_dir(name: str) -> Path:
    """Where package `name` is installed for this client, found without importing it."""
    spec = importlib.util.find_spec(name)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    if not locations:
        raise InstallError(
            f"this tether installation has no {name}/ package to send to the host; "
            f"reinstall tether (pip install --force-reinstall tether)"
        )
    return Path(locations[0])


def source_files() -> List[Tuple[str, Path]]:
    """Every ``.py`` file of the runner's packages, as (name in archive, local path)."""
    files: List[Tuple[str, Path]] = []
    for name in PACKAGES:
        root = package_dir(name)
        for path in sorted(root.rglob("*.py")):
            if "__pycache__" in path.parts:
                continue
            files.append((f"{name}/{path.relative_to(root).as_posix()}", path))
    return files


def build_archive(version: Optional[str] = None) -> RunnerArchive:
    """The runner's code as a zip; `version` replaces the version string it states
    (to build an "older" or "newer" runner in tests and benchmarks)."""
    chosen = version or __version__
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in source_files():
            data = path.read_bytes()
            if name == VERSION_FILE and chosen != __version__:
                data = _restamp(data, chosen)
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, data)
    return RunnerArchive(chosen, buffer.getvalue())


def _restamp(source: bytes, version: str) -> bytes:
    if not re.fullmatch(r"[0-9A-Za-z.+_-]+", version):
        raise InstallError(f"{version!r} is not a version string (digits, letters and .+_-)")
    text, count = _VERSION_LINE.subn(f'__version__ = "{version}"', source.decode())
    if count != 1:
        raise InstallError(f"{VERSION_FILE} does not state __version__ on one line")
    return text.encode()
