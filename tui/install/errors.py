"""What can go wrong putting a runner on a host, as one sentence a person can act on."""

from __future__ import annotations

from tui.errors import TetherError


class InstallError(TetherError):
    """The runner could not be installed (or removed, or checked) on a host.

    Nothing on the host has changed when this is raised: an install writes only
    to a temporary directory until its last step, so the runner that was there
    before (if any) is untouched and still serving.
    """
