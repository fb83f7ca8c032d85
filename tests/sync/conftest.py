"""A session on a real local runner, in the test's own HOME, for the sync tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import UserEnv
from tui.hosts import make_session
from tui.session import HostSession


@pytest.fixture
def home(local_runner: UserEnv, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> UserEnv:
    """The runner's HOME as this process's, with the client's cache inside it."""
    monkeypatch.setenv("HOME", str(local_runner.home))
    monkeypatch.setenv("PYTHONPATH", local_runner.env["PYTHONPATH"])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "client-cache"))
    return local_runner


@pytest.fixture
async def session(home: UserEnv) -> AsyncIterator[HostSession]:
    opened = make_session("local")
    await opened.start()
    try:
        yield opened
    finally:
        await opened.close()
