"""A host whose disk fills during a sync says so, and keeps no half of anything:
an upload keeps the bytes it confirmed (and goes on from there once there is
room) but no blob counted whole; a copy that does not fit leaves neither a job
nor a partial copy. The state dir is a real 2 MiB tmpfs."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.errors import ErrorCode
from protocol.jobs import JobSpec
from protocol.limits import MAX_PUT_BYTES
from protocol.manifest import digest_of
from protocol.messages import Error, JobList, ListJobs
from runner.sync.blobs import BlobFiles
from tests.conftest import UserEnv
from tests.runner.sync_wire import Wire
from tests.runner.test_disk_full import _fill, _free, serving_on_small_disk

FULL = (
    "the state dir ~/.local/state/tether is full (0 B free of 2.0 MiB): "
    "free space there or set XDG_STATE_HOME"
)


@pytest.fixture
def small_runner(user_env: UserEnv, tmp_path: Path) -> Iterator[UserEnv]:
    with serving_on_small_disk(user_env, tmp_path) as env:
        yield env


def test_an_upload_that_fills_the_disk_says_so_and_resumes_once_there_is_room(
    small_runner: UserEnv,
) -> None:
    wire = Wire(small_runner)
    state = small_runner.state_dir
    filler = _fill(state, max(0, _free(state) - (500 << 10)))
    data = os.urandom(1 << 20)
    digest = digest_of(data)
    have = 0
    reply: object = None
    while have < len(data):
        reply = wire.put(digest, len(data), have, data[have : have + MAX_PUT_BYTES])
        if isinstance(reply, Error):
            break
        have = reply.blobs[0].have  # type: ignore[attr-defined]
    assert isinstance(reply, Error) and reply.code is ErrorCode.DISK_FULL, reply
    assert reply.message == FULL
    files = BlobFiles(state / "store")
    held = wire.wanted([digest])[digest]
    assert have <= held < len(data) and files.whole_size(digest) is None
    assert files.partial_path(digest).read_bytes() == data[:held]  # what it took, in order

    filler.unlink()
    while held < len(data):
        held = wire.put_ok(digest, len(data), held, data[held : held + MAX_PUT_BYTES])
    assert wire.wanted([digest]) == {}
    assert files.whole_path(digest).read_bytes() == data
    wire.close()


def test_a_copy_that_does_not_fit_leaves_no_job_and_no_partial_copy(
    small_runner: UserEnv,
) -> None:
    wire = Wire(small_runner)
    payload = os.urandom(600 << 10)
    snapshot = wire.sync({"weights.bin": payload, "small.txt": b"small\n"})
    state = small_runner.state_dir
    filler = _fill(state, max(0, _free(state) - (300 << 10)))
    reply = wire.submit(JobSpec(argv=["true"], snapshot=snapshot), key="full-1")
    assert isinstance(reply, Error) and reply.code is ErrorCode.DISK_FULL, reply
    assert reply.message.startswith("the state dir ~/.local/state/tether is full (")
    assert list((state / "work").iterdir()) == []
    jobs = wire.ask(ListJobs(id=wire.next_id(), include_finished=True))
    assert isinstance(jobs, JobList) and jobs.jobs == []

    filler.unlink()
    job = wire.submit_ok(JobSpec(argv=["sha256sum", "weights.bin"], snapshot=snapshot), "full-1")
    job = wire.wait_ended(job.id)
    assert job.state.value == "succeeded"
    log = (small_runner.job_dir(job.id) / "output.log").read_bytes()
    assert log == f"{digest_of(payload)}  weights.bin\n".encode()
    wire.close()
