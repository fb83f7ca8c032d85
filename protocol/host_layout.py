"""Where tether lives in a host user's home: the one place that spells it.

::

    ~/.local/share/tether/runner/       the install root (`INSTALL_ROOT`)
        0.4.1/                          one directory per version, complete or absent
            lib/                        runner/ and protocol/ and their dependencies
            bin/tether-runner           sh launcher: PYTHONPATH=lib exec python3 -m runner
            installed.json              the completion marker, written before the rename
        current -> 0.4.1                the version the host's cron entry starts
        .install.lock                   serialises installs from several clients
        .upload-XXXX/                   what a client is uploading (removed when stale)
        .tmp-0.4.1-PID/                 an install in progress (renamed into place)

    $XDG_STATE_HOME/tether/             the state dir (`state_dir`); by default
    ~/.local/state/tether/                  jobs.db, jobs/ID/, runner.log
        run/                            the socket and lock (`preferred_run_dir`)

Every part of tether that needs these paths reads them here: the runner
(`runner.paths`), the socket contract (`protocol.socket_path`), the client's
installer and doctor, and the scripts the client sends to the host as text
(the bootstrap's ``sh`` line, the host-side Python of `tui.install.host_script`,
which inlines this module). A test greps the tree so that no second spelling
creeps back in.

So that it can be inlined into a script that runs on a bare host, this module
uses the standard library only, runs on Python 3.9 and imports nothing from
tether.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

#: The install root, relative to the host user's home directory (POSIX spelling).
INSTALL_ROOT = ".local/share/tether/runner"
#: Where ``XDG_STATE_HOME`` points when it is unset, relative to the home directory.
DEFAULT_STATE_HOME = ".local/state"
#: tether's directory under the state home.
STATE_NAME = "tether"
#: The socket's directory under the state dir, when the path is short enough.
RUN_NAME = "run"
#: Inside a version directory: the completion marker and the launcher.
MARKER = "installed.json"
LAUNCHER = "bin/tether-runner"
#: The symlink to the version the host's cron entry starts.
CURRENT = "current"
#: Names of a client's upload and of an install in progress under the root.
UPLOAD_PREFIX = ".upload-"
TMP_PREFIX = ".tmp-"


def install_root(home: Path) -> Path:
    """The install root in `home`."""
    return home / INSTALL_ROOT


def state_dir(home: Path, environ: Mapping[str, str]) -> Path:
    """The state dir: ``$XDG_STATE_HOME/tether`` when that is an absolute path
    (as the XDG spec asks), else ``~/.local/state/tether``."""
    xdg = environ.get("XDG_STATE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else home / DEFAULT_STATE_HOME
    return base / STATE_NAME


def preferred_run_dir(home: Path) -> Path:
    """Where the socket goes when its path fits: under the default state dir,
    whatever the environment says (see `protocol.socket_path` for why)."""
    return home / DEFAULT_STATE_HOME / STATE_NAME / RUN_NAME
