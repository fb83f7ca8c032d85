"""The host layout (`protocol.host_layout`) as the client computes it: POSIX
path strings under the home directory the probe reported, since the client may
run on another OS than the host and never touches the host's files itself.

The bootstrap (`tui.ssh.bootstrap`) looks for ``<version>/bin/tether-runner``
first; an install therefore builds everything in a temporary directory and
renames it into place in one step, so the launcher never exists without the
rest of the version beside it.
"""

from __future__ import annotations

import posixpath

from protocol.host_layout import INSTALL_ROOT, LAUNCHER


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
