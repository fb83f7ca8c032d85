"""Where a host's keeper listens, and how long it stays.

The keepers' sockets live in the same private run dir as the local runner's
(`protocol.socket_path`: derived from the home, so cron and a login shell find
the same keeper), named after a hash of the host as typed. The name is at most
four bytes longer than ``runner.sock``, inside the margin that rule keeps under
the kernel's limit, so wherever the runner's socket fits, a keeper's does too.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

from protocol.socket_path import RunDirChoice, choose_run_dir, claim_run_dir
from tui.errors import TetherError

#: Seconds a keeper stays with no clients, unless ``TETHER_PERSIST`` says otherwise.
DEFAULT_PERSIST_S = 600.0
PERSIST_ENV = "TETHER_PERSIST"
_PREFIX = "k-"


class PersistSettingError(TetherError):
    """``TETHER_PERSIST`` is not a number of seconds."""


def persist_seconds() -> float:
    """How long a keeper outlives its last client; 0 means keep no connection."""
    raw = os.environ.get(PERSIST_ENV, "").strip()
    if not raw:
        return DEFAULT_PERSIST_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0 or seconds == float("inf"):
        raise PersistSettingError(
            f"{PERSIST_ENV} must be a number of seconds to keep a host's connection "
            f"after the last verb (0 keeps none), not {raw!r}"
        )
    return seconds


@dataclass(frozen=True)
class KeeperPlace:
    """The files of one host's keeper."""

    directory: Path
    key: str

    @property
    def socket(self) -> Path:
        return self.directory / f"{self.key}.sock"

    @property
    def lock(self) -> Path:
        """Held by the keeper while it lives: a second one started at once steps aside."""
        return self.directory / f"{self.key}.lock"

    @property
    def log(self) -> Path:
        return self.directory / f"{self.key}.log"


def host_key(host: str) -> str:
    return _PREFIX + hashlib.sha256(host.encode()).hexdigest()[:8]


def _place(choice: RunDirChoice, host: str) -> KeeperPlace:
    return KeeperPlace(choice.path, host_key(host))


def keeper_place(host: str) -> KeeperPlace:
    """Where `host`'s keeper would listen (nothing is created: a client looks)."""
    return _place(choose_run_dir(), host)


def claim_keeper_place(host: str) -> KeeperPlace:
    """Where `host`'s keeper listens, its directory created private where absent."""
    return _place(claim_run_dir(), host)


def kept_sockets(directory: Optional[Path] = None) -> Iterator[Path]:
    """Every keeper socket in the run dir, live or left behind."""
    directory = directory or choose_run_dir().path
    try:
        yield from sorted(directory.glob(f"{_PREFIX}*.sock"))
    except OSError:
        return
