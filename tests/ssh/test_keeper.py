"""Kept connections (`tui.keeper`) against a real sshd: the second verb for a host
opens no SSH connection and loads no asyncssh; a keeper that dies, idles out or
is told to leave leaves nothing stuck, and no other account can use it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.conftest import REPO, wait_for
from tests.sshd import SshClient, SshWorld, one_line_error


def _keepers(client: SshClient) -> list[psutil.Process]:
    """This client's keeper processes (their HOME is the client's)."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if "tui.keeper" not in cmdline:
            continue
        try:
            if proc.environ().get("HOME") == str(client.home) and proc.status() != "zombie":
                found.append(proc)
        except psutil.Error:
            continue
    return found


def _one_keeper(client: SshClient) -> psutil.Process:
    """The keeper, once it listens (its log says so, and that no earlier one still does)."""

    def listening() -> bool:
        logs = _keeper_logs(client)
        return len(_keepers(client)) == 1 and logs.count("keeping") == logs.count("left:") + 1

    wait_for(listening)
    return _keepers(client)[0]


def _keeper_logs(client: SshClient) -> str:
    return "".join(p.read_text() for p in _run_dir(client).glob("k-*.log"))


def _wait_logged(client: SshClient, text: str) -> None:
    try:
        wait_for(lambda: text in _keeper_logs(client), timeout=20)
    except AssertionError:
        raise AssertionError(f"the keeper never said {text!r}: {_keeper_logs(client)}") from None


def _run_dir(client: SshClient) -> Path:
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "from protocol.socket_path import choose_run_dir as c; print(c().path)",
        ],
        env=client.env.env,
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    return Path(out.stdout.strip())


def _ssh_logins(world: SshWorld) -> int:
    return world.gpu.log.read_text(errors="replace").count("Accepted publickey")


@pytest.fixture
def kept(ssh_client: SshClient) -> Iterator[SshClient]:
    """A client whose verbs keep their connection for a minute; its keepers are
    killed at the end whatever happened."""
    ssh_client.extra_env["TETHER_PERSIST"] = "60"
    yield ssh_client
    for proc in _keepers(ssh_client):
        proc.kill()


