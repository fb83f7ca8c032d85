"""The runner hands jobs to a real Slurm (scripts/slurm-up's one-node cluster), end
to end through the CLI: byte-exact logs and exit codes from the shim inside the
allocation, Slurm's pending reason while the node is full, cancel pending and
running, a runner SIGKILLed while its Slurm job runs, ``scancel`` behind tether's
back, Slurm's refusal at submit (nothing queued), and ``--nodes``' per-node
environment (one node here: the cluster has one)."""

from __future__ import annotations

import datetime as dt
import getpass
import json
import subprocess
import time
from collections.abc import Iterator

import pytest

from runner.slurm.cluster import ClusterInfo
from tests.conftest import UserEnv, wait_for
from tests.slurm.conftest import node_cpus
from tests.stats.conftest import RECORDING
from tests.training.test_queue_order import _error, _jobs, _kill_runner, _release, _state

pytestmark = pytest.mark.xdist_group("slurm")

#: Holds until the test writes release-<id> into HOME, then exits with what it says.
HOLD = (
    'echo "job=$TETHER_JOB_ID slurm=$SLURM_JOB_ID"; '
    'while [ ! -e "$HOME/release-$TETHER_JOB_ID" ]; do sleep 0.1; done; '
    'exit "$(cat "$HOME/release-$TETHER_JOB_ID")"'
)


@pytest.fixture
def slurm_env(user_env: UserEnv, cluster: ClusterInfo) -> Iterator[UserEnv]:
    yield user_env
    for job in _jobs(user_env).values():
        if job["slurm_id"] is not None and job["state"] in ("queued", "running"):
            subprocess.run(["scancel", str(job["slurm_id"])], capture_output=True, timeout=30)


def _run(env: UserEnv, *args: str) -> int:
    return int(env.tether("run", "--slurm", *args, check=True).stdout)


def test_a_slurm_job_runs_its_log_is_byte_exact_and_its_exit_code_comes_back(
    slurm_env: UserEnv,
) -> None:
    env = slurm_env
    script = 'printf "a\\x00b\\r\\n"; printf "no newline"; echo >&2 "slurm=$SLURM_JOB_ID"; exit 3'
    job = _run(env, "--", "bash", "-c", script)
    listed = _state(env, job, "failed", timeout=60)
    assert (listed["exit_code"], listed["executor"]) == (3, "slurm")
    slurm_id = listed["slurm_id"]
    assert isinstance(slurm_id, int)
    log = env.tether("logs", "--raw", str(job), check=True).stdout
    assert log.startswith(b"a\x00b\r\nno newline")
    assert f"slurm={slurm_id}".encode() in log
    done = _state(env, _run(env, "--", "true"), "succeeded", timeout=60)
    assert done["exit_code"] == 0


def test_pending_with_slurms_reason_then_cancel_pending_and_running(slurm_env: UserEnv) -> None:
    env = slurm_env
    big = _run(env, "--cpus", str(node_cpus()), "--", "bash", "-c", HOLD)
    _state(env, big, "running", timeout=60)
    small = _run(env, "--", "true")
    later = _run(env, "--", "echo", "ran once the node was free")

    def waiting(job_id: int) -> dict | None:
        job = _jobs(env)[job_id]
        said = ("waiting for resources", "waiting: priority")  # after Slurm's next pass
        return job if job["state"] == "queued" and job["reason"] in said else None

    pending = wait_for(lambda: waiting(small), timeout=60, interval=0.5)
    assert wait_for(lambda: waiting(later), timeout=60, interval=0.5)
    row = next(
        r
        for r in env.tether("ls", check=True).stdout.decode().splitlines()
        if r.startswith(f"{small} ")
    )
    assert pending["reason"] in row

    out = env.tether("cancel", str(small), check=True).stdout.decode()
    assert out == f"cancelled job {small} (true): cancelled while pending in Slurm\n"
    assert _jobs(env)[small]["reason"] == "cancelled while pending in Slurm"
    node = _jobs(env)[big]["nodes"]
    out = env.tether("cancel", str(big), check=True).stdout.decode()
    assert out.endswith(f": SIGTERM; it was running in Slurm on {node}\n"), out
    assert _state(env, big, "cancelled")["state"] == "cancelled"
    ran = _state(env, later, "succeeded", timeout=60)  # pending, then running, then done
    assert ran["started_at"] is not None and ran["reason"] is None
    assert env.tether("logs", str(later), check=True).stdout == b"ran once the node was free\n"


def test_a_pending_job_shows_when_slurm_expects_it_to_start(slurm_env: UserEnv) -> None:
    env = slurm_env
    asked_at = time.time()
    job = _run(env, "--sbatch-arg=--begin=now+1hour", "--", "true")

    def expected() -> dict | None:
        listed = _jobs(env)[job]
        return listed if listed["expected_start"] is not None else None

    listed = wait_for(expected, timeout=30, interval=0.5)
    assert (listed["state"], listed["reason"]) == ("queued", "waiting for its start time")
    start = dt.datetime.fromisoformat(listed["expected_start"]).timestamp()
    assert asked_at + 3590 <= start <= time.time() + 3610
    row = next(
        r
        for r in env.tether("ls", check=True).stdout.decode().splitlines()
        if r.startswith(f"{job} ")
    )
    assert "queued (waiting for its start time, starts in 59m" in row
    env.tether("cancel", str(job), check=True)
    assert _state(env, job, "cancelled")["expected_start"] is None


