"""The package boundaries, checked on the real import graph in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional

import pytest

from tests.conftest import REPO, UserEnv

#: What a verb's own start must not pay for until it uses it (issue 19): pydantic
#: and msgpack for messages, asyncio for a connection, asyncssh for SSH, textual
#: for the app.
HEAVY = frozenset({"pydantic", "msgpack", "asyncio", "asyncssh", "textual"})


def _modules_after(
    statement: str, env: Optional[Dict[str, str]] = None, cwd: Path = REPO
) -> set[str]:
    """The modules loaded once `statement` ran, listed on stderr (stdout is the verb's)."""
    code = f"{statement}\nimport sys\nsys.stderr.write('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, check=True, cwd=cwd, env=env
    )
    return set(out.stderr.decode().split())


def test_cli_verbs_never_pay_for_textual() -> None:
    loaded = _modules_after(
        "import tui.cli.main, tui.cli.session_runs, tui.cli.install_runs, tui.session, tui.hosts"
    )
    assert "textual" not in loaded
    assert "runner" not in loaded


@pytest.mark.parametrize(
    "argv",
    [["--version"], ["--help"], ["ls", "--help"], ["run", "--help"], ["ls", "--bogus"]],
    ids=["version", "help", "verb-help", "run-help", "usage-error"],
)
def test_the_parser_answers_without_loading_what_the_verbs_use(argv: List[str]) -> None:
    """``tether --version``, ``--help``, ``VERB --help`` and a usage error end in
    argparse; none of them may wait for pydantic, asyncio or asyncssh to load."""
    loaded = _modules_after(
        "import contextlib, tui.cli.main\n"
        f"with contextlib.suppress(SystemExit):\n    tui.cli.main.main({argv!r})"
    )
    assert sorted(HEAVY & loaded) == []
    assert "tui.cli.main" in loaded


def test_ls_on_this_machine_loads_neither_ssh_nor_textual(local_runner: UserEnv) -> None:
    """The whole of ``tether ls`` against the local runner, past the session's
    start: SSH (and SFTP, which rides on it) is for ``-H HOST`` only."""
    loaded = _modules_after(
        "from tui.cli.main import main\nassert main(['ls']) == 0",
        env=local_runner.env,
        cwd=local_runner.home,
    )
    assert "tui.session" in loaded  # it did talk to the runner
    assert sorted({"asyncssh", "textual", "tui.remote", "tui.ssh"} & loaded) == []


def test_importing_the_protocol_builds_no_model() -> None:
    """Every pydantic model in protocol/ is built on first use (``defer_build``):
    built at import, protocol.jobs' three took 30 ms of every verb's start."""
    code = (
        "import importlib, pkgutil, protocol\n"
        "from pydantic import BaseModel\n"
        "for m in pkgutil.walk_packages(protocol.__path__, 'protocol.'):\n"
        "    importlib.import_module(m.name)\n"
        "def below(c):\n"
        "    for s in c.__subclasses__():\n"
        "        yield s\n"
        "        yield from below(s)\n"
        "ours = {c for c in below(BaseModel) if c.__module__.startswith('protocol.')}\n"
        "print(len(ours), *sorted(c.__qualname__ for c in ours if c.__pydantic_complete__))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=REPO)
    count, *built = out.stdout.decode().split()
    assert int(count) > 50  # the walk found the models
    assert built == []


def test_runner_never_imports_the_client_side() -> None:
    loaded = _modules_after(
        "import runner.host.cli, runner.server.daemon, runner.server.handlers, runner.jobs.shim"
    )
    assert not {m for m in loaded if m == "tui" or m.startswith("tui.")}
    assert not {"textual", "asyncssh"} & loaded


def test_the_job_shim_starts_without_pydantic_or_msgpack() -> None:
    loaded = _modules_after("import runner.jobs.shim")
    assert not {"pydantic", "msgpack", "psutil"} & loaded
