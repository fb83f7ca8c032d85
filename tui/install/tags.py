"""Wheel tags for a host: which binary wheels its python3 can load.

A host is described by its machine (``x86_64``, ``aarch64``), its C library and
version (glibc 2.36 or musl 1.2) and its Python (3.11, free-threaded or not).
From that follow the ``--platform`` / ``--abi`` / ``--python-version`` arguments
that make ``pip download`` on the client pick wheels for the host instead of for
the client, and the name of the client's wheel cache for that host kind.
Pure functions: tested without any host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import List, Tuple

#: The oldest glibc minor each architecture has manylinux wheels for.
_OLDEST_GLIBC_MINOR = {"x86_64": 5, "i686": 5, "aarch64": 17}
#: The legacy manylinux names (PEP 513/571/599) and the glibc they stand for.
_LEGACY_MANYLINUX = {"manylinux2014": 17, "manylinux2010": 12, "manylinux1": 5}
_LEGACY_ARCHES = {
    "manylinux2014": ("x86_64", "i686", "aarch64", "ppc64le", "s390x", "armv7l"),
    "manylinux2010": ("x86_64", "i686"),
    "manylinux1": ("x86_64", "i686"),
}
#: What `platform.machine()` says on some hosts, and the name wheels use.
_MACHINE_ALIASES = {"amd64": "x86_64", "arm64": "aarch64"}
#: What `platform.machine()` can legally say (x86_64, aarch64, ppc64le, AMD64): it
#: becomes part of a platform tag, a pip argument and a directory name on this machine.
MACHINE = re.compile(r"[A-Za-z0-9_]{1,32}")
LIBCS = ("glibc", "musl", "")
#: The only shape `cache_key` may take: it names a directory under the wheel cache.
CACHE_KEY = re.compile(
    r"cp3[0-9]{1,2}t?-(manylinux|musllinux)_[0-9]{1,4}_[0-9]{1,4}_[a-z0-9_]{1,32}"
)


class UnsupportedPlatform(ValueError):
    """No wheels can exist for this host (unknown C library, say)."""


@dataclass(frozen=True)
class HostPlatform:
    machine: str
    libc: str  # "glibc" or "musl"
    libc_version: Tuple[int, int]
    python: Tuple[int, int]
    free_threaded: bool = False

    def __post_init__(self) -> None:
        """A host kind is spelled only with what a real host can say: the fields end up in
        pip's arguments and in a directory name under the client's cache."""
        if not MACHINE.fullmatch(self.machine):
            raise UnsupportedPlatform(
                f"{self.machine!r} is not a machine name (letters, digits and _, like x86_64)"
            )
        if self.libc not in LIBCS:
            raise UnsupportedPlatform(f"{self.libc!r} is not a C library tether knows")
        for number in (*self.libc_version, *self.python):
            if type(number) is not int or not 0 <= number < 1000:
                raise UnsupportedPlatform(f"{number!r} is not a version number (0 to 999)")

    @property
    def arch(self) -> str:
        lowered = self.machine.lower()
        return _MACHINE_ALIASES.get(lowered, lowered)

    @property
    def family(self) -> str:
        """``manylinux`` or ``musllinux``: the kind of wheel this host loads."""
        if self.libc == "glibc":
            return "manylinux"
        if self.libc == "musl":
            return "musllinux"
        raise UnsupportedPlatform(
            f"its C library is {self.libc or 'unknown'}, and Python wheels exist only for "
            f"glibc (manylinux) and musl (musllinux)"
        )

    @property
    def abi(self) -> str:
        return f"cp{self.python[0]}{self.python[1]}" + ("t" if self.free_threaded else "")

    def platform_tags(self) -> List[str]:
        """Every platform tag the host accepts, most specific first (as pip orders them)."""
        major, minor = self.libc_version
        arch = self.arch
        if self.family == "musllinux":
            return [f"musllinux_{major}_{m}_{arch}" for m in range(minor, 0, -1)]
        if major != 2:
            raise UnsupportedPlatform(f"glibc {major}.{minor} is not a glibc 2 release")
        oldest = _OLDEST_GLIBC_MINOR.get(arch, 17)
        tags: List[str] = []
        for m in range(minor, oldest - 1, -1):
            tags.append(f"manylinux_2_{m}_{arch}")
            for legacy, legacy_minor in _LEGACY_MANYLINUX.items():
                if legacy_minor == m and arch in _LEGACY_ARCHES[legacy]:
                    tags.append(f"{legacy}_{arch}")
        return tags

    def cache_key(self) -> str:
        """A directory name for wheels fit for this host, e.g. ``cp311-manylinux_2_36_x86_64``."""
        key = f"{self.abi}-{self.platform_tags()[0]}"
        if not CACHE_KEY.fullmatch(key):  # __post_init__ makes this unreachable; kept as a wall
            raise UnsupportedPlatform(f"{key!r} cannot name a wheel cache directory")
        return key

    def describe(self) -> str:
        """How the progress line names the host kind: ``python 3.11, manylinux x86_64``."""
        try:
            family = self.family
        except UnsupportedPlatform:
            family = self.libc or "unknown libc"
        threading = " free-threaded" if self.free_threaded else ""
        return f"python {self.python[0]}.{self.python[1]}{threading}, {family} {self.arch}"

    def pip_download_args(self) -> List[str]:
        """The arguments that make ``pip download`` choose wheels for this host."""
        args = ["--only-binary=:all:", "--implementation", "cp"]
        args += ["--python-version", f"{self.python[0]}.{self.python[1]}", "--abi", self.abi]
        for tag in self.platform_tags():
            args += ["--platform", tag]
        return args
