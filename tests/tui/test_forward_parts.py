"""`tether forward`'s pure and local parts: what a target means, and the local
listener's choice of port (real sockets on 127.0.0.1, no SSH needed for that)."""

from __future__ import annotations

import asyncio
import socket

import pytest

from tui.errors import TetherError
from tui.forward.listener import PortForward
from tui.forward.target import ForwardTarget, local_port, parse_target


@pytest.mark.parametrize(
    ("text", "target"),
    [
        ("14", ForwardTarget(14, False)),
        (":6006", ForwardTarget(6006, True)),
        (" 7 ", ForwardTarget(7, False)),
    ],
)
def test_targets(text: str, target: ForwardTarget) -> None:
    assert parse_target(text) == target


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("web", "job id or :PORT"),
        (":", "job id or :PORT"),
        (":0", "from 1 to 65535"),
        (":65536", "from 1 to 65535"),
        ("-3", "job id or :PORT"),
    ],
)
def test_bad_targets(text: str, message: str) -> None:
    with pytest.raises(TetherError, match=message):
        parse_target(text)


def test_local_port() -> None:
    assert local_port(None) is None
    assert local_port("8080") == 8080
    with pytest.raises(TetherError, match="--local takes a port number"):
        local_port("eighty")
    with pytest.raises(TetherError, match="--local must be from 1 to 65535"):
        local_port("70000")


def _no_connection() -> asyncio.Future[object]:
    raise AssertionError("nothing connects in these tests")


async def test_a_busy_port_moves_up_and_only_loopback_is_bound() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        pf = PortForward("gpu", 6006, _no_connection, lambda _: None)  # type: ignore[arg-type]
        got = await pf.listen(busy)
        try:
            assert got > busy
            assert pf.describe() == f"http://127.0.0.1:{got} → gpu:6006"
            assert pf._server is not None
            assert {s.getsockname()[0] for s in pf._server.sockets} == {"127.0.0.1"}
        finally:
            await pf.close()
