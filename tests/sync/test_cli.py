"""The verbs as a person types them, against a real local runner: `run --sync`,
`rerun`, `pull`, `gc`, `ls --json`, and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import UserEnv
from tests.sshd import one_line_error
from tests.sync.trees import DESCRIBE, describe, git_list, make_repo, write


def _output(env: UserEnv, job_id: int) -> bytes:
    logs = env.tether("logs", "-f", str(job_id), timeout=90)
    assert logs.returncode == 0, logs.stderr.decode()
    return logs.stdout


def test_run_sync_prints_the_id_and_the_job_sees_the_tree(
    local_runner: UserEnv, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    run = local_runner.tether("run", "--sync", str(repo), "--", "python3", "-c", DESCRIBE)
    assert run.returncode == 0, run.stderr.decode()
    assert run.stdout.decode().strip().isdigit(), run.stdout  # the id, and nothing else
    assert b"\r" not in run.stderr  # no progress line when stderr is not a terminal
    job_id = int(run.stdout)
    assert "not sent: src/link-outside: a symlink to ../../outside.txt" in run.stderr.decode()
    expected = describe(repo, git_list(repo) - {"src/link-outside"})
    assert json.loads(_output(local_runner, job_id)) == expected
    listed = json.loads(local_runner.tether("ls", "--json", check=True).stdout)
    (job,) = [j for j in listed if j["id"] == job_id]
    assert job["snapshot"]["files"] == len(expected)

    rerun = local_runner.tether("rerun", str(job_id), check=True)
    again = int(rerun.stdout)
    assert again != job_id
    assert json.loads(_output(local_runner, again)) == expected


def test_sync_defaults_to_the_current_folder_and_cwd_is_inside_it(
    local_runner: UserEnv, tmp_path: Path
) -> None:
    tree = local_runner.home / "project"
    write(tree, "sub/here.txt", "inside")
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "run", "--sync", "--cwd", "sub", "--", "cat", "here.txt"],
        env=local_runner.env,
        cwd=tree,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    assert _output(local_runner, int(done.stdout)) == b"inside"


def test_pull_copies_the_outputs_to_tether_out(local_runner: UserEnv, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(
        tree, "train.py", "import os\nos.makedirs('ckpt')\nopen('ckpt/last.pt', 'w').write('w')\n"
    )
    job_id = int(
        local_runner.tether(
            "run", "--sync", str(tree), "--", "python3", "train.py", check=True
        ).stdout
    )
    _output(local_runner, job_id)
    pull = local_runner.tether("pull", str(job_id), check=True)
    dest = local_runner.home / "tether-out" / "local" / str(job_id)
    assert (dest / "ckpt" / "last.pt").read_text() == "w"
    assert pull.stdout.decode().startswith("pulled 1 file (1 B) to ")
    again = local_runner.tether("pull", str(job_id), "--to", str(dest), check=True)
    assert "pulled 0 files (0 B)" in again.stdout.decode()
    assert "1 already up to date" in again.stdout.decode()


def test_bad_inputs_are_one_line_errors(local_runner: UserEnv, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree, "big.bin", b"\0" * 5000)
    cases = {
        ("pull", "1", "../etc"): "cannot pull ../etc",
        ("pull", "1", "/etc/passwd"): "is absolute",
        ("run", "--sync", str(tree), "--sync-max", "lots", "--", "true"): "--sync-max takes",
        ("run", "--sync-max", "1G", "--", "true"): "go with --sync",
        ("run", "--sync", str(tree), "--cwd", "/abs", "--", "true"): "inside the snapshot",
        ("run", "--sync", str(tmp_path / "missing"), "--", "true"): "is not a folder",
        ("run", "--sync", str(tree), "--sync-max", "4K", "--", "true"): "--sync-max 1M",
        ("pull", "999"): "999",
        ("rerun", "999"): "999",
    }
    for args, expected in cases.items():
        assert expected in one_line_error(local_runner.tether(*args)), args


def test_gc_reports_what_it_frees(local_runner: UserEnv, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree, "data.bin", b"d" * 10_000)
    job_id = int(local_runner.tether("run", "--sync", str(tree), "--", "true", check=True).stdout)
    _output(local_runner, job_id)
    dry = local_runner.tether("gc", "--dry-run", "--keep-days", "0", check=True).stdout.decode()
    assert dry.startswith("would remove ")
    done = local_runner.tether("gc", "--keep-days", "0", check=True).stdout.decode()
    assert done.startswith("removed ")
    assert "0 snapshots" not in dry
