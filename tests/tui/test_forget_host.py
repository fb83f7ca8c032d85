"""A host added by mistake can be closed and forgotten from the host picker."""

from __future__ import annotations

import json
import socket

from tests.conftest import UserEnv
from tests.tui.pilot_helpers import make_app, screen_text, until, until_connected
from tui.app.host_list import hosts_path


async def test_d_in_the_host_picker_closes_and_forgets_the_host_after_asking(
    app_env: UserEnv,
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    ssh_dir = app_env.home / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text(f"Host typo\n  HostName 127.0.0.1\n  Port {port}\n")
    hosts_path().parent.mkdir(parents=True, exist_ok=True)
    hosts_path().write_text(json.dumps(["typo", "other"]))
    app = make_app(["", "typo"], watch_stats=False, remember_hosts=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        await until(pilot, lambda: "typo" in screen_text(app).splitlines()[0], what="the tab")
        await pilot.press("h")
        await until(pilot, lambda: "d: forget" in screen_text(app), what="the host picker")
        await pilot.press("down", "d")
        await until(pilot, lambda: "Close typo and forget it?" in screen_text(app), what="asked")
        await pilot.press("y")
        await until(
            pilot,
            lambda: "typo" not in screen_text(app).splitlines()[0],
            what="the tab gone",
        )
        assert [m.host for m in app.monitors] == [""]
        assert json.loads(hosts_path().read_text()) == ["other"]
        # The last open host stays: there is nothing to show without one.
        await pilot.press("h")
        await until(pilot, lambda: "d: forget" in screen_text(app), what="the host picker")
        await pilot.press("d")
        await until(
            pilot, lambda: "cannot be closed" in " ".join(screen_text(app).split()), what="refused"
        )
        await app.action_quit()
