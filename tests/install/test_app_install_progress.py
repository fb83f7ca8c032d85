"""The app's sessions show a first-contact install as a connecting step, not on stderr."""

from __future__ import annotations

import json
import subprocess
import sys

from protocol.version import __version__
from tests.install.conftest import FreshHost

_PROBE = """
import asyncio, json
from tui.hosts import make_app_session

async def main():
    session = make_app_session("gpu")
    seen = []
    session.listeners.append(lambda s: seen.append([s.kind, s.reason]))
    await session.start()
    await session.close()
    print(json.dumps(seen))

asyncio.run(main())
"""


def test_app_session_reports_the_install_in_its_state(fresh_host: FreshHost) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=fresh_host.client.env,
        capture_output=True,
        timeout=180,
        cwd=fresh_host.client.home,
    )
    assert result.returncode == 0, result.stderr
    assert b"installing" not in result.stderr  # nothing behind the app's back
    states = json.loads(result.stdout)
    steps = [reason for kind, reason in states if kind == "connecting"]
    assert any(r.startswith(f"installing tether {__version__} runner on gpu") for r in steps)
    assert any("done in" in r for r in steps), steps
    assert states[-2][0] == "connected" and states[-1][0] == "closed"
    assert fresh_host.installed_versions() == [__version__]
