"""The GPUs tether may hand out on this host, and which of them others are using.

The inventory is ``TETHER_GPUS`` from the runner's environment when it is set
(``0,1,2,3``; empty for none): that is how a person keeps some GPUs out of
tether's hands, and how tests and GPU-less hosts define one. Otherwise it is
every GPU NVML reports, in NVML's order, which is PCI bus order: jobs get
``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so that CUDA numbers them the same way.

A GPU is *busy* when a compute process that tether did not start runs on it
(another user's job, a notebook). Tether's jobs run each in a session of its
own, whose id is the job's pid, so a process belongs to tether when its session
is one of the running jobs'. A process whose session cannot be read (it is in
another pid namespace) counts as someone else's: not handing out a GPU that may
be in use is the safe mistake. ``TETHER_GPUS_ALLOW_BUSY=1`` turns the check off.

Nothing here raises for a missing driver: no NVML means no GPUs, and no busy ones.
"""

from __future__ import annotations

import logging
import os
from typing import AbstractSet, Any, Dict, Iterable, List, Mapping, Optional, Set

from runner.errors import RunnerError

log = logging.getLogger(__name__)

GPUS_ENV = "TETHER_GPUS"
ALLOW_BUSY_ENV = "TETHER_GPUS_ALLOW_BUSY"


def parse_gpu_list(text: str) -> List[int]:
    """``"0,1,3"`` as indices; raises `RunnerError` naming the bad part."""
    indices: List[int] = []
    for part in text.split(","):
        word = part.strip()
        if not word:
            continue
        if not word.isdigit():
            raise RunnerError(
                f"{GPUS_ENV} must list GPU indices like 0,1,2,3; {word!r} is not an index"
            )
        if int(word) in indices:
            raise RunnerError(f"{GPUS_ENV} lists GPU {word} twice")
        indices.append(int(word))
    return sorted(indices)


def nvml_gpu_indices() -> List[int]:
    """Every GPU NVML reports; [] without a driver (a normal state, not an error)."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError as exc:
        log.info("no GPUs for the queue: NVML did not start (%s)", exc)
        return []
    try:
        return list(range(int(pynvml.nvmlDeviceGetCount())))
    except pynvml.NVMLError as exc:
        log.warning("no GPUs for the queue: NVML could not count them (%s)", exc)
        return []
    finally:
        pynvml.nvmlShutdown()


def gpu_inventory(environ: Mapping[str, str] = os.environ) -> List[int]:
    """The GPUs this runner may hand out: ``TETHER_GPUS``, else what NVML reports."""
    configured = environ.get(GPUS_ENV)
    if configured is not None:
        return parse_gpu_list(configured)
    return nvml_gpu_indices()


def started_by_tether(pid: int, job_sessions: AbstractSet[int]) -> bool:
    """Whether `pid` runs inside one of tether's jobs (their sessions are their pids)."""
    try:
        return os.getsid(pid) in job_sessions
    except OSError:
        return False


class ForeignGpuProbe:
    """Which GPUs carry compute processes tether did not start.

    NVML is opened on first use and kept open (a probe is then a few calls per
    GPU); a host where it cannot start is remembered as having none. Blocking:
    call it from a worker thread, never the event loop.
    """

    def __init__(self, environ: Mapping[str, str] = os.environ) -> None:
        self.enabled = environ.get(ALLOW_BUSY_ENV, "") not in ("1", "true", "yes")
        self._nvml: Any = None
        self._handles: Optional[Dict[int, Any]] = None

    def _open(self) -> Dict[int, Any]:
        if self._handles is not None:
            return self._handles
        self._handles = {}
        try:
            import pynvml

            pynvml.nvmlInit()
        except Exception as exc:  # ImportError, or one of pynvml's many NVMLError kinds
            log.info("not checking GPUs for other users' processes: %s", exc)
            return self._handles
        self._nvml = pynvml
        try:
            for index in range(int(pynvml.nvmlDeviceGetCount())):
                self._handles[index] = pynvml.nvmlDeviceGetHandleByIndex(index)
        except pynvml.NVMLError as exc:
            log.warning("not checking GPUs for other users' processes: %s", exc)
        return self._handles

    def busy(self, candidates: Iterable[int], job_sessions: AbstractSet[int]) -> Set[int]:
        """The `candidates` on which some process outside `job_sessions` computes."""
        if not self.enabled:
            return set()
        handles = self._open()
        busy: Set[int] = set()
        for index in candidates:
            handle = handles.get(index)
            if handle is None:
                continue
            try:
                processes = self._nvml.nvmlDeviceGetComputeRunningProcesses(handle)
            except self._nvml.NVMLError as exc:
                log.warning("GPU %d: cannot list its processes (%s); not lending it", index, exc)
                busy.add(index)
                continue
            if any(not started_by_tether(p.pid, job_sessions) for p in processes):
                busy.add(index)
        return busy

    def close(self) -> None:
        if self._nvml is not None:
            try:
                self._nvml.nvmlShutdown()
            except self._nvml.NVMLError as exc:
                log.warning("NVML did not shut down cleanly: %s", exc)
            self._nvml = None
        self._handles = None