def test_top_shows_the_partitions_and_the_persons_slurm_jobs(slurm_env: UserEnv) -> None:
    env = slurm_env
    job = _run(env, "--", "bash", "-c", HOLD)
    slurm_id = _state(env, job, "running", timeout=60)["slurm_id"]
    frame = env.tether("top", "--once", check=True).stdout.decode()
    cluster = frame[frame.index("slurm: cluster tether") :].splitlines()
    assert cluster[1].split() == ["PARTITION", "IDLE", "MIXED", "ALLOC", "DOWN", "CPUS", "GPUS"]
    debug = next(line.split() for line in cluster if line.startswith("debug*"))
    assert debug[-1] == "0/2" and debug[-2].endswith(f"/{node_cpus()}")  # the fake GPUs
    row = next(line.split() for line in cluster if line.lstrip().startswith(f"{slurm_id} "))
    assert row[:4] == [str(slurm_id), str(job), f"tether-{job}", "RUNNING"]
    load = json.loads(env.tether("top", "--once", "--json", check=True).stdout)["slurm"]["load"]
    part = next(p for p in load["partitions"] if p["name"] == "debug")
    assert part["default"] and part["cpus_total"] == node_cpus() and part["cpus_used"] >= 1
    assert part["nodes_idle"] + part["nodes_mixed"] + part["nodes_allocated"] == 1
    mine = next(j for j in load["jobs"] if j["slurm_id"] == slurm_id)
    assert (mine["job_id"], mine["state"], load["user"]) == (job, "RUNNING", getpass.getuser())
    _release(env, job, 0)
    _state(env, job, "succeeded", timeout=60)


def test_a_runner_killed_while_its_slurm_job_runs_finds_the_right_exit_code(
    slurm_env: UserEnv,
) -> None:
    env = slurm_env
    job = _run(env, "--", "bash", "-c", HOLD)
    _state(env, job, "running", timeout=60)
    _kill_runner(env)
    _release(env, job, 7)
    ended = _state(env, job, "failed", timeout=60)  # the next verb starts a runner
    assert ended["exit_code"] == 7


def test_scancel_behind_tethers_back_reads_as_cancelled(slurm_env: UserEnv) -> None:
    env = slurm_env
    job = _run(env, "--", "bash", "-c", HOLD)
    slurm_id = _state(env, job, "running", timeout=60)["slurm_id"]
    subprocess.run(["scancel", str(slurm_id)], check=True, timeout=30)
    assert _state(env, job, "cancelled", timeout=60)["state"] == "cancelled"


def test_slurms_refusal_is_said_in_its_words_and_nothing_is_queued(slurm_env: UserEnv) -> None:
    env = slurm_env
    code, err = _error(env.tether("run", "--slurm", "--partition", "nope", "--", "true"))
    assert code == 1 and "Slurm refused the job: invalid partition specified: nope" in err
    tree = env.home / "proj"
    tree.mkdir()
    (tree / "train.py").write_text("print('hi')\n")
    synced = env.tether("run", "--slurm", "--sync", str(tree), "--partition", "nope", "--", "true")
    code, err = _error(synced)  # a job in a snapshot is checked the same way
    assert code == 1 and "Slurm refused the job: invalid partition specified: nope" in err
    # Words Slurm could never take are usage errors of the CLI's, before anything is sent.
    code, err = _error(env.tether("run", "--slurm", "--time", "soon", "--", "true"))
    assert code == 2 and "--time 'soon' is not a Slurm time" in err
    code, err = _error(env.tether("run", "--slurm", "--mem", "lots", "--", "true"))
    assert code == 2 and "--mem 'lots' is not a memory size" in err
    code, err = _error(env.tether("run", "--here", "--partition", "debug", "--", "true"))
    assert code == 2 and "--partition is for Slurm" in err
    code, err = _error(env.tether("run", "--slurm", "--nodes", "0", "--", "true"))
    assert code == 2 and "--nodes" in err
    code, err = _error(env.tether("run", "--slurm", "--account", "nosuch", "--", "true"))
    assert code == 1 and "Invalid account or account/partition combination" in err
    assert _jobs(env) == {}


def test_nodes_sets_what_a_distributed_trainer_reads_and_labels_each_line(
    slurm_env: UserEnv,
) -> None:
    env = slurm_env
    script = 'echo "addr=$MASTER_ADDR port=$MASTER_PORT nnodes=$NNODES rank=$NODE_RANK"'
    job = _run(env, "--nodes", "1", "--", "bash", "-c", script)
    _state(env, job, "succeeded", timeout=60)
    log = env.tether("logs", str(job), check=True).stdout.decode()
    line = log.strip().splitlines()[-1]
    host = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
    assert line.startswith("0: addr=") and "nnodes=1 rank=0" in line, log
    assert f"addr={host} " in line and "port=" in line and "port= " not in line
    info = json.loads(env.tether("ls", "--json", check=True).stdout)[0]
    assert info["slurm"]["nodes"] == 1


