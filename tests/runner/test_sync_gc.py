"""The store does not grow forever: snapshots and stored files that no active or
recent job uses are collected (a dry run only counts them), half uploads left a
day go, and the jobs' own copies, their outputs, stay."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from pathlib import Path

import pytest

from protocol.errors import ErrorCode
from protocol.jobs import JobSpec
from protocol.manifest import digest_of
from protocol.messages import Cancel, Error, JobReply
from protocol.sync import CollectGarbage, GarbageReport, Rerun, SnapshotReply
from runner.paths import RunnerPaths
from runner.sync.collect import Usage
from runner.sync.store import SyncStore
from runner.tasks import Health
from tests.conftest import UserEnv, wait_for
from tests.runner.sync_wire import Tree, Wire, manifest_of

SHARED = b"shared by every snapshot\n"
OLD: Tree = {"old.txt": b"only the ended job's\n", "shared.txt": SHARED}
UNUSED: Tree = {"unused.txt": b"in no job at all\n" * 10, "shared.txt": SHARED}
RUNNING: Tree = {"running.txt": b"the running job's\n", "shared.txt": SHARED}


def _collect(wire: Wire, dry_run: bool, keep_days: float | None) -> GarbageReport:
    reply = wire.ask(CollectGarbage(id=wire.next_id(), dry_run=dry_run, keep_days=keep_days))
    assert isinstance(reply, GarbageReport), reply
    return reply


def _store_files(env: UserEnv) -> set[str]:
    store = env.state_dir / "store"
    return {str(p.relative_to(store)) for p in store.rglob("*") if p.is_file()}


def _counted(*trees: Tree) -> tuple[int, int]:
    """Blobs (manifests too) only these trees hold, and their bytes."""
    blobs = {}
    for tree in trees:
        blobs[digest_of(manifest_of(tree))] = len(manifest_of(tree))
        for path, content in tree.items():
            assert isinstance(content, bytes)
            if content != SHARED:
                blobs[digest_of(content)] = len(content)
    return len(blobs), sum(blobs.values())


def test_collection_keeps_what_active_and_recent_jobs_use_and_frees_the_rest(
    local_runner: UserEnv,
) -> None:
    wire = Wire(local_runner)
    old = wire.sync(OLD)
    ended = wire.wait_ended(wire.submit_ok(JobSpec(argv=["cat", "old.txt"], snapshot=old)).id)
    wire.sync(UNUSED)
    running_id = wire.sync(RUNNING)
    running = wire.submit_ok(JobSpec(argv=["sleep", "60"], snapshot=running_id))
    half = b"half of an upload" * 100
    wire.put_ok(digest_of(half), len(half), 0, half[:700])
    before = _store_files(local_runner)

    # Kept for a day: the ended job's snapshot; the unused one is fresh (an upload
    # may be on its way to a submit); the half upload was touched now.
    assert _collect(wire, dry_run=False, keep_days=1).model_dump(exclude={"id"}) == {
        "type": "garbage_report",
        "dry_run": False,
        "snapshots": 0,
        "blobs": 0,
        "bytes": 0,
    }
    # Keeping nothing but what runs: the ended job's and the unused snapshot go,
    # with every file only they name and the half upload.
    blobs, size = _counted(OLD, UNUSED)
    dry = _collect(wire, dry_run=True, keep_days=0)
    assert (dry.dry_run, dry.snapshots, dry.blobs, dry.bytes) == (True, 2, blobs + 1, size + 700)
    assert _store_files(local_runner) == before

    done = _collect(wire, dry_run=False, keep_days=0)
    assert (done.snapshots, done.blobs, done.bytes) == (2, blobs + 1, size + 700)
    assert wire.wanted([digest_of(SHARED), digest_of(b"the running job's\n")]) == {}
    assert wire.wanted([digest_of(b"only the ended job's\n")]) == {
        digest_of(b"only the ended job's\n"): 0
    }
    assert isinstance(wire.snapshot(running_id), SnapshotReply)
    gone = wire.snapshot(old)
    assert isinstance(gone, Error) and gone.code is ErrorCode.BAD_SNAPSHOT
    # The jobs' copies are their outputs: kept, both.
    assert (Path(ended.cwd) / "old.txt").read_bytes() == b"only the ended job's\n"
    assert Path(running.cwd).is_dir()
    # Running the ended job again needs its snapshot sent again.
    rerun = wire.ask(Rerun(id=wire.next_id(), job_id=ended.id))
    assert isinstance(rerun, Error) and rerun.code is ErrorCode.BAD_SNAPSHOT
    # Once the running job ends, a keep of 0 days keeps its snapshot no more.
    assert isinstance(wire.ask(Cancel(id=wire.next_id(), job_id=running.id)), JobReply)
    assert _collect(wire, dry_run=False, keep_days=1).snapshots == 0
    last = _collect(wire, dry_run=False, keep_days=0)
    assert (last.snapshots, last.blobs) == (1, 3)  # its manifest, its file and the shared one
    wire.close()


def test_copies_no_job_names_and_half_made_copies_are_collected(local_runner: UserEnv) -> None:
    wire = Wire(local_runner)
    snapshot = wire.sync({"f": b"f\n"})
    job = wire.wait_ended(wire.submit_ok(JobSpec(argv=["true"], snapshot=snapshot)).id)
    work = local_runner.state_dir / "work"
    lost = work / "0123abcd"  # made, then the runner died before its job was recorded
    (lost / "sub").mkdir(parents=True)
    (lost / "sub" / "x").write_bytes(b"12345")
    os.chmod(lost / "sub", 0o500)  # a job may take write access away from its folders
    deep = "d/" * 1100  # deeper than Python recurses
    subprocess.run(["mkdir", "-p", deep], cwd=lost, check=True)
    subprocess.run(["touch", f"{deep}f"], cwd=lost, check=True)
    half = work / ".partial-4567"
    half.mkdir()
    (half / "y").write_bytes(b"123")
    report = _collect(wire, dry_run=False, keep_days=1)
    assert report.bytes == 3 and not half.exists() and lost.exists()  # the lost one is fresh
    report = _collect(wire, dry_run=False, keep_days=0)
    assert report.bytes >= 5 and not lost.exists()
    assert Path(job.cwd).is_dir()
    wire.close()


def test_the_keep_period_is_the_runners_setting_by_default(user_env: UserEnv) -> None:
    user_env.env["TETHER_SNAPSHOT_KEEP_DAYS"] = "0"
    assert user_env.runner("serve", "--daemon").returncode == 0
    wire = Wire(user_env)
    wire.sync(UNUSED)
    report = _collect(wire, dry_run=True, keep_days=None)
    assert (report.snapshots, report.blobs) == (1, _counted(UNUSED)[0] + 1)  # + the shared one
    wire.close()
    user_env.stop_runner()
    user_env.env["TETHER_SNAPSHOT_KEEP_DAYS"] = "two weeks"
    started = user_env.runner("serve", "--daemon")
    assert started.returncode != 0
    assert b"TETHER_SNAPSHOT_KEEP_DAYS='two weeks' is not a number of days" in started.stderr


def test_the_runner_collects_by_itself_until_it_stops(tmp_path: Path) -> None:
    paths = RunnerPaths(run_dir=tmp_path / "run", state_dir=tmp_path / "state")
    store = SyncStore(paths, keep_days=0)
    asked: list[float] = []

    async def usage(since: float) -> Usage:
        asked.append(since)
        return Usage(snapshots=frozenset(), trees=frozenset())

    async def scenario() -> None:
        await store.start(usage, Health(), collect_every_s=0.05)
        stale = store.files.partial_path(digest_of(b"stale"))
        stale.write_bytes(b"sta")
        await asyncio.to_thread(wait_for, lambda: not stale.exists(), 10)
        await store.close()
        count = len(asked)
        await asyncio.sleep(0.2)
        assert len(asked) == count  # stopped with the store

    asyncio.run(scenario())
    assert len(asked) >= 1 and asked[0] <= time.time()


@pytest.mark.parametrize("keep_days", [1, 14])
def test_a_half_upload_is_kept_for_a_day_at_most(local_runner: UserEnv, keep_days: float) -> None:
    wire = Wire(local_runner)
    data = b"half" * 1000
    digest = digest_of(data)
    wire.put_ok(digest, len(data), 0, data[:1000])
    partial = local_runner.state_dir / "store" / "partial" / digest
    hours_ago = time.time() - 13 * 3600
    os.utime(partial, (hours_ago, hours_ago))
    assert _collect(wire, dry_run=False, keep_days=keep_days).blobs == 0
    day_ago = time.time() - 25 * 3600
    os.utime(partial, (day_ago, day_ago))
    assert _collect(wire, dry_run=False, keep_days=keep_days).blobs == 1
    assert wire.wanted([digest]) == {digest: 0}
    wire.close()
