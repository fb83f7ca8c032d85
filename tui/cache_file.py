"""Where tether keeps what it can always rebuild (SSH routes, file hashes, runner
wheels, the fleet's last answers): ``$XDG_CACHE_HOME/tether``, else
``~/.cache/tether``; and how a small JSON file there is replaced.

A cache file is written whole or not at all (a temporary file renamed into
place), and a write that fails is not an error: losing a cache only costs the
next command the work the cache saved.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Optional


def cache_home() -> Path:
    """``$XDG_CACHE_HOME/tether`` (when absolute), else ``~/.cache/tether``."""
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "tether"


def replace_json(path: Path, data: object, prefix: str) -> None:
    """Write `data` to `path` as JSON, atomically; best effort (see above)."""
    tmp: Optional[str] = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(data, out, indent=1, sort_keys=True)
        os.replace(tmp, path)
    except OSError:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
