"""A synced job runs in a private copy of its snapshot: exactly the files sent,
with their modes and links; nothing it writes reaches the store or another
job's copy; a submit asked twice makes one job and one copy; a rerun gets a
fresh copy of the same snapshot."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.errors import ErrorCode
from protocol.jobs import JobInfo, JobSpec
from protocol.manifest import digest_of
from protocol.messages import Error, JobList, JobReply, ListJobs, Submit
from protocol.sync import Rerun
from tests.conftest import UserEnv
from tests.runner.sync_wire import Exe, Link, Tree, Wire, manifest_of, serving_runner

TREE: Tree = {
    "train.py": b"print('training')\n",
    "src/model.py": b"MODEL = 1\n",
    "src/data/points.csv": b"1,2\n3,4\n",
    "dir with spaces/naïve name.txt": b"unicode\n",
    "odd\nname.txt": b"newline in the name\n",
    "run.sh": Exe(b"#!/bin/sh\necho ran from $(pwd)\n"),
    "latest": Link("src/model.py"),
    "src/up": Link("../train.py"),
}


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserEnv]:
    with serving_runner(tmp_path_factory.mktemp("sync-jobs")) as env:
        yield env


@pytest.fixture
def wire(runner: UserEnv) -> Iterator[Wire]:
    connection = Wire(runner)
    yield connection
    connection.close()


def _copies(env: UserEnv) -> set[str]:
    work = env.state_dir / "work"
    return {p.name for p in work.iterdir()} if work.exists() else set()


def _log(env: UserEnv, job_id: int) -> bytes:
    return (env.job_dir(job_id) / "output.log").read_bytes()


def _run(wire: Wire, argv: list[str], snapshot: str, **spec: object) -> JobInfo:
    job = wire.submit_ok(JobSpec(argv=argv, snapshot=snapshot, **spec))  # type: ignore[arg-type]
    return wire.wait_ended(job.id)


def test_a_job_runs_in_a_copy_holding_exactly_the_snapshot(runner: UserEnv, wire: Wire) -> None:
    snapshot = wire.sync(TREE)
    script = (
        "find . -mindepth 1 ! -type d -print0 | sort -z; printf '\\n--\\n'; "
        "./run.sh; readlink latest src/up; cat src/up; "
        "test -x run.sh && test ! -x train.py && echo modes-kept"
    )
    job = _run(wire, ["bash", "-c", script], snapshot)
    assert job.state.value == "succeeded", _log(runner, job.id)
    listing, rest = _log(runner, job.id).split(b"\n--\n")
    found = sorted(p.decode()[2:] for p in listing.split(b"\0") if p)
    assert found == sorted(TREE)
    assert rest == (
        f"ran from {job.cwd}\nsrc/model.py\n../train.py\nprint('training')\nmodes-kept\n".encode()
    )
    assert job.snapshot is not None
    assert (job.snapshot.id, job.snapshot.files) == (snapshot, len(TREE))
    assert job.snapshot.bytes == sum(
        len(c.data if isinstance(c, Exe) else c) for c in TREE.values() if not isinstance(c, Link)
    )
    work = runner.state_dir / "work"
    assert Path(job.cwd).parent == work
    assert stat.S_IMODE(work.stat().st_mode) == 0o700


def test_a_job_writing_into_a_synced_file_changes_neither_the_store_nor_a_rerun(
    runner: UserEnv, wire: Wire
) -> None:
    snapshot = wire.sync({"weights.bin": b"original\n", "other.txt": b"x\n"})
    # Reads, then writes in place (the same inode: what a hardlinked copy would
    # pass on to the store) and appends.
    script = "cat weights.bin other.txt; printf 'changed\\n' 1<> weights.bin; echo y >> other.txt"
    writer = _run(wire, ["bash", "-c", script], snapshot)
    assert _log(runner, writer.id) == b"original\nx\n"
    assert (Path(writer.cwd) / "weights.bin").read_bytes() == b"changed\n\n"  # same size
    assert (Path(writer.cwd) / "other.txt").read_bytes() == b"x\ny\n"
    blob = runner.state_dir / "store" / "blobs" / digest_of(b"original\n")[:2]
    assert (blob / digest_of(b"original\n")).read_bytes() == b"original\n"

    reply = wire.ask(Rerun(id=wire.next_id(), job_id=writer.id))
    assert isinstance(reply, JobReply), reply
    rerun = wire.wait_ended(reply.job.id)
    assert rerun.cwd != writer.cwd and rerun.snapshot == writer.snapshot
    assert _log(runner, rerun.id) == b"original\nx\n"  # a fresh copy, not the one written


def test_a_submit_asked_again_with_its_key_makes_one_job_and_one_copy(
    runner: UserEnv, wire: Wire
) -> None:
    snapshot = wire.sync({"a.txt": b"a\n"})
    before = _copies(runner)
    spec = JobSpec(argv=["cat", "a.txt"], snapshot=snapshot)
    # Two at once (the second before the first is answered), then once more.
    first, second = (Submit(id=wire.next_id(), spec=spec, key="k-once") for _ in range(2))
    wire.send(first)
    wire.send(second)
    answers = [wire.answer(first.id), wire.answer(second.id)]
    third = wire.submit_ok(spec, key="k-once")
    assert all(isinstance(a, JobReply) for a in answers), answers
    assert {a.job.id for a in answers if isinstance(a, JobReply)} == {third.id}
    assert len(_copies(runner) - before) == 1
    assert _log(runner, wire.wait_ended(third.id).id) == b"a\n"


def test_a_job_starts_in_a_folder_of_its_snapshot_and_a_rerun_starts_there_too(
    runner: UserEnv, wire: Wire
) -> None:
    snapshot = wire.sync(TREE)
    job = _run(wire, ["bash", "-c", "pwd; ls"], snapshot, cwd="src", env={"X": "1"}, name="n")
    root = Path(job.cwd).parent
    assert _log(runner, job.id) == f"{root}/src\ndata\nmodel.py\nup\n".encode()
    reply = wire.ask(Rerun(id=wire.next_id(), job_id=job.id, key="rerun-1"))
    assert isinstance(reply, JobReply)
    again = wire.wait_ended(reply.job.id)
    assert Path(again.cwd).name == "src" and Path(again.cwd).parent != root
    assert (again.argv, again.name, again.env, again.snapshot) == (
        job.argv,
        "n",
        {"X": "1"},
        job.snapshot,
    )
    assert _log(runner, again.id) == f"{Path(again.cwd)}\ndata\nmodel.py\nup\n".encode()
    same = wire.ask(Rerun(id=wire.next_id(), job_id=job.id, key="rerun-1"))
    assert isinstance(same, JobReply) and same.job.id == again.id


@pytest.mark.parametrize(
    ("cwd", "message"),
    [
        ("nowhere", "working directory 'nowhere' is not a folder of snapshot"),
        ("train.py", "working directory 'train.py' is not a folder of snapshot"),
        ("latest", "working directory 'latest' is not a folder of snapshot"),
        ("../..", "must be a folder inside snapshot"),
        ("/tmp", "must be a folder inside snapshot"),
    ],
)
def test_a_working_directory_outside_the_snapshot_is_refused_leaving_nothing(
    runner: UserEnv, wire: Wire, cwd: str, message: str
) -> None:
    snapshot = wire.sync(TREE)
    before = _copies(runner), _job_count(wire)
    reply = wire.submit(JobSpec(argv=["true"], snapshot=snapshot, cwd=cwd))
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_CWD
    assert message in reply.message
    assert (_copies(runner), _job_count(wire)) == before


def test_a_submit_in_a_snapshot_missing_a_file_is_refused_leaving_nothing(
    runner: UserEnv, wire: Wire
) -> None:
    tree: Tree = {"here.txt": b"here\n", "gone.txt": b"never sent to the host\n"}
    manifest = wire.upload_blob(manifest_of(tree))
    wire.upload_blob(b"here\n")
    before = _copies(runner), _job_count(wire)
    reply = wire.submit(JobSpec(argv=["true"], snapshot=manifest))
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_SNAPSHOT
    assert "lacks the contents of 1 of its 2 distinct files" in reply.message
    assert "'gone.txt'" in reply.message
    never = wire.submit(JobSpec(argv=["true"], snapshot=digest_of(b"no such manifest")))
    assert isinstance(never, Error) and never.code is ErrorCode.BAD_SNAPSHOT
    assert (_copies(runner), _job_count(wire)) == before


def test_rerun_of_an_unknown_job_says_so(wire: Wire) -> None:
    reply = wire.ask(Rerun(id=wire.next_id(), job_id=99999))
    assert isinstance(reply, Error) and reply.code is ErrorCode.NO_SUCH_JOB
    assert reply.message == "no job 99999 on this runner"


def test_rerun_of_a_job_not_synced_runs_in_its_directory_again(
    runner: UserEnv, wire: Wire, tmp_path: Path
) -> None:
    job = wire.submit_ok(
        JobSpec(argv=["bash", "-c", "pwd; echo $Y"], cwd=str(tmp_path), env={"Y": "y"})
    )
    wire.wait_ended(job.id)
    reply = wire.ask(Rerun(id=wire.next_id(), job_id=job.id))
    assert isinstance(reply, JobReply)
    again = wire.wait_ended(reply.job.id)
    assert again.cwd == str(tmp_path) and again.snapshot is None
    assert _log(runner, again.id) == f"{tmp_path}\ny\n".encode()


def test_the_snapshot_of_a_job_is_kept_across_a_runner_restart(user_env: UserEnv) -> None:
    assert user_env.runner("serve", "--daemon").returncode == 0
    wire = Wire(user_env)
    snapshot = wire.sync({"f": b"f\n"})
    job = wire.submit_ok(JobSpec(argv=["cat", "f"], snapshot=snapshot), key="restart")
    wire.wait_ended(job.id)
    wire.close()
    user_env.stop_runner()
    assert user_env.runner("serve", "--daemon").returncode == 0
    wire = Wire(user_env)
    after = wire.job(job.id)
    assert after.snapshot == job.snapshot and after.cwd == job.cwd
    assert wire.submit_ok(JobSpec(argv=["cat", "f"], snapshot=snapshot), key="restart").id == job.id
    wire.close()


def _job_count(wire: Wire) -> int:
    reply = wire.ask(ListJobs(id=wire.next_id(), include_finished=True))
    assert isinstance(reply, JobList)
    return len(reply.jobs)
