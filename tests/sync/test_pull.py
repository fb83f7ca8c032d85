"""`pull_outputs` against a real local runner: what a job made arrives with its
mode and mtime; unchanged files stay; a `.part` continues when the host's file
is the same and restarts when not; paths out of the destination are refused;
`follow` delivers what the job writes while it runs."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from protocol.jobs import JobSpec
from tests.sync.test_upload import finished, output
from tests.sync.trees import write
from tui.errors import UnsafePath
from tui.session import HostSession
from tui.sync import pull_outputs, upload_tree
from tui.sync.progress import Progress
from tui.sync.pull import check_pull_paths

BIG = 2 * 1024 * 1024 + 4321
MAKE_OUTPUTS = (
    "import os\n"
    "os.makedirs('out', exist_ok=True); os.makedirs('logs', exist_ok=True)\n"
    f"open('out/model.bin', 'wb').write(os.urandom({BIG}))\n"
    "open('out/run.sh', 'w').write('#!/bin/sh\\necho hi\\n'); os.chmod('out/run.sh', 0o755)\n"
    "open('logs/a b.txt', 'w').write('spaced')\n"
)
MADE = {"out/model.bin", "out/run.sh", "logs/a b.txt"}


async def job_in_snapshot(session: HostSession, tmp_path: Path, code: str) -> tuple[int, Path]:
    """A job run in a snapshot of a one-file tree; its id and working tree."""
    tree = tmp_path / "tree"
    write(tree, "train.py", "print('train')\n")
    snapshot = (await upload_tree(session, tree)).snapshot.id
    job = await session.submit(JobSpec(argv=[sys.executable, "-c", code], snapshot=snapshot))
    return job.id, Path(job.cwd)


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*") if not p.is_dir()}


def assert_same_file(local: Path, remote: Path) -> None:
    assert local.read_bytes() == remote.read_bytes()
    mine, theirs = local.stat(), remote.stat()
    assert abs(mine.st_mtime_ns - theirs.st_mtime_ns) <= 1000
    assert mine.st_mode & 0o777 == (0o755 if theirs.st_mode & 0o100 else 0o644)


async def test_what_the_job_made_arrives_with_its_mode_and_mtime(
    session: HostSession, tmp_path: Path
) -> None:
    job_id, work = await job_in_snapshot(session, tmp_path, MAKE_OUTPUTS)
    await output(session, job_id)
    dest = tmp_path / "dest"
    result = await pull_outputs(session, job_id, [], dest)
    assert files_under(dest) == MADE  # the unchanged train.py stays on the host
    for path in MADE:
        assert_same_file(dest / path, work / path)
    assert (result.files_pulled, result.bytes_pulled) == (3, BIG + 18 + 6)
    again = await pull_outputs(session, job_id, [], dest)
    assert (again.files_pulled, again.files_unchanged, again.bytes_pulled) == (0, 3, 0)
    (dest / "out" / "run.sh").write_text("#!/bin/sh\necho changed locally\n")
    third = await pull_outputs(session, job_id, [], dest)
    assert third.files_pulled == 1
    assert_same_file(dest / "out" / "run.sh", work / "out" / "run.sh")


async def test_given_paths_pull_only_those_and_may_name_unchanged_inputs(
    session: HostSession, tmp_path: Path
) -> None:
    job_id, work = await job_in_snapshot(session, tmp_path, MAKE_OUTPUTS)
    await output(session, job_id)
    dest = tmp_path / "dest"
    await pull_outputs(session, job_id, ["out/", "train.py"], dest)
    assert files_under(dest) == {"out/model.bin", "out/run.sh", "train.py"}
    assert_same_file(dest / "train.py", work / "train.py")


async def test_a_part_file_continues_when_the_host_file_is_unchanged_else_restarts(
    session: HostSession, tmp_path: Path
) -> None:
    job_id, work = await job_in_snapshot(session, tmp_path, MAKE_OUTPUTS)
    await output(session, job_id)
    remote = work / "out" / "model.bin"
    host_mtime = remote.stat().st_mtime_ns
    dest = tmp_path / "dest"
    part = write(dest, "out/model.bin.part", remote.read_bytes()[: 1024 * 1024])
    os.utime(part, ns=(host_mtime, host_mtime))  # what a cut pull of this version leaves
    result = await pull_outputs(session, job_id, ["out/model.bin"], dest)
    assert result.bytes_pulled == BIG - 1024 * 1024
    assert_same_file(dest / "out" / "model.bin", remote)
    assert not part.exists()

    (dest / "out" / "model.bin").unlink()
    stale = write(dest, "out/model.bin.part", b"\xee" * (1024 * 1024))
    os.utime(stale, ns=(host_mtime - 10**9, host_mtime - 10**9))  # another version's
    result = await pull_outputs(session, job_id, ["out/model.bin"], dest)
    assert result.bytes_pulled == BIG
    assert_same_file(dest / "out" / "model.bin", remote)


def test_paths_with_dotdot_or_absolute_are_refused_before_asking() -> None:
    for bad in ("../secrets", "/etc/passwd", "out/../../x", "a//b"):
        with pytest.raises(UnsafePath, match="relative to the job's working directory"):
            check_pull_paths([bad])
    assert check_pull_paths(["out/", "logs/a b.txt"]) == ["out", "logs/a b.txt"]


async def test_a_symlink_in_the_destination_leading_out_is_refused(
    session: HostSession, tmp_path: Path
) -> None:
    job_id, _ = await job_in_snapshot(session, tmp_path, MAKE_OUTPUTS)
    await output(session, job_id)
    dest = tmp_path / "dest"
    outside = tmp_path / "outside"
    outside.mkdir()
    dest.mkdir()
    os.symlink(outside, dest / "out")
    with pytest.raises(UnsafePath, match="outside"):
        await pull_outputs(session, job_id, [], dest)
    assert list(outside.iterdir()) == []
    (dest / "out").unlink()
    (dest / "inside").mkdir()
    os.symlink("inside", dest / "out")  # a link that stays inside is fine
    await pull_outputs(session, job_id, [], dest)
    assert sorted(p.name for p in (dest / "inside").iterdir()) == ["model.bin", "run.sh"]


async def test_follow_delivers_a_file_the_job_writes_while_it_runs(
    session: HostSession, tmp_path: Path
) -> None:
    flag = tmp_path / "flag"
    code = (
        "import os, time\n"
        "open('first.ckpt', 'wb').write(b'epoch 1')\n"
        f"while not os.path.exists({str(flag)!r}): time.sleep(0.02)\n"
        "open('second.ckpt', 'wb').write(b'epoch 2')\n"
        "open('first.ckpt', 'wb').write(b'epoch 1, rewritten')\n"
    )
    job_id, _ = await job_in_snapshot(session, tmp_path, code)
    dest = tmp_path / "dest"
    seen: list[Progress] = []
    pulling = asyncio.ensure_future(
        pull_outputs(session, job_id, [], dest, follow=True, on_progress=seen.append)
    )
    try:
        for _ in range(600):
            if (dest / "first.ckpt").exists():
                break
            await asyncio.sleep(0.05)
        assert (dest / "first.ckpt").read_bytes() == b"epoch 1"  # while the job runs
        assert not pulling.done()
        assert (await session.get_job(job_id)).state.is_active
        flag.touch()
        result = await asyncio.wait_for(pulling, 60)
    finally:
        pulling.cancel()
    assert not (await finished(session, job_id)).state.is_active
    assert (dest / "second.ckpt").read_bytes() == b"epoch 2"
    assert (dest / "first.ckpt").read_bytes() == b"epoch 1, rewritten"
    assert result.files_pulled == 3
    assert any(p.phase == "waiting" for p in seen)
