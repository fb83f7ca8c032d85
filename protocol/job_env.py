"""The variables a job's process is given on top of the login shell's environment.

One rule with two readers: the runner launches each job with these, and
``tether shell JOB`` opens a shell that must see exactly what the job sees (the
same GPUs above all), so the client builds the same set from the job record.
``TETHER_METRICS`` is the runner's alone: it names the job's own metrics file,
which a shell must not write into by accident.

Standard library only and Python 3.9, like all of `protocol`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Dict, Iterable, Mapping, Optional

if TYPE_CHECKING:
    from protocol.jobs import JobInfo

JOB_ID_VAR = "TETHER_JOB_ID"


def gpu_env(gpus: Iterable[int]) -> Dict[str, str]:
    """The variables that confine a job to `gpus` (an empty list hides every GPU)."""
    return {
        "CUDA_VISIBLE_DEVICES": ",".join(str(g) for g in gpus),
        "CUDA_DEVICE_ORDER": "PCI_BUS_ID",
    }


def gpu_env_of(gpus_requested: Optional[str], gpus: Iterable[int]) -> Dict[str, str]:
    """A job's GPU variables: none without ``--gpus`` (the environment is left as it
    is), else the GPUs it was given, which are none for ``--gpus 0`` and for a job
    still waiting for its turn."""
    return {} if gpus_requested is None else gpu_env(gpus)


def launch_env(job_id: int, env: Mapping[str, str], gpus: Mapping[str, str]) -> Dict[str, str]:
    """What a job gets on top of its login environment: unbuffered Python output (so
    the log follows the program), then the variables the person gave, then its
    GPUs' and its id, which the person cannot override."""
    merged = {"PYTHONUNBUFFERED": "1"}
    merged.update(env)
    merged.update(gpus)
    merged[JOB_ID_VAR] = str(job_id)
    return merged


def job_env(job: JobInfo) -> Dict[str, str]:
    """The variables `launch_env` gave (or will give) this job, from its record."""
    return launch_env(job.id, job.env, gpu_env_of(job.gpus_requested, job.gpus))
