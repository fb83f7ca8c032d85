"""A host running yesterday's runner: today's client upgrades it, jobs and all.

"Yesterday's tether" is a copy of this code stating version 0.0.1, run as its
own client, so the old runner on the host got there the way a person's would.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from protocol.version import __version__
from tests.conftest import alive, wait_for
from tests.install.conftest import FreshHost, host_platform
from tui.install.wheelhouse import MANIFEST, wheelhouse_for

OLD = "0.0.1"


def _as_client(host: FreshHost, code: Path, *args: str, timeout: float = 180):  # type: ignore[no-untyped-def]
    """`tether ARGS` run by the client whose code lies in `code`."""
    env = {**host.client.env, "PYTHONPATH": str(code)}
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        env=env,
        capture_output=True,
        timeout=timeout,
        cwd=host.client.home,
    )


def _log(host: FreshHost, job: int) -> bytes:
    path = host.account.home / ".local/state/tether/jobs" / str(job) / "output.log"
    return path.read_bytes() if path.exists() else b""


def test_upgrade_while_a_job_runs_keeps_the_job_and_every_byte_of_its_log(
    fresh_host: FreshHost, old_client: Callable[[str], Path]
) -> None:
    host = fresh_host
    host.block_index()  # the pushed wheelhouse: the quick path (the index path: first contact)
    yesterday = old_client(OLD)
    flag = host.account.home / "stop-now"
    counter = (
        f'i=0; while [ ! -e {flag} ]; do echo "line $i"; i=$((i+1)); sleep 0.02; done; echo end'
    )
    started = _as_client(host, yesterday, "run", "-H", "gpu", "--", counter)
    assert started.returncode == 0, started.stderr
    assert f"installing tether {OLD} runner on gpu" in started.stderr.decode()
    job = int(started.stdout)
    old_pid = host.daemon_pid(OLD)
    assert old_pid is not None
    wait_for(lambda: _log(host, job).count(b"\n") >= 20, timeout=30)

    upgraded = host.tether("ls", "-H", "gpu", "--json")
    assert upgraded.returncode == 0, upgraded.stderr
    assert re.search(
        rf"upgrading tether runner from {re.escape(OLD)} to {re.escape(__version__)} on gpu "
        r"\(python 3\.\d+, manylinux x86_64\)… done in (\d+m)?\d+s",
        upgraded.stderr.decode(),
    ), upgraded.stderr
    lines_at_upgrade = _log(host, job).count(b"\n")
    listed = {j["id"]: j for j in json.loads(upgraded.stdout)}
    assert listed[job]["state"] == "running"  # re-adopted by the new runner
    assert not alive(old_pid)
    new_pid = host.daemon_pid(__version__)
    assert new_pid is not None and new_pid != old_pid
    # The job's shim still runs from the old version's files: they stay until it ends.
    assert host.installed_versions() == sorted([OLD, __version__])

    wait_for(lambda: _log(host, job).count(b"\n") > lines_at_upgrade + 20, timeout=30)
    flag.touch()
    followed = host.tether("logs", "-H", "gpu", "-f", str(job))
    assert followed.returncode == 0, followed.stderr
    lines = followed.stdout.decode().splitlines()
    assert lines[-1] == "end"
    assert lines[:-1] == [f"line {i}" for i in range(len(lines) - 1)]  # none lost, none twice
    assert followed.stdout == _log(host, job)
    finished = json.loads(host.tether("ls", "-H", "gpu", "--json", "--all").stdout)
    assert [j["state"] for j in finished if j["id"] == job] == ["succeeded"]

    refused = _as_client(host, yesterday, "ls", "-H", "gpu")
    assert refused.returncode == 1
    assert f"the runner there is tether {__version__}, newer than this tether {OLD}" in (
        refused.stderr.decode()
    )
    assert "upgrade tether on this machine" in refused.stderr.decode()
    assert host.daemon_pid(__version__) == new_pid  # the old client changed nothing


def _uploading(host: FreshHost, at_least: int) -> bool:
    if not host.root.is_dir():
        return False
    for staging in host.root.glob(".upload-*"):
        for item in staging.iterdir():
            if item.name.startswith("junk") and item.stat().st_size >= at_least:
                return True
    return False


def test_an_upload_cut_midway_leaves_the_old_runner_serving_and_the_retry_succeeds(
    fresh_host: FreshHost, old_client: Callable[[str], Path]
) -> None:
    host = fresh_host
    # The host's pip reaches no index, so the wheels travel from the client; a big
    # extra file among them keeps the upload going long enough to cut it.
    host.block_index()
    yesterday = old_client(OLD)
    first = _as_client(host, yesterday, "status", "-H", "gpu")
    assert first.returncode == 0, first.stderr
    old_pid = host.daemon_pid(OLD)
    assert old_pid is not None

    cache = host.client.home / ".cache" / "tether" / "wheels"
    private = host.client.home / "wheels"
    shutil.copytree(cache, private)
    cache.unlink()
    cache.symlink_to(private)
    wheels = asyncio.run(wheelhouse_for(host_platform(), root=private))
    manifest_path = wheels.directory / MANIFEST
    manifest = json.loads(manifest_path.read_text())
    junk_size = 64 * 1024 * 1024  # real bytes: SFTP skips the holes of a sparse file
    digest = hashlib.sha256()
    with open(wheels.directory / "junk-0-py3-none-any.whl", "wb") as junk:
        for _ in range(junk_size // (1024 * 1024)):
            block = os.urandom(1024 * 1024)
            digest.update(block)
            junk.write(block)
    record = {"size": junk_size, "sha256": digest.hexdigest()}
    manifest["files"]["junk-0-py3-none-any.whl"] = record
    manifest_path.write_text(json.dumps(manifest))

    client = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "status", "-H", "gpu"],
        env=host.client.env,
        cwd=host.client.home,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(
            lambda: _uploading(host, 1024 * 1024) or client.poll() is not None,
            timeout=120,
            interval=0.005,
        )
        assert client.poll() is None, client.communicate()
        assert host.servers.sftp.kill_connections() > 0
        _, err = client.communicate(timeout=60)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 1
    said = err.decode()
    assert "failed" in said and "the SSH connection failed while installing the runner" in said
    assert "nothing was changed there" in said

    assert host.daemon_pid(OLD) == old_pid  # the old runner still serves
    assert host.installed_versions() == [OLD]
    assert os.readlink(host.root / "current") == OLD
    still = _as_client(host, yesterday, "status", "-H", "gpu")
    assert still.returncode == 0, still.stderr

    del manifest["files"]["junk-0-py3-none-any.whl"]
    manifest_path.write_text(json.dumps(manifest))
    (wheels.directory / "junk-0-py3-none-any.whl").unlink()
    retry = host.tether("status", "-H", "gpu", "--json")
    assert retry.returncode == 0, retry.stderr
    assert f"upgrading tether runner from {OLD} to {__version__} on gpu" in retry.stderr.decode()
    assert json.loads(retry.stdout)["runner_version"] == __version__
    assert host.marker(__version__)["source"] == "wheels"
    assert not alive(old_pid)
    assert host.installed_versions() == [__version__]  # nothing runs from the old one now
