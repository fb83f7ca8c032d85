"""First contact with a host's runner: install or upgrade it when needed, then connect.

The SSH opener calls `ensure_runner` around its bootstrap (which finds the
runner, starts it and reports its status). This adds, before any channel to
the runner is opened:

- no runner found: install this client's version (`tui.install.installer`) and
  bootstrap again;
- a runner of an older version (or an older protocol): install this version
  beside it, stop the old daemon (jobs keep running), start the new one, which
  re-adopts every running job, and bootstrap again;
- a runner of a newer version: an `IncompatibleRunner` telling the person to
  upgrade tether on their own machine; nothing on the host changes.

A later contact with a matching runner costs nothing beyond the bootstrap.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Optional

from protocol.version import __version__
from tui.errors import IncompatibleRunner
from tui.install.installer import Progress, StderrProgress, install_runner
from tui.install.shell import HostShell
from tui.runner_version import runner_is_newer, runner_too_new_message
from tui.ssh.bootstrap import RunnerLocation
from tui.ssh.errors import RunnerMissing

Bootstrap = Callable[[], Awaitable[RunnerLocation]]


async def ensure_runner(
    shell: HostShell, bootstrap: Bootstrap, progress: Optional[Progress] = None
) -> RunnerLocation:
    """The location of a running runner of this client's version on `shell`'s host."""
    progress = progress or StderrProgress()
    try:
        location = await bootstrap()
    except RunnerMissing:
        await install_runner(shell, progress=progress)
        return await bootstrap()
    except IncompatibleRunner as exc:
        found = exc.runner_version
        if found is None:
            raise
        _refuse_newer(shell.name, found)
        await install_runner(shell, progress=progress, replacing=found)
        return await bootstrap()
    found = str(location.status.get("runner_version", ""))
    if found == __version__:
        return location
    _refuse_newer(shell.name, found)
    await install_runner(shell, progress=progress, replacing=found or "an unknown version")
    return await bootstrap()


def _refuse_newer(host: str, runner_version: str) -> None:
    if runner_is_newer(runner_version):
        raise IncompatibleRunner(runner_too_new_message(host, runner_version), runner_version)
