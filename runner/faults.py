"""Crash points: named places in the job lifecycle where a test can kill the process.

Recovery code is only as good as the crashes it was tried against, so the
runner and the shim name the instants where dying leaves the most half-done
(a job recorded but not started, started but not recorded, ended but not
recorded) and the tests kill them exactly there, as SQLite and FoundationDB
test themselves. ``TETHER_CRASH_AT=NAME`` (or ``NAME:N``, the N-th time one
process reaches the point) makes the process SIGKILL itself there; with the
variable unset every point is one comparison against None.

The variable is read once, when this module is imported. A runner passes it on
to the shims it starts (so a test arms a shim point through the runner's
environment); the shim never passes it to the job. Stdlib only: the shim
imports it.
"""

from __future__ import annotations

import os
import signal
from typing import Optional, Tuple

ENV_VAR = "TETHER_CRASH_AT"

#: Every crash point, so a test matrix and a typo check share one list.
POINTS = (
    # The runner: a submit is committed; the client has not heard of it yet.
    "submit.committed",
    # The runner: the job's spec file is half written (its .tmp only).
    "launch.spec_partial",
    # The runner: the spec file is written; no shim has been started.
    "launch.spec_written",
    # The runner: the shim runs the job; the job's row still says queued.
    "launch.shim_started",
    # The runner: the shim wrote the exit status; the row still says running.
    "finish.seen",
    # The runner: a cancel is recorded; the shim has not been told.
    "cancel.recorded",
    # The runner: a pause is recorded; the job's group has not been stopped.
    "pause.recorded",
    # The runner: a failed attempt's retry is recorded; its files are where it left them.
    "retry.recorded",
    # The shim: it claimed the job and is about to start it.
    "shim.claimed",
    # The shim: the job's process exists; the shim has not recorded its pid.
    "shim.job_forked",
    # The shim: the job exited; its status is not written yet.
    "shim.job_exited",
)


#: ``TETHER_FAIL_AT=NAME:N``: the first N times the process reaches failure
#: point NAME, it raises `InjectedFault` there instead of doing its work.
FAIL_ENV_VAR = "TETHER_FAIL_AT"

#: Every failure point.
FAIL_POINTS = (
    # One pass of the runner's job sweep.
    "sweep",
)


class InjectedFault(OSError):
    """The failure a test asked for (an OSError, as a full disk or an I/O error is)."""


def _armed(var: str, known: Tuple[str, ...]) -> Optional[Tuple[str, int]]:
    value = os.environ.get(var)
    if not value:
        return None
    name, _, count = value.partition(":")
    if name not in known:
        raise SystemExit(f"{var}={value!r}: no such point (known: {', '.join(known)})")
    return name, int(count) if count.isdigit() and int(count) > 0 else 1


_ARMED = _armed(ENV_VAR, POINTS)
_FAILING = _armed(FAIL_ENV_VAR, FAIL_POINTS)
_hits = [0, 0]


def crash_point(name: str) -> None:
    """Die here (SIGKILL, no cleanup) when a test armed this point."""
    if _ARMED is None or _ARMED[0] != name:
        return
    _hits[0] += 1
    if _hits[0] >= _ARMED[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def fail_point(name: str) -> None:
    """Raise `InjectedFault` here while a test wants this point to fail."""
    if _FAILING is None or _FAILING[0] != name:
        return
    _hits[1] += 1
    if _hits[1] <= _FAILING[1]:
        raise InjectedFault(f"injected failure at {name} ({_hits[1]} of {_FAILING[1]})")