def test_a_slurm_jobs_own_gpus_are_read_on_its_node_and_shown(slurm_env: UserEnv) -> None:
    env = slurm_env
    # The node's fake GPUs are handed out by Slurm; what is read on them is the
    # recorded H100 (the same source setting reaches the job's node).
    env.env.update({"TETHER_GPU_SOURCE": f"replay:{RECORDING}", "TETHER_STATS_INTERVAL": "1"})
    job = _run(env, "--gpus", "1", "--", "bash", "-c", 'echo "gpus=$SLURM_JOB_GPUS"; ' + HOLD)
    _state(env, job, "running", timeout=60)
    # Running once its shim started it; Slurm's next answer brings the node list.
    node = wait_for(lambda: _jobs(env)[job]["nodes"], timeout=30, interval=0.5)

    def allocations() -> list:
        frame = json.loads(env.tether("top", "--once", "--json", check=True).stdout)
        return [a for a in frame["allocations"] if a["gpus"]]

    (allocation,) = wait_for(allocations, timeout=30, interval=0.5)
    assert (allocation["job_id"], allocation["node"], allocation["error"]) == (job, node, None)
    assert [g["index"] for g in allocation["gpus"]] == [0]
    assert allocation["devices"][0]["name"] == "NVIDIA H100 80GB HBM3"
    text = env.tether("top", "--once", check=True).stdout.decode()
    assert f"GPUs of job {job} (" in text and f") on {node}:" in text
    assert b"gpus=0" in env.tether("logs", "--raw", str(job), check=True).stdout
    _release(env, job, 0)
    _state(env, job, "succeeded", timeout=60)
    # An ended job's GPUs are not shown, from the first sample after its end.
    assert wait_for(lambda: not allocations(), timeout=30, interval=0.5)


def test_status_and_doctor_say_which_cluster_jobs_can_go_to(slurm_env: UserEnv) -> None:
    env = slurm_env
    out = env.tether("status", check=True).stdout.decode()
    assert "slurm: cluster tether, partitions debug* short, accounting on; " in out
    assert "jobs go to Slurm with --slurm" in out
    reply = json.loads(env.tether("status", "--json", check=True).stdout)
    assert reply["slurm"]["default_partition"] == "debug" and reply["executor"] == "local"
    env.stop_runner()
    env.env["TETHER_EXECUTOR"] = "slurm"  # the host's choice: no --slurm needed
    assert "jobs go to Slurm by default" in env.tether("status", check=True).stdout.decode()
    job = int(env.tether("run", "--", "true", check=True).stdout)
    assert _state(env, job, "succeeded", timeout=60)["executor"] == "slurm"
    here = int(env.tether("run", "--here", "--", "true", check=True).stdout)
    assert _state(env, here, "succeeded")["executor"] == "local"
    doctor = json.loads(env.tether("doctor", "--json").stdout)
    slurm = next(c for c in doctor["checks"] if c["name"] == "slurm")
    assert slurm["verdict"] == "ok"
    assert "Slurm cluster tether (partitions debug* short)" in slurm["summary"]


def test_the_config_can_make_slurm_a_hosts_default(slurm_env: UserEnv) -> None:
    env = slurm_env
    config = env.home / ".config" / "tether" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[hosts.local]\nexecutor = "slurm"\n')
    env.env["XDG_CONFIG_HOME"] = str(config.parent.parent)
    on_slurm = int(env.tether("run", "-H", "local", "--", "true", check=True).stdout)
    here = int(env.tether("run", "-H", "local", "--here", "--", "true", check=True).stdout)
    assert _state(env, on_slurm, "succeeded", timeout=60)["executor"] == "slurm"
    assert _state(env, here, "succeeded")["executor"] == "local"


def test_signal_refuses_a_slurm_job_and_says_why_scancel_is_no_better(
    slurm_env: UserEnv,
) -> None:
    """The shim is the batch script there: ``scancel --signal`` would reach it too
    and end the job, so tether sends none and says so."""
    env = slurm_env
    job = _run(env, "--", "bash", "-c", HOLD)
    slurm_id = _state(env, job, "running", timeout=60)["slurm_id"]
    code, err = _error(env.tether("signal", str(job), "USR1"))
    assert code == 1
    assert err == (
        f"tether: job {job} runs in Slurm (Slurm job {slurm_id}), where tether sends no "
        "signal: scancel --signal=USR1 would reach tether's shim too and end the job; "
        f"tether cancel {job} stops it"
    )
    assert _jobs(env)[job]["state"] == "running"
    _release(env, job)
    _state(env, job, "succeeded", timeout=60)
