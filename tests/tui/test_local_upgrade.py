"""The runner on this machine after an upgrade of tether: a daemon left by the
older install speaks the last protocol, refuses this client's hello, and is
replaced on first contact (no SSH, nothing to install: it is this install's)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

from protocol.version import PROTOCOL_VERSION, __version__
from tests.conftest import PYTHON, REPO, make_user_env


def _older_install(root: Path) -> Path:
    """The runner and protocol packages as they are, but stating the last protocol."""
    for package in ("runner", "protocol"):
        shutil.copytree(
            REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    version = root / "protocol" / "version.py"
    text = re.sub(r'__version__ = "[^"]+"', '__version__ = "0.0.1"', version.read_text())
    text = re.sub(r"PROTOCOL_VERSION = \d+", f"PROTOCOL_VERSION = {PROTOCOL_VERSION - 1}", text)
    version.write_text(text)
    return root


def test_a_local_runner_of_the_last_protocol_is_replaced_on_first_contact(tmp_path: Path) -> None:
    older = _older_install(tmp_path / "older")
    env = make_user_env(tmp_path)
    subprocess.run(
        [PYTHON, "-m", "runner", "serve", "--daemon"],
        env={**env.env, "PYTHONPATH": str(older)},
        cwd=older,
        check=True,
        capture_output=True,
        timeout=60,
    )
    old_pid = env.runner_pid()
    assert old_pid is not None
    try:
        listed = env.tether("ls", "--json", check=True)
        assert json.loads(listed.stdout) == []
        status = json.loads(env.tether("status", "--json", check=True).stdout)
        assert status["runner_version"] == __version__
        assert env.runner_pid() not in (None, old_pid)
    finally:
        env.stop_runner()
