"""The GPUs tether may hand out on this host, and whether to mind other users.

The inventory is ``TETHER_GPUS`` from the runner's environment when it is set
(``0,1,2,3``; empty for none): that is how a person keeps some GPUs out of
tether's hands, and how tests and GPU-less hosts define one. Otherwise it is
every GPU the runner's GPU source found (live NVML, in NVML's order, which is
PCI bus order: jobs get ``CUDA_DEVICE_ORDER=PCI_BUS_ID`` so that CUDA numbers
them the same way). No driver means no GPUs: never an error.

A GPU is *busy* when a compute process that tether did not start runs on it
(another user's job, a notebook); `runner.gpu.occupancy` says which, from the
stats sampler's readings. ``TETHER_GPUS_ALLOW_BUSY=1`` turns the check off.
"""

from __future__ import annotations

import os
from typing import List, Mapping, Optional

from runner.errors import RunnerError

GPUS_ENV = "TETHER_GPUS"
ALLOW_BUSY_ENV = "TETHER_GPUS_ALLOW_BUSY"


def parse_gpu_list(text: str) -> List[int]:
    """``"0,1,3"`` as indices; raises `RunnerError` naming the bad part."""
    found: List[int] = []
    for part in text.split(","):
        word = part.strip()
        if not word:
            continue
        if not word.isdigit():
            raise RunnerError(
                f"{GPUS_ENV} must list GPU indices like 0,1,2,3; {word!r} is not an index"
            )
        if int(word) in found:
            raise RunnerError(f"{GPUS_ENV} lists GPU {word} twice")
        found.append(int(word))
    return sorted(found)


def configured_inventory(environ: Mapping[str, str] = os.environ) -> Optional[List[int]]:
    """``TETHER_GPUS`` as indices, or None when it is not set."""
    configured = environ.get(GPUS_ENV)
    return None if configured is None else parse_gpu_list(configured)


def minds_other_users(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether GPUs that others' processes use are held back (the default)."""
    return environ.get(ALLOW_BUSY_ENV, "") not in ("1", "true", "yes")
