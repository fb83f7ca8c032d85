"""The Slurm commands against a real Slurm: the one-node cluster scripts/slurm-up starts.

Skipped, with the reason, where no Slurm controller answers `scontrol ping`. The tests
share the one node, so they run in one worker (a module fixture: --dist loadgroup), and
every job a test submits is cancelled when it ends, passed or not.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import pytest

from runner.jobs.slurm_jobs import SlurmJobs
from runner.slurm import commands
from runner.slurm.cluster import ClusterInfo
from runner.slurm.commands import SlurmError, cancel, query, submit
from runner.slurm.script import SlurmResources, batch_script
from runner.slurm.states import Outcome, SlurmJob, outcome
from tests.conftest import wait_for
from tests.slurm.conftest import node_cpus

pytestmark = pytest.mark.xdist_group("slurm")

#: Slurm's own pace: jobs start on its next scheduling pass, which events trigger.
SETTLE = 30.0
POLL = 0.5


@dataclass
class Jobs:
    """Submits batch scripts to the real cluster and remembers them to cancel after."""

    workdir: Path
    ids: list[int] = field(default_factory=list)

    def submit(self, argv: list[str], resources: Optional[SlurmResources] = None, **kw: str) -> int:
        script = self.workdir / f"job{len(self.ids)}.sbatch"
        script.write_text(
            batch_script(argv, resources or SlurmResources(), job_name="tether-test", **kw)
        )
        slurm_id = asyncio.run(submit(str(script), resources or SlurmResources()))
        self.ids.append(slurm_id)
        return slurm_id

    def job(self, slurm_id: int) -> Optional[SlurmJob]:
        return asyncio.run(query([slurm_id]))[slurm_id]

    def outcome(self, slurm_id: int) -> Outcome:
        return outcome(self.job(slurm_id))

    def wait_until(self, slurm_id: int, state: str, timeout: float = SETTLE) -> Outcome:
        def reached() -> Optional[Outcome]:
            seen = self.outcome(slurm_id)
            return seen if seen.state == state else None

        return wait_for(reached, timeout=timeout, interval=POLL)  # type: ignore[no-any-return]


@pytest.fixture
def jobs(cluster: ClusterInfo, tmp_path: Path) -> Iterator[Jobs]:
    tracked = Jobs(tmp_path)
    yield tracked
    if tracked.ids:
        subprocess.run(["scancel", *map(str, tracked.ids)], capture_output=True, timeout=30)


def test_probe_knows_the_cluster_and_its_default_partition(cluster: ClusterInfo) -> None:
    assert cluster.name == "tether"
    assert cluster.default_partition in [p.name for p in cluster.partitions]
    assert all(p.up for p in cluster.partitions)
    assert ("debug", "infinite") in [(p.name, p.time_limit) for p in cluster.partitions]
    assert cluster.accounting


def test_a_job_that_exits_3_is_failed_with_exit_3(jobs: Jobs) -> None:
    slurm_id = jobs.submit(["python3", "-c", "import sys; print('a b'); sys.exit(3)"])
    result = jobs.wait_until(slurm_id, "failed")
    assert (result.reason, result.exit_status) == ("failed: exit 3", 3)


def test_a_successful_job_succeeds_and_its_output_lands_in_its_file(
    jobs: Jobs, tmp_path: Path
) -> None:
    log = tmp_path / "out.log"
    slurm_id = jobs.submit(["sh", "-c", "echo hello from $SLURM_JOB_ID"], output=str(log))
    result = jobs.wait_until(slurm_id, "succeeded")
    assert result.exit_status == 0
    assert log.read_text() == f"hello from {slurm_id}\n"


def test_a_job_waits_with_slurms_reason_while_the_node_is_full_then_runs(jobs: Jobs) -> None:
    blocker = jobs.submit(["sleep", "300"], SlurmResources(cpus=node_cpus()))
    jobs.wait_until(blocker, "running")
    waiting = jobs.submit(["sleep", "300"])
    # Queued with no reason ("waiting to be scheduled") until Slurm's next pass.
    reasons = ("waiting for resources", "waiting: priority")
    wait_for(lambda: jobs.outcome(waiting).reason in reasons, timeout=SETTLE, interval=POLL)
    assert jobs.outcome(waiting).state == "queued"
    assert blocker in asyncio.run(cancel([blocker]))
    running = jobs.wait_until(waiting, "running")
    assert running.reason == f"running on {os.uname().nodename.split('.')[0]} (Slurm job {waiting})"


def test_cancel_says_whether_the_job_was_pending_or_running(jobs: Jobs) -> None:
    running = jobs.submit(["sleep", "300"], SlurmResources(cpus=node_cpus()))
    jobs.wait_until(running, "running")
    pending = jobs.submit(["sleep", "300"])
    jobs.wait_until(pending, "queued")

    # One squeue and one scancel for both (a group cancel's way), and an id
    # Slurm does not know is not an error: there was nothing to cancel.
    before = asyncio.run(cancel([pending, running, 999_999]))

    assert {slurm_id: job.state for slurm_id, job in before.items()} == {
        pending: "PENDING",
        running: "RUNNING",
    }
    assert jobs.wait_until(pending, "cancelled").reason == "cancelled"
    assert jobs.wait_until(running, "cancelled").reason == "cancelled"
    assert asyncio.run(cancel([running])) == {}, "a cancelled job has nothing left to cancel"


def test_scancel_behind_our_back_reads_as_cancelled(jobs: Jobs) -> None:
    slurm_id = jobs.submit(["sleep", "300"])
    jobs.wait_until(slurm_id, "running")
    subprocess.run(["scancel", str(slurm_id)], check=True, timeout=30)
    jobs.wait_until(slurm_id, "cancelled")


def test_an_unknown_partition_is_refused_in_slurms_words(jobs: Jobs) -> None:
    with pytest.raises(SlurmError) as refused:
        jobs.submit(["true"], SlurmResources(partition="no-such-partition"))
    assert str(refused.value) == (
        "Slurm refused the job: invalid partition specified: no-such-partition; "
        "Batch job submission failed: Invalid partition name specified"
    )


def test_a_time_over_the_partitions_limit_is_refused_in_slurms_words(jobs: Jobs) -> None:
    # scripts/slurm-up's "short" partition allows a minute (EnforcePartLimits=ALL).
    with pytest.raises(SlurmError) as refused:
        jobs.submit(["true"], SlurmResources(partition="short", time="5"))
    assert str(refused.value) == (
        "Slurm refused the job: Batch job submission failed: "
        "Requested time limit is invalid (missing or exceeds some limit)"
    )


def test_a_job_unknown_to_squeue_and_sacct_is_lost(cluster: ClusterInfo) -> None:
    result = outcome(asyncio.run(query([987654321]))[987654321])
    assert result.state == "lost"
    assert "vanished" in result.reason


def test_without_accounting_a_finished_job_still_has_its_exit_code(jobs: Jobs) -> None:
    slurm_id = jobs.submit(["sh", "-c", "exit 5"])
    jobs.wait_until(slurm_id, "failed")
    job = asyncio.run(query([slurm_id], accounting=False))[slurm_id]
    assert outcome(job).reason == "failed: exit 5"


def test_live_and_finished_jobs_are_asked_in_one_query(jobs: Jobs) -> None:
    done = jobs.submit(["true"])
    jobs.wait_until(done, "succeeded")
    live = jobs.submit(["sleep", "300"])
    jobs.wait_until(live, "running")
    answers = asyncio.run(query([done, live, 987654321]))
    assert [outcome(answers[i]).state for i in (done, live, 987654321)] == [
        "succeeded",
        "running",
        "lost",
    ]


@pytest.mark.skipif(os.geteuid() != 0, reason="submitting as another user needs root")
def test_a_job_submitted_by_another_local_user_runs(jobs: Jobs) -> None:
    script = batch_script(["id", "-un"], SlurmResources(), job_name="tether-test")
    submitted = subprocess.run(
        ["runuser", "-u", "nobody", "--", "sbatch", "--parsable"],
        input=script,
        capture_output=True,
        text=True,
        cwd="/tmp",
        timeout=30,
    )
    assert submitted.returncode == 0, submitted.stderr
    slurm_id = int(submitted.stdout.strip())
    jobs.ids.append(slurm_id)
    assert jobs.wait_until(slurm_id, "succeeded").exit_status == 0


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_a_job_over_its_time_limit_fails_for_time(jobs: Jobs) -> None:
    # Slurm counts time limits in minutes and checks them about every 30 s: this
    # takes 60 to 95 s however the cluster is set up.
    slurm_id = jobs.submit(["sleep", "300"], SlurmResources(time="1"))
    jobs.wait_until(slurm_id, "running")
    result = jobs.wait_until(slurm_id, "failed", timeout=180)
    assert result.reason == "failed: time limit"


def test_the_cancels_of_a_group_go_to_slurm_as_one_scancel(
    jobs: Jobs, monkeypatch: pytest.MonkeyPatch
) -> None:
    on_hold = SlurmResources(sbatch_args=("--hold",))
    held = [jobs.submit(["sleep", "300"], on_hold) for _ in range(4)]
    asked: list[list[str]] = []
    run = commands._run

    async def counted(argv: list[str], *args: object, **kwargs: object) -> object:
        asked.append(argv)
        return await run(argv, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(commands, "_run", counted)

    async def cancel_all() -> list[Optional[SlurmJob]]:
        table = SlurmJobs()
        return list(await asyncio.gather(*(table.cancel(i) for i in held)))

    before = asyncio.run(cancel_all())
    assert [job.state if job else None for job in before] == ["PENDING"] * 4
    assert [argv[0] for argv in asked] == ["squeue", "scancel"]
    assert sorted(map(int, asked[1][1:])) == sorted(held)
    for slurm_id in held:
        jobs.wait_until(slurm_id, "cancelled")
