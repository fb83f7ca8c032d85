"""A host where tether installed its runner: cron brings it back, doctor reports on it."""

from __future__ import annotations

import json
import shutil

import pytest

from protocol.version import __version__
from tests.conftest import wait_for
from tests.install.conftest import FreshHost

#: What cron gives a job on Debian (and most crons): no profile, a bare PATH.
CRON_PATH = "/usr/bin:/bin"


def _crontab(host: FreshHost) -> str:
    done = host.as_account("crontab", "-l")
    return done.stdout.decode() if done.returncode == 0 else ""


@pytest.mark.skipif(shutil.which("crontab") is None, reason="no crontab (scripts/setup.sh)")
def test_cron_install_twice_gives_one_entry_whose_runner_uses_the_login_shells_socket(
    installed_host: FreshHost,
) -> None:
    host = installed_host
    own = "# my own job\n0 3 * * * true\n"
    assert host.as_account("sh", "-c", f"printf '{own}' | crontab -").returncode == 0

    for _ in range(2):
        done = host.tether("cron", "install", "-H", "gpu")
        assert done.returncode == 0, done.stderr
    crontab = _crontab(host)
    assert crontab.startswith(own)
    assert crontab.count("# >>> tether runner >>>") == 1
    reboot = [line for line in crontab.splitlines() if line.startswith("@reboot ")]
    periodic = [line for line in crontab.splitlines() if line.startswith("*/5 * * * * ")]
    assert len(reboot) == 1 and len(periodic) == 1
    command = reboot[0].removeprefix("@reboot ")
    assert f"{host.root}/current/bin/tether-runner serve --daemon" in command

    host.as_account(str(host.launcher(__version__)), "stop")
    wait_for(lambda: host.daemon_pid(__version__) is None, timeout=30)
    as_cron = host.as_account(
        "env",
        "-i",
        f"HOME={host.account.home}",
        f"LOGNAME={host.account.name}",
        f"PATH={CRON_PATH}",
        "SHELL=/bin/sh",
        "/bin/sh",
        "-c",
        command,
    )
    assert as_cron.returncode == 0, as_cron.stderr
    cron_pid = wait_for(lambda: host.daemon_pid(__version__), timeout=30)

    login = host.login_shell(f"{host.launcher(__version__)} status --json")
    seen_from_login = json.loads(login.stdout)
    assert seen_from_login["running"] and seen_from_login["pid"] == cron_pid
    client = host.tether("status", "-H", "gpu", "--json")
    assert client.returncode == 0, client.stderr
    seen_from_client = json.loads(client.stdout)
    assert seen_from_client["pid"] == cron_pid
    assert seen_from_client["socket_path"] == seen_from_login["socket_path"]

    status = host.tether("cron", "status", "-H", "gpu")
    assert "present" in status.stdout.decode()
    removed = host.tether("cron", "remove", "-H", "gpu")
    assert removed.returncode == 0, removed.stderr
    assert _crontab(host) == own


def test_doctor_reports_python_runner_socket_state_gpus_logout_and_cron(
    installed_host: FreshHost,
) -> None:
    host = installed_host
    done = host.tether("doctor", "-H", "gpu", "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    checks = {c["name"]: c for c in report["checks"]}
    assert list(checks) == [
        "python",
        "runner",
        "socket",
        "state dir",
        "gpus",
        "logout",
        "cron",
        "slurm",
    ]
    assert report["healthy"] is True
    assert checks["python"]["verdict"] == "ok"
    assert checks["python"]["summary"].startswith("/usr/bin/python3")
    assert checks["runner"]["verdict"] == "ok"
    assert (
        f"tether {__version__} at {host.launcher(__version__)}, running"
        in (checks["runner"]["summary"])
    )
    socket = report["facts"]["host"]["runner"]["status"]["socket_path"]
    assert socket.endswith("runner.sock") and socket in checks["socket"]["summary"]
    assert checks["state dir"]["summary"].startswith(
        str(host.account.home / ".local" / "state" / "tether")
    )
    assert checks["gpus"]["verdict"] in ("ok", "warn") and checks["gpus"]["summary"]
    assert checks["logout"]["verdict"] == "ok"  # no systemd-logind in this container
    entry_present = "# >>> tether runner >>>" in _crontab(host)
    assert checks["cron"]["verdict"] == ("ok" if entry_present else "warn")
    if not entry_present:
        assert checks["cron"]["advice"] == "`tether cron install -H gpu`"

    text = host.tether("doctor", "-H", "gpu")
    assert text.returncode == 0
    lines = text.stdout.decode().splitlines()
    assert lines[0] == f"tether doctor: gpu (this tether is {__version__})"
    assert any(line.split()[:2] == ["ok", "runner"] for line in lines)
