#!/usr/bin/env python3
"""Slurm through tether against Slurm's own tools, on this machine's cluster, in one run.

Issue 13: what does handing a job to Slurm through tether cost a person, beside
typing `sbatch` and `squeue` themselves? Measured in a throwaway HOME (and
XDG_RUNTIME_DIR, XDG_STATE_HOME) with its own runner, against the cluster that
`scripts/slurm-up` brings up (`scontrol ping` must answer), each beside the real
Slurm tool in the same run, samples interleaved, medians printed with their ratio
(tether / Slurm; no goal is set):

  - submit to running: from starting `tether run --slurm -- sleep 30` (a whole CLI
    process) until `squeue` shows its Slurm job RUNNING, vs `sbatch --parsable
    --wrap 'sleep 30'` until `squeue -j ID -h -o %T` says RUNNING. Both sides poll
    squeue every 50 ms. tether's Slurm job is found by its batch script
    (`squeue -o %o`), which lies under this run's private state directory, so the
    poll runs from the start, beside the CLI; its id is then checked against
    `slurm_id` in `tether ls --json`, which is also polled, back to back, until the
    job's `state` is `running`: the second figure, the delay as tether itself
    shows it. Each job is cancelled (`tether cancel`, `scancel`) and gone from
    squeue before the next sample;
  - a short job end to end: `tether run --slurm -- true` then `tether wait JOB`, vs
    `sbatch --wait --wrap true`. sbatch --wait first looks after 2 s and then 8 s
    later, so its samples are 2 s or 10 s, whichever side of 2 s the job ended:
    the median (ranges are printed) swings with it;
  - with JOBS held Slurm jobs in the runner (`--sbatch-arg=--hold`: pending, no
    CPU taken, checked in squeue): `tether ls` and `tether ls --json` vs `squeue`
    and `squeue --json` (skipped, saying why, where this Slurm cannot). The jobs
    are submitted over one in-process client connection (`HostSession.submit`,
    16 in flight), timed beside 16 parallel `sbatch --hold` processes of as many;
    then `tether cancel --group` of them all beside one `scancel` of the bare
    ones, each until squeue shows none of them left.

Every sample starts with the node free (idle or mixed: up to 60 s is waited for
other people's jobs, and samples that found it busy are counted). Whatever this
run gave Slurm is cancelled on the way out, errors and Ctrl-C included, and the
last line says what was left on the cluster (nothing, when all went well). The
node has 2 CPUs, shared with whatever else runs: ratios drift less than times.

  scripts/bench_slurm.py [--repeats N] [--jobs N] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Tuple

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
VENV_BIN = REPO / ".venv" / "bin"

from bench_queue import private_env  # noqa: E402

GROUP = "bench-slurm"
HELD_GROUP = "bench-slurm-held"
#: The name of every job this run gives `sbatch` itself, so the final sweep finds them.
BARE_NAME = f"tether-bench-slurm-{os.getpid()}"
#: How often squeue is asked whether a job runs yet (both sides alike).
POLL_S = 0.05
#: How long a job may take to start, a held one to be cancelled, a command to answer.
START_TIMEOUT_S = 60.0
GONE_TIMEOUT_S = 60.0
COMMAND_TIMEOUT_S = 120.0
#: How long a sample waits for the node to have room, before it is taken anyway.
NODE_WAIT_S = 60.0
#: Submits in flight while filling, on each side.
FILL_IN_FLIGHT = 16
#: Slurm states a job still lives in (it can still be cancelled).
LIVE_STATES = frozenset(
    {"PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING"}
    | {"REQUEUED", "REQUEUE_HOLD", "RESIZING", "STAGE_OUT"}
)
NODE_READY_STATES = frozenset({"idle", "mixed"})


class BenchError(Exception):
    """Something the benchmark needs failed; the message says what."""


def run(
    argv: Sequence[str], env: Optional[Dict[str, str]] = None, timeout: float = COMMAND_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(
            argv, env=env, capture_output=True, text=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise BenchError(f"{' '.join(argv)} did not finish within {timeout:.0f} s") from None


def checked(argv: Sequence[str], env: Optional[Dict[str, str]] = None) -> str:
    """A command's stdout; raises `BenchError` when it fails."""
    done = run(argv, env)
    if done.returncode != 0:
        raise BenchError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def timed(argv: Sequence[str], env: Optional[Dict[str, str]] = None) -> Tuple[float, str]:
    """Seconds a command took, and its stdout; raises when it fails."""
    start = time.perf_counter()
    out = checked(argv, env)
    return time.perf_counter() - start, out


