"""A mistyped option is answered with the verb's own usage, as git and kubectl do,
before anything connects."""

from __future__ import annotations

import inspect
import subprocess
import sys

import pytest

from tests.conftest import REPO, UserEnv, wait_for
from tui.cli.main import VERBS


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (["ls", "--bogus"], "usage: tether ls [-h] [-H HOST] [--all] [--json]"),
        (["pull", "3", "out", "--nope"], "usage: tether pull [-h] [-H HOST] [--to DIR] [-f]"),
        (["run", "--bogus", "--", "true"], "usage: tether run [-h] [-H HOST]"),
        (["--bogus"], "usage: tether [-h] [--version] [-H HOST] [--readonly] VERB ..."),
    ],
)
def test_an_unknown_option_shows_the_verbs_own_usage(argv: list[str], usage: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", *argv], cwd=REPO, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith(usage)
    assert f"error: unrecognized arguments: {argv[-1] if argv[0] != 'run' else '--bogus'}" in (
        done.stderr
    )


def test_every_verb_names_a_run_that_exists() -> None:
    """A `Verb` names its `Run` as text so that parsing need not import it; a
    misspelt name would otherwise show only when someone runs that verb."""
    for verb in VERBS.values():
        assert inspect.iscoroutinefunction(verb.load()), verb.run


def test_cancel_of_a_job_that_ignores_sigterm_says_at_once_what_it_waits_for(
    local_runner: UserEnv,
) -> None:
    script = "trap '' TERM; echo ready; while :; do sleep 0.1; done"
    job = int(local_runner.tether("run", "--", "bash", "-c", script, check=True).stdout)
    log = local_runner.job_dir(job) / "output.log"
    wait_for(lambda: log.exists() and b"ready" in log.read_bytes())
    cancel = local_runner.tether("cancel", str(job))  # the runner's grace: 3 s (conftest)
    assert cancel.returncode == 0, cancel.stderr
    assert cancel.stderr.decode().startswith(
        f"tether: job {job} got SIGTERM; waiting for it to stop (SIGKILL follows"
    )
    said = cancel.stdout.decode()
    assert said.startswith(f"cancelled job {job} (bash -c ") and said.endswith("): SIGKILL\n")
