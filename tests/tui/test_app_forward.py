"""The app forwards its remote host's running jobs' declared ports (``--port``) to
this machine, through a real sshd: the URL in the job's header answers, keeps
answering after every SSH connection is killed, moves past a busy local port,
and goes when the job ends."""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import Iterator

import pytest

from tests.ssh.serving import MARKER, listening, port_is_free, serve, try_get
from tests.sshd import SshClient, SshWorld
from tests.tui.pilot_helpers import make_app, screen_text, until, until_connected
from tui.forward.jobs import LOCAL_OFFSET


def port_with_free_shift() -> int:
    """A port free here whose forwarding port (10000 above) is free too."""
    for _ in range(200):
        port = random.randint(20000, 50000)
        if port_is_free(port) and port_is_free(port + LOCAL_OFFSET):
            return port
    raise AssertionError("no free pair of ports")


@pytest.fixture
def busy_local() -> Iterator[socket.socket]:
    """A listener here holding a port the app would like to use."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    yield sock
    sock.close()


async def page(url: str) -> str:
    return await asyncio.to_thread(try_get, url)


async def test_running_jobs_ports_are_forwarded_through_a_cut_and_closed_when_they_end(
    client_env: SshClient,
    ssh_world: SshWorld,
    busy_local: socket.socket,
) -> None:
    plain = port_with_free_shift()
    web = serve(client_env, ssh_world, plain, name="board")
    # The second job's forwarding port is taken here: the app must take the next one.
    taken = int(busy_local.getsockname()[1])
    crowded = taken - LOCAL_OFFSET
    assert crowded > 1024 and port_is_free(crowded)
    other = serve(client_env, ssh_world, crowded, name="notebook")
    try:
        app = make_app(["gpu"], watch_stats=False)
        async with app.run_test(size=(150, 30)) as pilot:
            await until_connected(pilot, app)
            monitor = app.current_monitor
            url = f"http://127.0.0.1:{plain + LOCAL_OFFSET}"
            header = f"{url} → gpu:{plain}"
            await until(
                pilot,
                lambda: monitor.forwards_of(monitor.job(web)) == [header],
                what="the first job's forward",
            )
            moved = await until(
                pilot, lambda: monitor.forwards_of(monitor.job(other)), what="the second's"
            )
            moved_port = int(moved[0].split()[0].rsplit(":", 1)[1])
            assert moved_port > taken and moved[0].endswith(f"→ gpu:{crowded}")
            # The header of the highlighted job (the newest) names its forward.
            await until(pilot, lambda: moved[0] in screen_text(app), what="the header")
            await pilot.press("down")
            await until(pilot, lambda: header in screen_text(app), what="the other header")

            assert MARKER in await page(url + "/")
            assert MARKER in await page(f"http://127.0.0.1:{moved_port}/")

            generation = monitor.generation
            assert ssh_world.gpu.kill_connections() > 0
            await until(
                pilot, lambda: monitor.generation > generation and monitor.connected, timeout=60
            )
            assert MARKER in await page(url + "/")  # the same URL, a new SSH connection

            await asyncio.to_thread(client_env.tether, "cancel", "-H", "gpu", str(web))
            await until(
                pilot, lambda: monitor.forwards_of(monitor.job(web)) == [], what="forward closed"
            )
            assert header not in screen_text(app)
            assert not listening(plain + LOCAL_OFFSET)
            await app.action_quit()
        assert not listening(moved_port)  # the app's forwards end with it
    finally:
        for job in (web, other):
            client_env.tether("cancel", "-H", "gpu", str(job))
