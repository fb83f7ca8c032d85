"""Where ``tether run -H a,b,c`` (or ``-H @all``) sends a job: the rule, pure.

The rule is the one people apply by hand after a loop of ``nvidia-smi`` over
ssh: go where the GPUs are free now (the most free, then the least loaded CPU,
so two jobs placed one after the other spread out), else join the shortest
queue. A host that can never hold the job (fewer GPUs than it asks for) is not a
candidate, and the reason each host was passed over is kept, so that a job that
fits nowhere says why host by host.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from protocol.jobs import GPU_REQUEST_ALL
from tui.errors import TetherError


class PlacementError(TetherError):
    """No host can take the job; the message says why for each."""


@dataclass(frozen=True)
class Candidate:
    """What a host said when asked just now."""

    host: str
    gpus_total: int
    gpus_free: int
    #: Jobs waiting in its runner's queue.
    queued: int
    #: Its 1-minute load average per CPU core.
    load: float


@dataclass(frozen=True)
class Placement:
    host: str
    #: One line for the person: why this host (and not the others).
    reason: str


def _needed(gpus: Optional[str], candidate: Candidate) -> int:
    if gpus is None:
        return 0
    return candidate.gpus_total if gpus == GPU_REQUEST_ALL else int(gpus)


def _never_fits(gpus: Optional[str], candidate: Candidate) -> Optional[str]:
    """Why `candidate` can never run the job, None when it can."""
    if gpus is None:
        return None
    if candidate.gpus_total == 0:
        return "no GPUs"
    if gpus != GPU_REQUEST_ALL and int(gpus) > candidate.gpus_total:
        return f"{candidate.gpus_total} GPU{'s' if candidate.gpus_total != 1 else ''} in all"
    return None


def _free_text(candidate: Candidate) -> str:
    return f"{candidate.gpus_free} of {candidate.gpus_total} GPUs free"


def choose(
    candidates: Sequence[Candidate], gpus: Optional[str], failed: Sequence[Tuple[str, str]] = ()
) -> Placement:
    """The host for a job asking for `gpus` (None: none; a count; ``all``), among
    the hosts that answered; `failed` are (host, why) of those that did not, named
    when no host fits."""
    if not candidates:
        hosts = "; ".join(f"{host}: {why}" for host, why in failed)
        raise PlacementError(f"no host answered, so the job was not sent ({hosts})")
    passed: List[Tuple[str, str]] = []
    fitting: List[Candidate] = []
    for candidate in candidates:
        why = _never_fits(gpus, candidate)
        if why is None:
            fitting.append(candidate)
        else:
            passed.append((candidate.host, why))
    if not fitting:
        asked = "no GPUs" if gpus is None else f"--gpus {gpus}"
        hosts = "; ".join(f"{host}: {why}" for host, why in [*passed, *failed])
        raise PlacementError(f"no host can take a job asking for {asked} ({hosts})")
    if gpus is None:
        best = min(fitting, key=lambda c: (c.load, c.queued))
        return Placement(best.host, f"the least loaded (load {best.load:.2f} per core)")
    free_now = [c for c in fitting if c.gpus_free >= _needed(gpus, c)]
    if free_now:
        best = min(free_now, key=lambda c: (-c.gpus_free, c.load))
        return Placement(best.host, _free_text(best))
    best = min(fitting, key=lambda c: (c.queued, -c.gpus_free, c.load))
    waiting = f"{best.queued} job{'s' if best.queued != 1 else ''} queued"
    return Placement(best.host, f"no host has the GPUs free now; the shortest queue ({waiting})")