def median(seconds: Sequence[float]) -> float:
    return statistics.median(seconds)


def spread(seconds: Sequence[float]) -> str:
    return f"{min(seconds):.2f} to {max(seconds):.2f}"


def ratio(ours: float, theirs: float) -> str:
    return f"{ours / theirs:.2f}x" if theirs > 0 else "n/a"


class Slurm:
    """The cluster's own tools, and every job this run gave Slurm (to cancel at the end).

    `root` is this run's private directory: a tether job's batch script lies under it,
    so ``squeue -o %o`` tells this run's tether jobs from anyone else's."""

    def __init__(self, root: Path) -> None:
        self.root = f"{root}/"
        self.started: Set[int] = set()
        self.busy_samples = 0
        self.samples = 0

    def ping(self) -> Optional[str]:
        """None when the controller answers, else why not."""
        try:
            done = run(["scontrol", "ping"], timeout=30)
        except FileNotFoundError:
            return "scontrol is not on PATH"
        except BenchError as exc:
            return str(exc)
        if done.returncode != 0 or "is UP" not in done.stdout:
            return (done.stdout + done.stderr).strip().splitlines()[0] or "no answer"
        return None

    def sbatch(self, *args: str) -> int:
        out = checked(
            [
                "sbatch",
                "--parsable",
                f"--job-name={BARE_NAME}",
                "--output=/dev/null",
                "--chdir=/tmp",
                *args,
            ]
        )
        slurm_id = int(out.strip().split(";", 1)[0])
        self.started.add(slurm_id)
        return slurm_id

    def states(self, slurm_ids: Sequence[int]) -> Dict[int, str]:
        """The live ones of `slurm_ids` and their state; ended and forgotten ones are absent."""
        if not slurm_ids:
            return {}
        jobs = ",".join(map(str, slurm_ids))
        done = run(["squeue", "-h", "-t", "all", "-j", jobs, "-o", "%i|%T"])
        if done.returncode != 0:
            if "Invalid job id" in done.stderr:
                return {}
            raise BenchError(f"squeue failed: {done.stderr.strip()}")
        states: Dict[int, str] = {}
        for line in done.stdout.splitlines():
            slurm_id, state = line.strip().split("|", 1)
            if state in LIVE_STATES:
                states[int(slurm_id)] = state
        return states

    def wait_running(self, slurm_id: int) -> float:
        """`time.perf_counter()` when squeue first said the job is RUNNING."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            done = run(["squeue", "-j", str(slurm_id), "-h", "-o", "%T"])
            if done.stdout.strip() == "RUNNING":
                return time.perf_counter()
            time.sleep(POLL_S)
        raise BenchError(f"Slurm job {slurm_id} was not RUNNING within {START_TIMEOUT_S:.0f} s")

    def first_running_tether_job(self, give_up: threading.Event) -> Tuple[float, int]:
        """`time.perf_counter()` when squeue first showed a RUNNING job whose batch
        script lies in this run's directory, and its id."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline and not give_up.is_set():
            done = run(["squeue", "-h", "-t", "RUNNING", "-o", "%i|%o"])
            for line in done.stdout.splitlines():
                slurm_id, command = line.strip().split("|", 1)
                if command.startswith(self.root):
                    return time.perf_counter(), int(slurm_id)
            time.sleep(POLL_S)
        raise BenchError(f"no tether job was RUNNING in squeue within {START_TIMEOUT_S:.0f} s")

    def wait_gone(self, slurm_ids: Sequence[int]) -> float:
        """Seconds until none of `slurm_ids` is live in squeue."""
        start = time.perf_counter()
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while self.states(slurm_ids):
            if time.monotonic() > deadline:
                left = self.states(slurm_ids)
                raise BenchError(f"{len(left)} Slurm jobs still live: {sorted(left)[:10]}")
            time.sleep(POLL_S)
        return time.perf_counter() - start

    def wait_node_free(self) -> None:
        """Wait (up to `NODE_WAIT_S`) until every node is idle or mixed, so a sample
        does not wait behind someone else's job; a sample that had to wait counts busy."""
        self.samples += 1
        deadline = time.monotonic() + NODE_WAIT_S
        waited = False
        while time.monotonic() < deadline:
            out = run(["sinfo", "-h", "-N", "-o", "%T"]).stdout.split()
            if out and all(state.rstrip("*~#!%$@^-") in NODE_READY_STATES for state in out):
                break
            waited = True
            time.sleep(0.2)
        self.busy_samples += waited

    def ours_live(self) -> List[int]:
        """Every live job this run gave Slurm: by id, by the bare jobs' name, and by
        the tether jobs' batch scripts in this run's directory."""
        done = run(["squeue", "-h", "-o", "%i|%j|%o"])
        found = set(self.states(sorted(self.started)))
        for line in done.stdout.splitlines():
            slurm_id, name, command = line.strip().split("|", 2)
            if name == BARE_NAME or command.startswith(self.root):
                found.add(int(slurm_id))
        return sorted(found)

    def sweep(self) -> List[int]:
        """Cancel whatever this run left on Slurm; what is still live after it."""
        left = self.ours_live()
        if left:
            run(["scancel", *map(str, left)])
            try:
                self.wait_gone(left)
            except BenchError:
                pass
        return self.ours_live()

    def squeue_json_support(self) -> Optional[str]:
        """None when `squeue --json` answers with its jobs, else why not."""
        done = run(["squeue", "--json"])
        if done.returncode != 0:
            lines = done.stderr.strip().splitlines()
            return f"squeue --json failed: {lines[0] if lines else done.returncode}"
        try:
            jobs = json.loads(done.stdout).get("jobs")
        except ValueError:
            return "squeue --json did not print JSON"
        return None if isinstance(jobs, list) else "squeue --json has no jobs list"


