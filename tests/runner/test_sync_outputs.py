"""A job's outputs, listed and read over the wire: what it created or changed in
its copy (or wrote since it started, unsynced), every file under the paths
asked for, in path order and pages; never a file outside its directory, by
`..` or by a symlink."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from protocol.errors import ErrorCode
from protocol.jobs import JobInfo, JobSpec
from protocol.limits import MAX_OUTPUT_FILES
from protocol.messages import Cancel, Error, JobReply
from protocol.sync import ListOutputs, OutputChunk, OutputList, ReadOutput
from runner.sync.collect import remove_tree
from tests.conftest import UserEnv
from tests.runner.sync_wire import Exe, Tree, Wire, serving_runner

TREE: Tree = {
    "train.py": b"print('training')\n",
    "same_size.txt": b"aaaa\n",
    "grows.txt": b"small\n",
    "touched.txt": b"unchanged\n",
    "src/model.py": b"MODEL = 1\n",
    "src/util.py": b"UTIL = 1\n",
    "run.sh": Exe(b"#!/bin/sh\n"),
}
#: What the job does in its copy: a new file, a same-size change, a growth, a
#: touch that changes nothing, an executable output, links in and out of the tree.
JOB = (
    "mkdir -p out && head -c 100000 /dev/urandom > out/model.pt && "
    "printf 'bbbb\\n' > same_size.txt && echo more >> grows.txt && touch touched.txt && "
    "printf '#!/bin/sh\\n' > out/eval.sh && chmod +x out/eval.sh && "
    "ln -s /etc escape && ln -s /etc/hostname escape_file && ln -s train.py inside_link && "
    "ln -s ../src out/src_link"
)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserEnv]:
    with serving_runner(tmp_path_factory.mktemp("sync-outputs")) as env:
        yield env


@pytest.fixture(scope="module")
def job(runner: UserEnv) -> JobInfo:
    """A synced job that ran `JOB` in its copy."""
    wire = Wire(runner)
    snapshot = wire.sync(TREE)
    job = wire.wait_ended(wire.submit_ok(JobSpec(argv=["bash", "-c", JOB], snapshot=snapshot)).id)
    wire.close()
    assert job.state.value == "succeeded"
    return job


@pytest.fixture
def wire(runner: UserEnv) -> Iterator[Wire]:
    connection = Wire(runner)
    yield connection
    connection.close()


def _list(wire: Wire, job_id: int, paths: Sequence[str] = (), after: str | None = None) -> object:
    request = ListOutputs(id=wire.next_id(), job_id=job_id, paths=list(paths), after=after)
    return wire.ask(request)


def _listed(wire: Wire, job_id: int, paths: Sequence[str] = ()) -> list[str]:
    reply = _list(wire, job_id, paths)
    assert isinstance(reply, OutputList), reply
    assert not reply.more
    return [f.path for f in reply.files]


def _read(wire: Wire, job_id: int, path: str, offset: int = 0, max_bytes: int = 65536) -> object:
    request = ReadOutput(
        id=wire.next_id(), job_id=job_id, path=path, offset=offset, max_bytes=max_bytes
    )
    return wire.ask(request)


def test_with_no_paths_a_synced_job_lists_what_it_created_or_changed(
    wire: Wire, job: JobInfo
) -> None:
    reply = _list(wire, job.id)
    assert isinstance(reply, OutputList) and not reply.job_active and not reply.more
    assert [f.path for f in reply.files] == [
        "grows.txt",
        "out/eval.sh",
        "out/model.pt",
        "same_size.txt",
    ]
    by_path = {f.path: f for f in reply.files}
    assert by_path["out/eval.sh"].executable and not by_path["out/model.pt"].executable
    assert by_path["out/model.pt"].size == 100000
    model = Path(job.cwd) / "out" / "model.pt"
    assert by_path["out/model.pt"].mtime == model.stat().st_mtime


def test_paths_list_every_file_under_them_in_path_order(wire: Wire, job: JobInfo) -> None:
    assert _listed(wire, job.id, ["src"]) == ["src/model.py", "src/util.py"]
    assert _listed(wire, job.id, ["train.py", "src", "src/util.py"]) == [
        "src/model.py",
        "src/util.py",
        "train.py",
    ]
    # A link inside the tree is listed as the file it names; one in a folder asked
    # for is not followed.
    assert _listed(wire, job.id, ["inside_link"]) == ["train.py"]
    assert _listed(wire, job.id, ["out"]) == ["out/eval.sh", "out/model.pt"]


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("missing", "there is no 'missing' in job {id}'s working directory"),
        ("escape", "'escape' leads out of job {id}'s working directory (through a symbolic link"),
        ("escape/passwd", "'escape/passwd' leads out of job {id}'s working directory"),
        ("escape_file", "'escape_file' leads out of job {id}'s working directory"),
    ],
)
def test_a_path_missing_or_leading_out_is_refused(
    wire: Wire, job: JobInfo, path: str, message: str
) -> None:
    reply = _list(wire, job.id, ["src", path])
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_PATH
    assert message.format(id=job.id) in reply.message


def test_dot_dot_and_absolute_paths_are_refused_by_the_protocol(wire: Wire, job: JobInfo) -> None:
    for bad in ("../../etc/passwd", "/etc/passwd", "out/../../x"):
        listing = ListOutputs.model_construct(id=wire.next_id(), job_id=job.id, paths=[bad])
        reply = wire.ask(listing)
        assert isinstance(reply, Error) and reply.code is ErrorCode.INVALID_MESSAGE, reply
        read = ReadOutput.model_construct(
            id=wire.next_id(), job_id=job.id, path=bad, offset=0, max_bytes=10
        )
        reply = wire.ask(read)
        assert isinstance(reply, Error) and reply.code is ErrorCode.INVALID_MESSAGE, reply


def test_a_file_is_read_by_slices_with_its_size_mtime_and_mode(wire: Wire, job: JobInfo) -> None:
    model = (Path(job.cwd) / "out" / "model.pt").read_bytes()
    data = b""
    while len(data) < len(model):
        chunk = _read(wire, job.id, "out/model.pt", offset=len(data), max_bytes=30000)
        assert isinstance(chunk, OutputChunk), chunk
        assert (chunk.size, chunk.offset, chunk.executable) == (len(model), len(data), False)
        data += chunk.data
    assert data == model
    end = _read(wire, job.id, "out/model.pt", offset=len(model) + 5)
    assert isinstance(end, OutputChunk) and end.data == b"" and end.size == len(model)
    script = _read(wire, job.id, "out/eval.sh")
    assert isinstance(script, OutputChunk) and script.executable
    assert script.mtime == (Path(job.cwd) / "out" / "eval.sh").stat().st_mtime


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("escape/hostname", "goes through a symbolic link"),
        ("escape_file", "goes through a symbolic link"),
        ("inside_link", "goes through a symbolic link"),
        ("out/src_link/model.py", "goes through a symbolic link"),
        ("nothing/here", "there is no 'nothing/here' in job {id}'s working directory"),
        ("out", "'out' in job {id}'s working directory is not a regular file"),
    ],
)
def test_reading_through_a_link_or_something_not_a_file_is_refused(
    wire: Wire, job: JobInfo, path: str, message: str
) -> None:
    reply = _read(wire, job.id, path)
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_PATH, reply
    assert message.format(id=job.id) in reply.message


def test_a_long_listing_comes_in_pages_in_path_order(runner: UserEnv, wire: Wire) -> None:
    snapshot = wire.sync({"keep.txt": b"k\n"})
    names = ["a-b", "a.b", "a/b", "b", "z/y/x"]  # '-' and '.' sort before '/'
    script = (
        "mkdir -p many a z/y && for i in $(seq 1 2100); do : > many/$i; done && "
        "touch 'a-b' 'a.b' a/b b z/y/x && echo done"
    )
    job = wire.wait_ended(
        wire.submit_ok(JobSpec(argv=["bash", "-c", script], snapshot=snapshot)).id
    )
    assert job.state.value == "succeeded"
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        reply = _list(wire, job.id, after=after)
        assert isinstance(reply, OutputList), reply
        assert len(reply.files) <= MAX_OUTPUT_FILES
        seen += [f.path for f in reply.files]
        pages += 1
        if not reply.more:
            break
        after = reply.files[-1].path
    expected = sorted([f"many/{i}" for i in range(1, 2101)] + names)
    assert pages == 2 and seen == expected
    # Paged from the middle of a folder, and of paths asked for.
    reply = _list(wire, job.id, ["many", "z"], after="many/999")
    assert isinstance(reply, OutputList)
    assert [f.path for f in reply.files] == ["z/y/x"]
    reply = _list(wire, job.id, ["a", "b"], after="a/b")
    assert isinstance(reply, OutputList) and [f.path for f in reply.files] == ["b"]


def test_a_job_not_synced_lists_what_it_wrote_since_it_started_and_says_it_runs(
    wire: Wire, tmp_path: Path
) -> None:
    (tmp_path / "before.txt").write_text("old\n")
    past = time.time() - 3600
    os.utime(tmp_path / "before.txt", (past, past))
    script = "echo new > new.txt && touch listed && sleep 60"
    job = wire.submit_ok(JobSpec(argv=["bash", "-c", script], cwd=str(tmp_path)))
    deadline = time.monotonic() + 20
    while not (tmp_path / "listed").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    reply = _list(wire, job.id)
    assert isinstance(reply, OutputList) and reply.job_active
    assert [f.path for f in reply.files] == ["listed", "new.txt"]
    cancelled = wire.ask(Cancel(id=wire.next_id(), job_id=job.id))
    assert isinstance(cancelled, JobReply)
    reply = _list(wire, job.id, ["before.txt"])
    assert isinstance(reply, OutputList) and not reply.job_active
    assert [f.path for f in reply.files] == ["before.txt"]


def test_files_nested_deeper_than_python_recurses_are_listed(wire: Wire) -> None:
    snapshot = wire.sync({"keep.txt": b"k\n"})
    script = 'p=$(printf \'d/%.0s\' $(seq 1500)); mkdir -p "$p" && echo deep > "${p}f"'
    job = wire.wait_ended(
        wire.submit_ok(JobSpec(argv=["bash", "-c", script], snapshot=snapshot)).id
    )
    assert job.state.value == "succeeded"
    assert _listed(wire, job.id) == ["d/" * 1500 + "f"]
    chunk = _read(wire, job.id, "d/" * 1500 + "f")
    assert isinstance(chunk, OutputChunk) and chunk.data == b"deep\n"
    remove_tree(Path(job.cwd) / "d")  # pytest's own clean-up of tmp dirs recurses


def test_outputs_of_an_unknown_job_say_so(wire: Wire) -> None:
    reply = _list(wire, 424242)
    assert isinstance(reply, Error) and reply.code is ErrorCode.NO_SUCH_JOB
    reply = _read(wire, 424242, "x")
    assert isinstance(reply, Error) and reply.code is ErrorCode.NO_SUCH_JOB
