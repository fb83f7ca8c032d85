"""The heartbeat against a real runner that freezes: a parameter, so it takes a second."""

from __future__ import annotations

import asyncio
import os
import signal
import time

import pytest

from protocol.connection.events import Heartbeat
from protocol.exchanges import GET_STATUS
from protocol.messages import GetStatus
from tests.conftest import UserEnv
from tui.errors import ConnectionLost
from tui.rpc import RunnerConnection

FAST = Heartbeat(interval_s=0.2, timeout_s=0.8)


async def _connect(home: UserEnv, heartbeat: Heartbeat) -> RunnerConnection:
    reader, writer = await asyncio.open_unix_connection(str(home.socket))
    conn = RunnerConnection(reader, writer, "local", heartbeat)
    await conn.open(timeout=5)
    return conn


async def test_a_frozen_runner_is_declared_dead_within_the_timeout(
    local_runner: UserEnv,
) -> None:
    conn = await _connect(local_runner, FAST)
    lost: list[ConnectionLost] = []
    conn.on_lost = lost.append
    pid = local_runner.runner_pid()
    assert pid is not None
    os.kill(pid, signal.SIGSTOP)
    try:
        frozen_at = time.monotonic()
        while not lost and time.monotonic() - frozen_at < 5:
            await asyncio.sleep(0.05)
        noticed_after = time.monotonic() - frozen_at
    finally:
        os.kill(pid, signal.SIGCONT)
        await conn.close()
    assert lost, "the heartbeat never declared the frozen link dead"
    assert "no answer for" in str(lost[0]) and "link dead?" in str(lost[0])
    # One interval to notice, and the timeout itself.
    assert FAST.timeout_s <= noticed_after <= FAST.timeout_s + FAST.interval_s + 0.5
    with pytest.raises(ConnectionLost):
        await conn.call(GET_STATUS, lambda i: GetStatus(id=i))


async def test_a_quiet_but_answering_runner_stays_connected(local_runner: UserEnv) -> None:
    conn = await _connect(local_runner, FAST)
    try:
        await asyncio.sleep(4 * FAST.timeout_s)  # no requests: only pings and pongs
        assert conn.alive
        status = await conn.call(GET_STATUS, lambda i: GetStatus(id=i), timeout=5)
        assert status.pid == local_runner.runner_pid()
    finally:
        await conn.close()
