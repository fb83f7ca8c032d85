"""Which `GpuSource` a runner reads its GPUs from, as its environment says.

- ``TETHER_GPU_SOURCE`` unset or ``nvml``: live NVML;
- ``TETHER_GPU_SOURCE=replay:PATH`` or ``replay:PATH#PHASE``: replay the JSON
  recording at PATH (only its samples of PHASE, e.g. ``load``), one recorded
  instant per sample, looping; ``TETHER_GPU_REPLAY_PID_MAP`` maps recorded GPU
  pids onto real ones (see `runner.gpu.replay`);
- ``TETHER_GPU_SOURCE=none``: no GPU sampling at all.

The source opened here is the only reader of the GPUs in a runner: the stats
sampler owns it, and the GPU queue learns the inventory and who is using each
GPU from the sampler's readings.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

from runner.gpu.source import GpuSource, UnavailableSource


def source_from_env(env: Optional[Mapping[str, str]] = None) -> GpuSource:
    """The GPU source the environment asks for (see the module docstring)."""
    env = os.environ if env is None else env
    spec = env.get("TETHER_GPU_SOURCE", "").strip()
    if spec in ("", "nvml"):
        from runner.gpu.nvml import NvmlSource

        return NvmlSource()
    if spec in ("none", "off"):
        return UnavailableSource("none", f"GPU sampling is turned off (TETHER_GPU_SOURCE={spec})")
    if spec.startswith("replay:"):
        from runner.gpu.replay import ReplaySource

        return ReplaySource.from_spec(spec[len("replay:") :], env.get("TETHER_GPU_REPLAY_PID_MAP"))
    return UnavailableSource(
        "config",
        f"TETHER_GPU_SOURCE={spec!r} is not understood: use nvml, none or replay:PATH",
    )
