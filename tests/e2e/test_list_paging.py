"""A listing longer than one reply (`MAX_LIST_JOBS`) is paged on the wire, never
cut: 2,050 queued jobs against a real runner, all of them in ``ls --all``; and
cancelling them as a group answers with a count, not a list past a frame."""

from __future__ import annotations

import asyncio
import json

import pytest

from protocol.jobs import JobSpec
from protocol.limits import MAX_LIST_JOBS
from tests.conftest import UserEnv
from tui.local import open_local
from tui.session import HostSession

MANY = MAX_LIST_JOBS + 50


def test_every_job_is_listed_past_one_page(
    local_runner: UserEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in local_runner.env.items():
        monkeypatch.setenv(key, value)
    head = int(local_runner.tether("run", "--", "sleep", "600", check=True).stdout)

    async def submit_many() -> None:
        session = HostSession("local", open_local)
        await session.start()
        try:
            for index in range(MANY):  # queued behind `head`: no process each
                await session.submit(
                    JobSpec(argv=["true"], name=f"w{index}", after=[head], group="many")
                )
        finally:
            await session.close()

    asyncio.run(submit_many())
    try:
        listed = json.loads(local_runner.tether("ls", "--all", "--json", check=True).stdout)
        ids = [job["id"] for job in listed]
        assert len(ids) == MANY + 1 > MAX_LIST_JOBS
        assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)  # no page twice
        assert ids[-1] == head
        # Cancelling them all answers with the first 200 and the count, in one frame.
        out = local_runner.tether("cancel", "--group", "many", check=True, timeout=300)
        lines = out.stdout.decode().splitlines()
        assert sum(line.startswith("cancelled job ") for line in lines) == 200
        assert lines[-2:] == [
            f"… and {MANY - 200:,} more",
            f"cancelled {MANY:,} jobs of group many",
        ]
    finally:
        local_runner.tether("cancel", str(head))  # and every job waiting for it
