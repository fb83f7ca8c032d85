"""Where a user's runner listens: a contract between the runner and its clients.

Derived from the home directory alone, never from ``XDG_RUNTIME_DIR``: cron, a
login shell and a non-interactive ``ssh host cmd`` see different environments, and
a path that follows the environment makes a client miss a running daemon and
start a second one. When the home directory is too deep for a unix socket address
(108 bytes on Linux), a short path in /tmp named after the uid and a hash of the
home is used instead, the same one every time.
"""

from __future__ import annotations

import hashlib
import os
import pwd
from pathlib import Path

from protocol.host_layout import preferred_run_dir

#: sun_path holds 108 bytes on Linux including the NUL; keep a margin.
MAX_SOCKET_PATH_BYTES = 100
SOCKET_NAME = "runner.sock"


def home_dir() -> Path:
    home = os.environ.get("HOME")
    if home:
        return Path(home)
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def run_dir(home: Path | None = None) -> Path:
    """The 0700 directory holding the runner's socket, lock and log of starts."""
    home = home or home_dir()
    preferred = preferred_run_dir(home)
    if len(os.fsencode(str(preferred / SOCKET_NAME))) <= MAX_SOCKET_PATH_BYTES:
        return preferred
    digest = hashlib.sha256(os.fsencode(str(home))).hexdigest()[:10]
    return Path("/tmp") / f"tether-{os.getuid()}-{digest}"


def socket_path(home: Path | None = None) -> Path:
    return run_dir(home) / SOCKET_NAME