class TetherBench:
    """A private HOME with its own runner, and this process pointed at it."""

    def __init__(self, root: Path) -> None:
        self.env = private_env(root)

    def tether(self, *args: str) -> Tuple[float, str]:
        return timed([str(VENV_BIN / "tether"), *args], self.env)

    def jobs(self) -> List[Dict[str, Any]]:
        listed: List[Dict[str, Any]] = json.loads(self.tether("ls", "--json")[1])
        return listed

    def job(self, job_id: int) -> Dict[str, Any]:
        for job in self.jobs():
            if job["id"] == job_id:
                return job
        raise BenchError(f"tether ls --json does not list job {job_id}")

    def stop(self) -> None:
        run([str(VENV_BIN / "tether-runner"), "stop"], self.env, timeout=30)


@dataclass(frozen=True)
class Latency:
    """One submit-to-running sample of tether's: until squeue showed the job RUNNING,
    and until `tether ls --json` said `running`."""

    squeue_s: float
    ls_s: float


def tether_to_running(bench: TetherBench, slurm: Slurm) -> Latency:
    give_up = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        start = time.perf_counter()
        watch: Future[Tuple[float, int]] = pool.submit(slurm.first_running_tether_job, give_up)
        try:
            out = bench.tether("run", "--slurm", "--group", GROUP, "--", "sleep", "30")[1]
            job_id = int(out.strip())
            job = bench.job(job_id)
            if job.get("slurm_id") is not None:
                slurm.started.add(int(job["slurm_id"]))
            while job["state"] == "queued":
                if time.perf_counter() - start > START_TIMEOUT_S:
                    raise BenchError(f"tether job {job_id} was not running in tether ls")
                job = bench.job(job_id)
            ls_at = time.perf_counter()
            if job["state"] != "running":
                raise BenchError(f"tether job {job_id} went {job['state']}: {job.get('reason')}")
            running_at, slurm_id = watch.result(START_TIMEOUT_S)
        finally:
            give_up.set()
    if slurm_id != job["slurm_id"]:
        raise BenchError(f"squeue ran Slurm job {slurm_id}, tether says {job['slurm_id']}")
    bench.tether("cancel", str(job_id))
    slurm.wait_gone([slurm_id])
    return Latency(running_at - start, ls_at - start)


def sbatch_to_running(slurm: Slurm) -> float:
    start = time.perf_counter()
    slurm_id = slurm.sbatch("--wrap", "sleep 30")
    running_at = slurm.wait_running(slurm_id)
    checked(["scancel", str(slurm_id)])
    slurm.wait_gone([slurm_id])
    return running_at - start


