"""Crash-safe small files: after a crash a reader finds the old file or the new
one, never an empty or half-written one (write, fsync, rename, fsync the dir).
The files are 0600 whatever the umask: a job's spec holds its environment."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Optional

from protocol.socket_path import open_private


def write_json_atomic(path: Path, data: Dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    payload = json.dumps(data, sort_keys=True).encode()
    fd = open_private(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


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
