"""Crash-safe small files: after a crash a reader finds the old file or the new
one, never an empty or half-written one (write, fsync, rename, fsync the dir).
A write that fails (a full disk) leaves the old file as it was and no ``.tmp``.
The files are 0600 whatever the umask: a job's spec holds its environment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

from protocol.socket_path import open_private
from runner.faults import crash_point


def write_json_atomic(path: Path, data: Dict[str, Any], crash_name: str = "") -> None:
    """`crash_name`: the crash point (`runner.faults`) between the write and the
    rename, where a reader finds only the half-done ``.tmp``."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = json.dumps(data, sort_keys=True).encode()
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        _write_all(fd, payload)
        os.fsync(fd)
    except BaseException:
        tmp.unlink(missing_ok=True)  # a full disk: give back what the attempt took
        raise
    finally:
        os.close(fd)
    if crash_name:
        crash_point(crash_name)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_all(fd: int, data: bytes) -> None:
    """Write all of `data`: a disk that fills up mid-write takes part of it (a short
    write) before it refuses the rest with ENOSPC."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def read_json(path: Path) -> Optional[Dict[str, Any]]:
    """The object in a small JSON file, or None if the file is absent."""
    try:
        with open(path, "rb") as f:
            raw = f.read(1 << 20)
    except FileNotFoundError:
        return None
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return value