def tether_short_job(bench: TetherBench) -> float:
    start = time.perf_counter()
    job_id = bench.tether("run", "--slurm", "--group", GROUP, "--", "true")[1].strip()
    bench.tether("wait", job_id)
    return time.perf_counter() - start


def sbatch_short_job(slurm: Slurm) -> float:
    start = time.perf_counter()
    slurm.sbatch("--wait", "--wrap", "true")
    return time.perf_counter() - start


@dataclass(frozen=True)
class StartResult:
    to_running: List[float]
    to_ls_running: List[float]
    sbatch_to_running: List[float]
    short: List[float]
    sbatch_short: List[float]


def measure_starts(bench: TetherBench, slurm: Slurm, repeats: int) -> StartResult:
    result = StartResult([], [], [], [], [])
    for i in range(repeats):
        slurm.wait_node_free()
        latency = tether_to_running(bench, slurm)
        slurm.wait_node_free()
        bare = sbatch_to_running(slurm)
        result.to_running.append(latency.squeue_s)
        result.to_ls_running.append(latency.ls_s)
        result.sbatch_to_running.append(bare)
        print(
            f"  to running {i + 1}/{repeats}: tether {latency.squeue_s:.2f} s "
            f"(tether ls: {latency.ls_s:.2f} s), sbatch {bare:.2f} s",
            flush=True,
        )
    for i in range(repeats):
        slurm.wait_node_free()
        ours = tether_short_job(bench)
        slurm.wait_node_free()
        theirs = sbatch_short_job(slurm)
        result.short.append(ours)
        result.sbatch_short.append(theirs)
        print(
            f"  short job {i + 1}/{repeats}: tether run + wait {ours:.2f} s, "
            f"sbatch --wait {theirs:.2f} s",
            flush=True,
        )
    return result


async def _submit_held(count: int) -> List[int]:
    from protocol.jobs import JobSpec, SlurmRequest
    from tui.hosts import make_session

    spec = JobSpec(
        argv=["true"],
        group=HELD_GROUP,
        executor="slurm",
        slurm=SlurmRequest(sbatch_args=["--hold"]),
    )
    session = make_session("local", reconnect=False)
    await session.start()
    slurm_ids: List[int] = []
    try:
        while len(slurm_ids) < count:
            batch = min(FILL_IN_FLIGHT, count - len(slurm_ids))
            jobs = await asyncio.gather(*(session.submit(spec) for _ in range(batch)))
            for job in jobs:
                if job.slurm_id is None:
                    raise BenchError(f"tether job {job.id} has no Slurm id: {job.reason}")
                slurm_ids.append(job.slurm_id)
    finally:
        await session.close()
    return slurm_ids


def submit_held_tether(slurm: Slurm, count: int) -> Tuple[float, List[int]]:
    """Seconds to submit `count` held Slurm jobs through tether, and their Slurm ids.
    Should it fail half way, the sweep finds those that got in by their batch scripts."""
    start = time.perf_counter()
    slurm_ids = asyncio.run(_submit_held(count))
    elapsed = time.perf_counter() - start
    slurm.started.update(slurm_ids)
    return elapsed, slurm_ids


def submit_held_sbatch(slurm: Slurm, count: int) -> Tuple[float, List[int]]:
    start = time.perf_counter()
    with ThreadPoolExecutor(FILL_IN_FLIGHT) as pool:
        slurm_ids = list(pool.map(lambda _: slurm.sbatch("--hold", "--wrap", "true"), range(count)))
    return time.perf_counter() - start, slurm_ids


def check_held(slurm: Slurm, slurm_ids: Sequence[int]) -> None:
    """Every one of `slurm_ids` pending and held (so none takes a CPU)."""
    jobs = ",".join(map(str, slurm_ids))
    out = checked(["squeue", "-h", "-t", "all", "-j", jobs, "-o", "%i|%T|%r"])
    seen = [line.split("|") for line in out.splitlines()]
    not_held = [f for f in seen if f[1] != "PENDING" or f[2] != "JobHeldUser"]
    if len(seen) != len(slurm_ids) or not_held:
        raise BenchError(
            f"--hold did not leave the jobs held: {len(seen)} of {len(slurm_ids)} in squeue, "
            f"not held: {not_held[:5]}"
        )


