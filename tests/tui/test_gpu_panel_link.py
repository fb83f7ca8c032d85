"""The GPU panel of a host with no readings says why: connecting, reconnecting or
offline, not "waiting for GPU readings" for a host that cannot send any."""

from __future__ import annotations

import socket

from tests.conftest import UserEnv
from tests.tui.pilot_helpers import make_app, screen_text, until
from tui.app.gpu_panel import waiting_text


def test_the_waiting_text_follows_the_link() -> None:
    assert waiting_text("connected") == "waiting for GPU readings…"
    assert waiting_text("reconnecting") == "no GPU readings yet: reconnecting…"
    assert waiting_text("offline").startswith("no GPU readings: the host is offline")


async def test_an_unreachable_hosts_gpu_panel_says_it_is_reconnecting(app_env: UserEnv) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: nothing listens there
    ssh_dir = app_env.home / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text(f"Host nowhere\n  HostName 127.0.0.1\n  Port {port}\n")
    app = make_app(["nowhere"], watch_stats=False)
    async with app.run_test(size=(100, 30)) as pilot:
        text = await until(
            pilot,
            lambda: "no GPU readings yet: reconnecting…" in screen_text(app) and screen_text(app),
            what="the GPU panel saying why it has no readings",
        )
        assert "waiting for GPU readings" not in text
        await app.action_quit()
