"""Where an installed runner lives on a host: one contract for every part of tether.

::

    ~/.local/share/tether/runner/
        0.4.1/                  one directory per version, complete or absent
            lib/                runner/ and protocol/ and their dependencies
            bin/tether-runner   sh launcher: PYTHONPATH=lib exec python3 -m runner
            installed.json      the completion marker, written before the rename
        current -> 0.4.1        the version the host's cron entry starts
        .install.lock           serialises installs from several clients
        .upload-XXXX/           what a client is uploading (removed when stale)
        .tmp-0.4.1-PID/         an install in progress (renamed into place)

The bootstrap (`tui.ssh.bootstrap`) looks for ``<version>/bin/tether-runner``
first; an install therefore builds everything in a temporary directory and
renames it into place in one step, so the launcher never exists without the
rest of the version beside it.
"""

from __future__ import annotations

import posixpath

#: The install root, relative to the host user's home directory.
INSTALL_ROOT = ".local/share/tether/runner"
MARKER = "installed.json"
LAUNCHER = "bin/tether-runner"
CURRENT = "current"
UPLOAD_PREFIX = ".upload-"
TMP_PREFIX = ".tmp-"


def install_root(home: str) -> str:
    return posixpath.join(home, INSTALL_ROOT)


def version_dir(home: str, version: str) -> str:
    return posixpath.join(install_root(home), version)


def launcher_path(home: str, version: str) -> str:
    return posixpath.join(version_dir(home, version), LAUNCHER)


def is_installed_launcher(path: str, version: str) -> bool:
    """Whether `path` (as the bootstrap reported it) is the launcher tether
    installed for `version`, in whatever home directory."""
    return path.endswith(f"/{INSTALL_ROOT}/{version}/{LAUNCHER}")
