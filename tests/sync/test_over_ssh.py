"""Snapshots and pulls over a real sshd, across links cut by killing the sshd
process serving the session: the upload resumes and the job's tree is byte
identical; a 100 MB pull resumes and is sha256-equal."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any, AsyncIterator

import pytest

from tests.conftest import wait_for
from tests.sshd import SshClient, SshWorld
from tests.sync.trees import DESCRIBE, describe, write
from tui.hosts import make_session
from tui.sync.pull import pull_outputs
from tui.sync.sftp_source import SftpSource

MIB = 1024 * 1024


def _stored_bytes(world: SshWorld) -> int:
    """Bytes the host's store holds, whole blobs and partial uploads; the runner
    renames files while this counts."""
    total = 0
    for path in (world.remote_state / "store").rglob("*"):
        try:
            total += path.stat().st_size if path.is_file() else 0
        except FileNotFoundError:
            continue  # a partial upload renamed into place between the listing and the stat
    return total


def _finish(proc: subprocess.Popen[bytes], timeout: float = 180) -> tuple[int, str, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    return proc.returncode, out.decode(), err.decode()


def test_an_upload_cut_midway_resumes_and_the_tree_is_byte_identical(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    for i in range(40):
        write(tree, f"shards/{i:02d}.bin", os.urandom(2 * MIB + i))
    write(tree, "weights/big.bin", os.urandom(40 * MIB))
    write(tree, "train.sh", "#!/bin/sh\n", mode=0o755)
    before = _stored_bytes(ssh_world)
    started = time.monotonic()
    run = ssh_client.popen(
        "run",
        "-H",
        "gpu",
        "--sync",
        str(tree),
        "--",
        "python3",
        "-c",
        DESCRIBE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    wait_for(lambda: _stored_bytes(ssh_world) > before + 20 * MIB, timeout=120, interval=0.01)
    assert ssh_world.gpu.kill_connections() >= 1
    code, out, err = _finish(run)
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert "tether: reconnecting" in err and "tether: reconnected" in err
    job_id = int(out)
    logs = ssh_client.tether("logs", "-H", "gpu", "-f", str(job_id), timeout=120)
    assert logs.returncode == 0, logs.stderr.decode()
    paths = {str(p.relative_to(tree)) for p in tree.rglob("*") if p.is_file()}
    assert json.loads(logs.stdout) == describe(tree, paths)
    print(f"upload of 120 MiB over ssh, cut once: {elapsed:.1f} s")


def test_a_100_mb_pull_across_a_cut_link_is_sha256_equal(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    write(
        tree,
        "make.py",
        "import os\nwith open('ckpt.bin', 'wb') as f:\n"
        "    for _ in range(100):\n        f.write(os.urandom(1 << 20))\n",
    )
    run = ssh_client.tether("run", "-H", "gpu", "--sync", str(tree), "--", "python3", "make.py")
    assert run.returncode == 0, run.stderr.decode()
    job_id = int(run.stdout)
    assert ssh_client.tether("logs", "-H", "gpu", "-f", str(job_id), timeout=120).returncode == 0
    dest = tmp_path / "dest"
    started = time.monotonic()
    pull = ssh_client.popen(
        "pull",
        "-H",
        "gpu",
        str(job_id),
        "--to",
        str(dest),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    part = dest / "ckpt.bin.part"
    wait_for(lambda: part.exists() and part.stat().st_size > 20 * MIB, timeout=120, interval=0.01)
    assert ssh_world.gpu.kill_connections() >= 1
    code, out, err = _finish(pull)
    elapsed = time.monotonic() - started
    assert code == 0, err
    assert "tether: reconnecting" in err
    assert out.startswith("pulled 1 file (100 MiB)")
    listed = json.loads(ssh_client.tether("ls", "-H", "gpu", "--all", "--json", check=True).stdout)
    (job,) = [j for j in listed if j["id"] == job_id]
    remote = Path(job["cwd"]) / "ckpt.bin"
    local = dest / "ckpt.bin"
    assert (
        hashlib.sha256(local.read_bytes()).digest() == hashlib.sha256(remote.read_bytes()).digest()
    )
    assert local.stat().st_mtime_ns - remote.stat().st_mtime_ns in range(-1000, 1001)
    assert not part.exists()
    # Over SFTP (this server offers it) until the cut, then on through the runner
    # from the .part; a second pull finds it up to date.
    again = ssh_client.tether("pull", "-H", "gpu", str(job_id), "--to", str(dest), check=True)
    assert again.stdout.decode().startswith("pulled 0 files (0 B)")
    print(f"pull of 100 MiB over ssh, cut once: {elapsed:.1f} s")


def test_a_pull_from_a_host_without_sftp_comes_through_the_runner(
    ssh_client: SshClient, ssh_world: SshWorld, tmp_path: Path
) -> None:
    # "nofwd" offers neither SFTP nor socket forwarding: the runner is reached
    # through `tether-runner bridge`, and the bytes come through it too.
    tree = tmp_path / "tree"
    write(tree, "make.py", "import os\nopen('ckpt.bin', 'wb').write(os.urandom(5 << 20))\n")
    run = ssh_client.tether(
        "run", "-H", "gpu-nofwd", "--sync", str(tree), "--", "python3", "make.py", check=True
    )
    job_id = int(run.stdout)
    assert (
        ssh_client.tether("logs", "-H", "gpu-nofwd", "-f", str(job_id), timeout=120).returncode == 0
    )
    dest = tmp_path / "dest"
    ssh_client.tether("pull", "-H", "gpu-nofwd", str(job_id), "--to", str(dest), check=True)
    listed = json.loads(ssh_client.tether("ls", "-H", "gpu-nofwd", "--all", "--json").stdout)
    (job,) = [j for j in listed if j["id"] == job_id]
    assert (dest / "ckpt.bin").read_bytes() == (Path(job["cwd"]) / "ckpt.bin").read_bytes()


async def test_big_files_come_over_sftp_where_the_server_offers_it(
    ssh_client: SshClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = tmp_path / "tree"
    write(
        tree,
        "make.py",
        "import os\nopen('ckpt.bin', 'wb').write(os.urandom(3 << 20))\n"
        "open('small.txt', 'w').write('under a MiB: through the runner')\n",
    )
    run = ssh_client.tether("run", "-H", "gpu", "--sync", str(tree), "--", "python3", "make.py")
    job_id = int(run.stdout)
    assert ssh_client.tether("logs", "-H", "gpu", "-f", str(job_id), timeout=120).returncode == 0
    for key, value in ssh_client.env.env.items():
        monkeypatch.setenv(key, value)
    over_sftp: list[str] = []
    chunks = SftpSource.chunks

    def counted(self: SftpSource, path: str, start: int, end: int) -> AsyncIterator[Any]:
        over_sftp.append(path)
        return chunks(self, path, start, end)

    monkeypatch.setattr(SftpSource, "chunks", counted)
    session = make_session("gpu")
    await session.start()
    try:
        job = await session.get_job(job_id)
        result = await pull_outputs(session, job_id, [], tmp_path / "dest")
    finally:
        await session.close()
    assert over_sftp == ["ckpt.bin"]
    assert (result.files_pulled, result.bytes_pulled) == (2, (3 << 20) + 31)
    for name in ("ckpt.bin", "small.txt"):
        pulled = (tmp_path / "dest" / name).read_bytes()
        assert pulled == (Path(job.cwd) / name).read_bytes()


def test_an_unreadable_file_is_an_error_naming_it(ssh_world: SshWorld, tmp_path: Path) -> None:
    """Run as the test account (root reads every file): a file it may not read."""
    tree = ssh_world.flags / f"unreadable-{tmp_path.name}"
    write(tree, "ok.txt", "fine")
    write(tree, "secret/key.pem", "private", mode=0o000)
    tree.chmod(0o755)
    (tree / "secret").chmod(0o755)
    python = Path(ssh_world.runner).parent / "python"
    code = (
        "import asyncio, sys\n"
        "from pathlib import Path\n"
        "from tui.errors import SyncError\n"
        "from tui.sync.hash_cache import hash_tree\n"
        "from tui.sync.select import select_files\n"
        "s = select_files(Path(sys.argv[1]))\n"
        "try:\n"
        "    asyncio.run(hash_tree(s.root, s.files, lambda p: None))\n"
        "except SyncError as exc:\n"
        "    print(exc)\n"
    )
    done = ssh_world.account.run(str(python), "-c", code, str(tree))
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == (
        f"cannot read {tree}/secret/key.pem: Permission denied; make it readable, "
        "or add it to .tetherignore"
    )
