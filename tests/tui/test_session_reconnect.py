"""HostSession against a real local runner that dies under it."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import pytest

from protocol.jobs import JobSpec
from protocol.messages import LogChunk, LogEnd
from tests.conftest import UserEnv
from tui.hosts import make_session
from tui.session import SessionState


@pytest.fixture
def home(local_runner: UserEnv, monkeypatch: pytest.MonkeyPatch) -> UserEnv:
    monkeypatch.setenv("HOME", str(local_runner.home))
    monkeypatch.setenv("PYTHONPATH", local_runner.env["PYTHONPATH"])
    return local_runner


async def test_follow_resumes_from_offset_after_the_runner_is_killed(home: UserEnv) -> None:
    session = make_session("local")
    states: list[SessionState] = []
    session.listeners.append(states.append)
    await session.start()
    script = (
        "import time\nfor i in range(60):\n    print('line', i, flush=True); time.sleep(0.05)\n"
    )
    job = await session.submit(JobSpec(argv=[sys.executable, "-c", script]))
    received = b""
    kills = 0
    async for message in session.follow_log(job.id, 0):
        if isinstance(message, LogChunk):
            assert message.offset == len(received)
            received += message.data
            if kills < 2 and received.count(b"\n") >= 15 * (kills + 1):
                kills += 1
                pid = home.runner_pid()
                assert pid is not None
                os.kill(pid, signal.SIGKILL)
        else:
            assert isinstance(message, LogEnd)
            assert message.job.exit_code == 0
            break
    await session.close()
    assert kills == 2
    assert received == b"".join(b"line %d\n" % i for i in range(60))
    assert received == home.job_dir(job.id).joinpath("output.log").read_bytes()
    kinds = [s.kind for s in states]
    assert kinds.count("reconnecting") >= 2 and kinds[-1] == "closed"


async def test_session_reports_offline_when_the_runner_cannot_start(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "home"
    blocker.mkdir()
    # A file where the jobs directory belongs: the runner cannot start.
    jobs_dir = blocker / ".local" / "state" / "tether" / "jobs"
    jobs_dir.parent.mkdir(parents=True)
    jobs_dir.write_text("not a directory")
    monkeypatch.setenv("HOME", str(blocker))
    session = make_session("local", reconnect=False)
    with pytest.raises(Exception) as err:
        await session.start()
    assert "could not start the local runner" in str(err.value)
    assert f"cannot create {jobs_dir}" in str(err.value)
    assert session.state.kind == "offline"
    await session.close()


async def test_two_sessions_follow_one_job_at_once(home: UserEnv) -> None:
    a, b = make_session("local"), make_session("local")
    await a.start()
    await b.start()
    job = await a.submit(JobSpec(argv=["seq", "1", "20000"]))

    async def collect(session) -> bytes:  # type: ignore[no-untyped-def]
        data = b""
        async for message in session.follow_log(job.id, 0):
            if isinstance(message, LogChunk):
                data += message.data
        return data

    first, second = await asyncio.gather(collect(a), collect(b))
    expected = b"".join(b"%d\n" % i for i in range(1, 20001))
    assert first == expected and second == expected
    await a.close()
    await b.close()