def test_the_second_verb_rides_the_kept_connection(
    kept: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    job = int(kept.tether("run", "-H", "gpu", "--name", "k", "--", "true", check=True).stdout)
    keeper = _one_keeper(kept)
    logins = _ssh_logins(ssh_world)

    # The verb itself, in a python that reports what it loaded.
    loaded = tmp_path / "loaded.txt"
    code = (
        "import sys\nfrom tui.cli.main import main\n"
        "rc = main(['ls', '-H', 'gpu', '--all', '--json'])\n"
        f"open({str(loaded)!r}, 'w').write(' '.join(sys.modules))\nsys.exit(rc)\n"
    )
    try:
        out = subprocess.run(
            [sys.executable, "-c", code],
            env={**kept.env.env, **kept.extra_env},
            capture_output=True,
            timeout=60,
            cwd=kept.home,
        )
        modules = set(loaded.read_text().split())
    finally:
        loaded.unlink(missing_ok=True)
    assert out.returncode == 0, out.stderr
    assert job in [j["id"] for j in json.loads(out.stdout)]
    assert not {"asyncssh", "textual"} & modules
    run = kept.tether("run", "-H", "gpu", "--", "true", check=True)
    assert int(run.stdout) > job

    assert _ssh_logins(ssh_world) == logins  # no new SSH connection for either verb
    assert _keepers(kept) == [keeper]


def test_a_killed_keeper_is_replaced_and_the_verb_still_answers(kept: SshClient) -> None:
    kept.tether("ls", "-H", "gpu", check=True)
    first = _one_keeper(kept)
    first.kill()
    first.wait(10)

    kept.tether("ls", "-H", "gpu", check=True)  # the socket it left answers nobody: direct
    wait_for(lambda: [p.pid for p in _keepers(kept)] not in ([], [first.pid]))
    wait_for(lambda: _keeper_logs(kept).count("keeping") == 2)


PROBE = """
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(20)
try:
    s.connect(sys.argv[1])
    print(repr(s.recv(100)))
except OSError as e:
    print(type(e).__name__)
"""


@contextlib.contextmanager
def _others_may_pass(directory: Path) -> Iterator[None]:
    """Every directory above `directory` searchable by others for a while, so that
    only the keeper's own modes and checks stand in another account's way."""
    changed = []
    for above in directory.parents:
        mode = stat.S_IMODE(above.stat().st_mode)
        if not mode & 0o001:
            changed.append((above, mode))
            os.chmod(above, mode | 0o001)
    try:
        yield
    finally:
        for above, mode in changed:
            os.chmod(above, mode)


def test_no_other_account_can_use_the_socket(kept: SshClient, ssh_world: SshWorld) -> None:
    kept.tether("ls", "-H", "gpu", check=True)
    _one_keeper(kept)
    [sock] = _run_dir(kept).glob("k-*.sock")
    assert stat.S_IMODE(sock.stat().st_mode) == 0o600
    assert stat.S_IMODE(sock.parent.stat().st_mode) == 0o700

    def probe() -> str:
        return ssh_world.account.run("python3", "-c", PROBE, str(sock)).stdout.decode().strip()

    with _others_may_pass(sock.parent):
        assert probe() == "PermissionError"  # the private run dir
        os.chmod(sock.parent, 0o711)
        assert probe() == "PermissionError"  # the socket's own mode
        os.chmod(sock, 0o666)
        try:
            assert probe() == "b''"  # the keeper itself: no greeting, closed
        finally:
            os.chmod(sock, 0o600)
            os.chmod(sock.parent, 0o700)
    kept.tether("ls", "-H", "gpu", check=True)  # and the person's verbs still ride it
    assert _keeper_logs(kept).count("keeping") == 1


def test_persist_zero_leaves_no_process_behind(ssh_client: SshClient) -> None:
    assert ssh_client.env.env["TETHER_PERSIST"] == "0"
    ssh_client.tether("ls", "-H", "gpu", check=True)
    ssh_client.tether("ls", "-H", "gpu", check=True)
    assert _keepers(ssh_client) == []
    assert list(_run_dir(ssh_client).glob("k-*")) == []


def test_a_keeper_leaves_when_idle_and_when_its_link_ends(
    kept: SshClient, ssh_world: SshWorld
) -> None:
    kept.extra_env["TETHER_PERSIST"] = "1"
    kept.tether("ls", "-H", "gpu", check=True)
    _wait_logged(kept, "no client for 1 s")
    wait_for(lambda: _keepers(kept) == [])
    assert list(_run_dir(kept).glob("k-*.sock")) == []

    kept.extra_env["TETHER_PERSIST"] = "60"
    kept.tether("ls", "-H", "gpu", check=True)
    _one_keeper(kept)
    ssh_world.gpu.kill_connections()
    _wait_logged(kept, "the SSH connection to gpu ended")
    wait_for(lambda: _keepers(kept) == [])
    kept.tether("ls", "-H", "gpu", check=True)


def test_disconnect_closes_the_kept_connection(kept: SshClient) -> None:
    kept.tether("ls", "-H", "gpu", check=True)
    keeper = _one_keeper(kept)
    out = kept.tether("disconnect", "-H", "gpu", check=True)
    assert out.stdout.decode() == "closed the kept connection to gpu\n"
    assert not keeper.is_running() or keeper.status() == "zombie"
    assert list(_run_dir(kept).glob("k-*.sock")) == []
    again = kept.tether("disconnect", "-H", "gpu", check=True)
    assert again.stdout.decode() == "no kept connection to gpu\n"

    kept.tether("ls", "-H", "gpu", check=True)
    kept.tether("ls", "-H", "gpu-nofwd", check=True)
    wait_for(lambda: len(_keepers(kept)) == 2)
    wait_for(lambda: _keeper_logs(kept).count("keeping") == 3)
    everything = kept.tether("disconnect", check=True).stdout.decode().splitlines()
    assert sorted(everything) == [
        "closed the kept connection to gpu",
        "closed the kept connection to gpu-nofwd",
    ]
    assert _keepers(kept) == []


def test_a_bad_persist_setting_is_one_clear_line(ssh_client: SshClient) -> None:
    ssh_client.extra_env["TETHER_PERSIST"] = "ten minutes"
    line = one_line_error(ssh_client.tether("ls", "-H", "gpu"))
    assert "TETHER_PERSIST must be a number of seconds" in line
    assert "'ten minutes'" in line


def test_a_follow_through_a_keeper_survives_the_keeper(
    kept: SshClient, ssh_world: SshWorld
) -> None:
    flag = ssh_world.flag("keeper-follow")
    script = (
        "import os, time\nprint('first', flush=True)\n"
        f"while not os.path.exists({str(flag)!r}): time.sleep(0.05)\nprint('second')\n"
    )
    job = kept.tether("run", "-H", "gpu", "--", "python3", "-c", script, check=True)
    job_id = job.stdout.decode().strip()
    keeper = _one_keeper(kept)
    follow = kept.popen(
        "logs", "-H", "gpu", job_id, "-f", stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert follow.stdout is not None
        assert follow.stdout.readline() == b"first\n"
        keeper.send_signal(signal.SIGKILL)
        flag.write_text("")
        out, err = follow.communicate(timeout=60)
    finally:
        follow.kill()
        flag.unlink(missing_ok=True)
    assert out == b"second\n", err
    assert follow.returncode == 0
