"""The package boundaries, checked on the real import graph in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def _modules_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=REPO)
    return set(out.stdout.decode().split())


def test_cli_verbs_never_pay_for_textual() -> None:
    loaded = _modules_after("import tui.cli.main, tui.cli.verbs, tui.session, tui.hosts")
    assert "textual" not in loaded
    assert "runner" not in loaded


def test_runner_never_imports_the_client_side() -> None:
    loaded = _modules_after(
        "import runner.host.cli, runner.server.daemon, runner.server.handlers, runner.jobs.shim"
    )
    assert not {m for m in loaded if m == "tui" or m.startswith("tui.")}
    assert not {"textual", "asyncssh"} & loaded


def test_the_job_shim_starts_without_pydantic_or_msgpack() -> None:
    loaded = _modules_after("import runner.jobs.shim")
    assert not {"pydantic", "msgpack", "psutil"} & loaded
