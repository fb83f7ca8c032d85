"""The host layout is spelled in one module, and what travels to the host uses it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

from protocol import host_layout
from tests.conftest import REPO
from tui.install import host_facts
from tui.install.host_script import host_script
from tui.ssh.bootstrap import bootstrap_command

#: ``.local/share``, ``.local/state``, ``".local" / "state"``: any way of writing
#: the install root or the state dir under the home directory.
_SPELLING = re.compile(r"\.local\W{0,6}(share|state)\b")


def test_the_install_root_and_state_dir_are_spelled_only_in_the_host_layout() -> None:
    owner = REPO / "protocol" / "host_layout.py"
    spelled = {
        str(path.relative_to(REPO))
        for package in ("protocol", "runner", "tui")
        for path in (REPO / package).rglob("*.py")
        if _SPELLING.search(path.read_text(encoding="utf-8"))
    }
    assert spelled == {str(owner.relative_to(REPO))}


def test_the_host_facts_script_reports_the_layout_the_client_expects(tmp_path: Path) -> None:
    script = tmp_path / "facts.py"
    script.write_bytes(host_script(host_facts))
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    for xdg, state in (
        (None, tmp_path / ".local" / "state" / "tether"),
        (str(tmp_path / "xdg"), tmp_path / "xdg" / "tether"),
    ):
        done = subprocess.run(
            [sys.executable, "-I", "-S", str(script)],
            env={**env, **({"XDG_STATE_HOME": xdg} if xdg else {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        facts = json.loads(done.stdout.splitlines()[-1])
        root = tmp_path / ".local" / "share" / "tether" / "runner"
        assert facts["installed"]["root"] == str(root)
        assert facts["state"]["dir"] == str(state)
        assert Path(facts["state"]["dir"]) == host_layout.state_dir(
            tmp_path, {"XDG_STATE_HOME": xdg} if xdg else {}
        )


def test_the_bootstrap_looks_for_the_runner_where_the_installer_puts_it() -> None:
    expected = f"$HOME/{host_layout.INSTALL_ROOT}/$version/{host_layout.LAUNCHER}"
    assert expected in bootstrap_command("start", None)
