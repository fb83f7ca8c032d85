"""`tether uninstall`: the runner goes, job records stay unless purged (after a yes)."""

from __future__ import annotations

import json
import shutil

from protocol.version import __version__
from tests.conftest import alive, wait_for
from tests.install.conftest import FreshHost


def test_uninstall_refuses_to_purge_running_jobs_then_removes_everything_when_told(
    fresh_host: FreshHost,
) -> None:
    host = fresh_host
    host.block_index()
    started = host.tether("run", "-H", "gpu", "--", "sleep", "600")
    assert started.returncode == 0, started.stderr
    job = started.stdout.decode().strip()
    has_cron = shutil.which("crontab") is not None
    if has_cron:
        assert host.tether("cron", "install", "-H", "gpu").returncode == 0
    state = host.account.home / ".local" / "state" / "tether"

    refused = host.tether("uninstall", "-H", "gpu", "--purge", "--yes")
    assert refused.returncode == 1
    assert "1 job(s) still run from tether's runner; cancel them first" in refused.stderr.decode()
    assert host.installed_versions() == [__version__] and host.daemon_pid(__version__)

    unconfirmed = host.tether("uninstall", "-H", "gpu", "--purge")  # stdin is not a terminal
    assert unconfirmed.returncode == 1
    assert "add --yes to confirm" in unconfirmed.stderr.decode()

    assert host.tether("cancel", "-H", "gpu", job).returncode == 0
    pid = host.daemon_pid(__version__)
    assert pid is not None
    removed = host.tether("uninstall", "-H", "gpu", "--purge", "--yes")
    assert removed.returncode == 0, removed.stderr
    said = removed.stdout.decode()
    assert f"removed tether's runner from gpu ({__version__})" in said
    assert f"stopped its daemon (pid {pid})" in said
    assert ("removed its crontab entry" in said) == has_cron
    assert f"deleted every job record and log in {state}" in said
    assert not host.root.exists() and not state.exists()
    if has_cron:
        assert "tether runner" not in host.as_account("crontab", "-l").stdout.decode()
    wait_for(lambda: not alive(pid), timeout=30)

    again = host.tether("ls", "-H", "gpu", "--json", "--all")  # a first contact once more
    assert again.returncode == 0, again.stderr
    assert f"installing tether {__version__} runner on gpu" in again.stderr.decode()
    assert json.loads(again.stdout) == []