@dataclass(frozen=True)
class ListResult:
    count: int
    submit_s: float
    sbatch_submit_s: float
    #: `tether ls` before the held jobs: the CLI's own cost, and the few jobs
    #: that ended earlier in the run.
    ls_before: List[float]
    ls: List[float]
    ls_json: List[float]
    squeue: List[float]
    squeue_json: List[float]
    squeue_json_skipped: Optional[str]
    cancel_s: float
    cancel_answered_s: float
    scancel_s: float


def list_once(bench: TetherBench, count: int, json_out: bool) -> float:
    args = ("ls", "--json") if json_out else ("ls",)
    elapsed, out = bench.tether(*args)
    if json_out:
        listed = sum(1 for job in json.loads(out) if job.get("group") == HELD_GROUP)
    else:
        listed = sum(1 for line in out.splitlines() if "held by its owner" in line)
    if listed != count:
        raise BenchError(f"tether {' '.join(args)} showed {listed} held jobs of {count}")
    return elapsed


def squeue_once(count: int, json_out: bool) -> float:
    elapsed, out = timed(["squeue", "--json"] if json_out else ["squeue"])
    listed = len(json.loads(out)["jobs"]) if json_out else len(out.splitlines()) - 1
    if listed < count:
        raise BenchError(f"squeue listed {listed} jobs, {count} are held")
    return elapsed


