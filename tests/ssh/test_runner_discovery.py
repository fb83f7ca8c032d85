"""Finding the runner on the host and starting it when it is not running.

A host with no runner at all gets one installed (tests/install/); what the
person reads when that cannot happen is pinned in test_bootstrap_output.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from protocol.version import __version__
from tests.sshd import SshClient, SshWorld


def _runner_command(world: SshWorld) -> list[str]:
    pid = world.remote_runner_pid()
    assert pid is not None, "no runner is running on the host"
    return psutil.Process(pid).cmdline()


@pytest.fixture
def stopped_runner(ssh_world: SshWorld) -> Iterator[SshWorld]:
    """The host with its runner stopped; whatever a test started is stopped after it."""
    ssh_world.stop_remote_runner()
    yield ssh_world
    ssh_world.stop_remote_runner()


@pytest.mark.parametrize("alias", ["gpu", "gpu-nofwd"])
def test_a_stopped_runner_is_started(
    stopped_runner: SshWorld, ssh_client: SshClient, alias: str
) -> None:
    status = json.loads(ssh_client.tether("status", "-H", alias, "--json", check=True).stdout)
    assert status["pid"] == stopped_runner.remote_runner_pid()
    # Again, now that the client remembers the route to the (again stopped) runner.
    stopped_runner.stop_remote_runner()
    ssh_client.tether("ls", "-H", alias, check=True)
    assert stopped_runner.remote_runner_pid() is not None


def test_runner_is_found_where_automatic_install_puts_it(
    stopped_runner: SshWorld, tmp_path: Path
) -> None:
    account = stopped_runner.account
    bin_dir = account.home / ".local" / "share" / "tether" / "runner" / __version__ / "bin"
    made = account.run("mkdir", "-p", str(bin_dir))
    assert made.returncode == 0, made.stderr
    installed = bin_dir / "tether-runner"
    assert account.run("ln", "-s", stopped_runner.runner, str(installed)).returncode == 0
    try:
        client = stopped_runner.client(tmp_path, runner_configured=False)
        client.tether("ls", "-H", "gpu", check=True)
        assert str(installed) in _runner_command(stopped_runner)
    finally:
        installed.unlink()


def test_runner_is_found_on_the_login_shells_path(stopped_runner: SshWorld, tmp_path: Path) -> None:
    profile = stopped_runner.account.home / ".profile"
    original = profile.read_bytes() if profile.exists() else None
    runner_dir = Path(stopped_runner.runner).parent
    with profile.open("a") as out:
        out.write(f'\nPATH="{runner_dir}:$PATH"\necho "welcome to the test host"\n')
    try:
        client = stopped_runner.client(tmp_path, runner_configured=False)
        client.tether("ls", "-H", "gpu", check=True)
        assert _runner_command(stopped_runner)[1] == stopped_runner.runner
    finally:
        if original is None:
            profile.unlink()
        else:
            profile.write_bytes(original)
