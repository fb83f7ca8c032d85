"""``tether run -H gpu1,gpu2,gpu3 --gpus 2 -- ...`` (or ``-H @all``): ask every
host at once what it has free, send the job where `tui.placement` says, and
print where it went as ``HOST:ID``, the reference every verb takes.

The arguments are checked before any host is asked: a bad ``--priority`` is
said without connecting anywhere, as for one host. What cannot be placed is
refused with the reason: ``--after`` names jobs of one host, and Slurm's flags
give the job to one cluster's scheduler, which places it itself.
"""

from __future__ import annotations

import argparse
import sys
from typing import List

from protocol.jobs import GPU_REQUEST_ALL
from tui.cli import session_runs
from tui.errors import UsageError
from tui.fleet import survey_all
from tui.placement import Candidate, choose


def _check_placeable(args: argparse.Namespace) -> None:
    if args.after or args.after_any:
        flag = "--after" if args.after else "--after-any"
        raise UsageError(f"{flag} names jobs of one host: give one -H with it")
    slurm_flags = [name for name in session_runs.SLURM_FLAGS if getattr(args, name, None)]
    if args.executor == "slurm" or slurm_flags or args.sbatch_args:
        raise UsageError(
            "a Slurm job goes to one cluster, whose scheduler places it: give one -H with --slurm"
        )
    gpus = args.gpus
    if gpus is not None and gpus != GPU_REQUEST_ALL and (not gpus.isdigit() or int(gpus) < 1):
        raise UsageError(f"--gpus takes a count from 1 up or 'all', not {gpus!r}")


async def run_placed(args: argparse.Namespace, names: List[str], timeout_s: float) -> int:
    """Place and submit the job; its exit status is the submission's."""
    _check_placeable(args)
    session_runs.bind_run(args, names[0])  # every other argument checked, nothing sent
    reports = await survey_all(names, timeout_s)
    failed = []
    candidates = []
    for report in reports:
        if report.seen is None:
            problem = report.problem or "no answer"
            said = problem if problem.startswith(report.host) else f"{report.host}: {problem}"
            print(f"tether: {said}", file=sys.stderr)
            failed.append((report.host, problem))
            continue
        seen = report.seen
        candidates.append(
            Candidate(report.host, seen.gpus_total, seen.gpus_free, seen.queued, seen.load)
        )
    placement = choose(candidates, args.gpus, failed)
    print(f"tether: placed on {placement.host}: {placement.reason}", file=sys.stderr)
    args.shown_host = placement.host
    return await session_runs.run(args, placement.host)