def cancel_group(bench: TetherBench, slurm: Slurm, slurm_ids: Sequence[int]) -> Tuple[float, float]:
    """`tether cancel --group`: seconds until squeue shows none of the jobs live, and
    until the CLI answered."""
    start = time.perf_counter()
    cli = subprocess.Popen(
        [str(VENV_BIN / "tether"), "cancel", "--group", HELD_GROUP],
        env=bench.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        slurm.wait_gone(slurm_ids)
        gone_s = time.perf_counter() - start
        _, err = cli.communicate(timeout=COMMAND_TIMEOUT_S)
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
    if cli.returncode != 0:
        raise BenchError(f"tether cancel --group failed ({cli.returncode}): {err.strip()}")
    return gone_s, time.perf_counter() - start


def scancel_all(slurm: Slurm, slurm_ids: Sequence[int]) -> float:
    start = time.perf_counter()
    checked(["scancel", *map(str, slurm_ids)])
    slurm.wait_gone(slurm_ids)
    return time.perf_counter() - start


def measure_listing(bench: TetherBench, slurm: Slurm, count: int, repeats: int) -> ListResult:
    before = [bench.tether("ls")[0] for _ in range(repeats)]
    submit_s, slurm_ids = submit_held_tether(slurm, count)
    check_held(slurm, slurm_ids)
    print(f"  {count} held jobs submitted through tether in {submit_s:.1f} s", flush=True)
    # The runner asks Slurm about its jobs every 2 s: let it have seen them all held.
    time.sleep(3)
    skipped = slurm.squeue_json_support()
    ls, ls_json, squeue, squeue_json = [], [], [], []
    for _ in range(repeats):
        ls.append(list_once(bench, count, json_out=False))
        squeue.append(squeue_once(count, json_out=False))
        ls_json.append(list_once(bench, count, json_out=True))
        if skipped is None:
            squeue_json.append(squeue_once(count, json_out=True))
    print(f"  ls: tether {median(ls):.2f} s, squeue {median(squeue):.3f} s", flush=True)
    cancel_s, answered_s = cancel_group(bench, slurm, slurm_ids)
    print(f"  tether cancel --group: all gone in {cancel_s:.1f} s", flush=True)
    slurm.wait_node_free()
    sbatch_submit_s, bare_ids = submit_held_sbatch(slurm, count)
    check_held(slurm, bare_ids)
    scancel_s = scancel_all(slurm, bare_ids)
    print(
        f"  {count} held jobs by sbatch in {sbatch_submit_s:.1f} s, scancel: {scancel_s:.2f} s",
        flush=True,
    )
    return ListResult(
        count,
        submit_s,
        sbatch_submit_s,
        before,
        ls,
        ls_json,
        squeue,
        squeue_json,
        skipped,
        cancel_s,
        answered_s,
        scancel_s,
    )


def start_lines(result: StartResult, repeats: int) -> List[str]:
    ours, theirs = median(result.to_running), median(result.sbatch_to_running)
    in_ls = median(result.to_ls_running)
    short, bare_short = median(result.short), median(result.sbatch_short)
    return [
        f"submit → RUNNING in squeue (median of {repeats}): tether run --slurm {ours:.2f} s "
        f"vs sbatch {theirs:.2f} s ({ratio(ours, theirs)}); ranges "
        f"{spread(result.to_running)} s vs {spread(result.sbatch_to_running)} s",
        f"  until tether ls --json says running: {in_ls:.2f} s ({ratio(in_ls, theirs)} sbatch)",
        f"short job end to end (median of {repeats}): tether run --slurm -- true + tether wait "
        f"{short:.2f} s vs sbatch --wait {bare_short:.2f} s ({ratio(short, bare_short)}); "
        f"ranges {spread(result.short)} s vs {spread(result.sbatch_short)} s",
    ]


def list_lines(result: ListResult, repeats: int) -> List[str]:
    n = result.count
    ls, squeue = median(result.ls), median(result.squeue)
    ls_json = median(result.ls_json)
    lines = [
        f"with {n} held Slurm jobs (median of {repeats}): tether ls {ls:.2f} s vs squeue "
        f"{squeue:.3f} s ({ratio(ls, squeue)}); tether ls before them: "
        f"{median(result.ls_before):.2f} s",
    ]
    if result.squeue_json_skipped is None:
        squeue_json = median(result.squeue_json)
        lines.append(
            f"  tether ls --json {ls_json:.2f} s vs squeue --json {squeue_json:.3f} s "
            f"({ratio(ls_json, squeue_json)})"
        )
    else:
        lines.append(
            f"  tether ls --json {ls_json:.2f} s; squeue --json skipped: {result.squeue_json_skipped}"
        )
    lines += [
        f"submit {n} held jobs: tether (one client, {FILL_IN_FLIGHT} in flight) "
        f"{result.submit_s:.1f} s vs {FILL_IN_FLIGHT} parallel sbatch "
        f"{result.sbatch_submit_s:.1f} s ({ratio(result.submit_s, result.sbatch_submit_s)})",
        f"cancel {n} held jobs until squeue shows none: tether cancel --group "
        f"{result.cancel_s:.1f} s (CLI answered in {result.cancel_answered_s:.1f} s) vs one "
        f"scancel {result.scancel_s:.2f} s ({ratio(result.cancel_s, result.scancel_s)})",
    ]
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, help="samples per timing (5; --quick: 2)")
    parser.add_argument("--jobs", type=int, help="held Slurm jobs for ls (200; --quick: 50)")
    parser.add_argument("--quick", action="store_true", help="2 repeats, 50 jobs: a smoke run")
    args = parser.parse_args()
    repeats = args.repeats or (2 if args.quick else 5)
    count = args.jobs or (50 if args.quick else 200)
    try:  # the in-process client, checked before anything is given to Slurm
        import tui.hosts  # noqa: F401
    except ImportError as exc:
        print(
            f"bench_slurm: {exc}: run it with the project's Python (.venv/bin/python)",
            file=sys.stderr,
        )
        return 1
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="tether-slurm-bench-") as tmp:
        root = Path(tmp)
        slurm = Slurm(root)
        why = slurm.ping()
        if why is not None:
            print(
                f"bench_slurm: Slurm's controller does not answer `scontrol ping` ({why}); "
                "start the one-node cluster with `sudo scripts/slurm-up`",
                file=sys.stderr,
            )
            return 1
        bench = TetherBench(root)
        lines: List[str] = []
        try:
            bench.tether("status")  # starts the runner, outside every timing
            print(f"to running and short jobs: {repeats} samples each, interleaved", flush=True)
            lines += start_lines(measure_starts(bench, slurm, repeats), repeats)
            print(f"ls with {count} held jobs: {repeats} samples each", flush=True)
            lines += list_lines(measure_listing(bench, slurm, count, repeats), repeats)
        except BenchError as exc:
            print(f"bench_slurm: {exc}", file=sys.stderr)
            return 1
        finally:
            left = slurm.sweep()
            bench.stop()
            lines.append(
                f"left on Slurm by this run: {', '.join(map(str, left)) if left else 'nothing'}"
            )
            print()
            print("\n".join(lines))
            print(
                f"(samples that found the node busy with other jobs: "
                f"{slurm.busy_samples} of {slurm.samples})"
            )
            print(f"(whole run: {time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
