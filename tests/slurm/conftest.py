"""The real Slurm the tests use: scripts/slurm-up's one-node cluster, or a skip."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from runner.slurm.cluster import ClusterInfo
from runner.slurm.commands import probe


@pytest.fixture(scope="session")
def cluster() -> ClusterInfo:
    """The cluster scripts/slurm-up started, or a skip that says how to start it."""
    if shutil.which("scontrol") is None:
        pytest.skip("no Slurm here (scontrol not on PATH): run scripts/slurm-up as root")
    try:
        ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True, timeout=15)
    except subprocess.TimeoutExpired:
        pytest.skip("scontrol ping did not answer in 15 s: run scripts/slurm-up as root")
    if ping.returncode != 0 or "is UP" not in ping.stdout:
        said = (ping.stdout.strip() or ping.stderr.strip() or "no answer").splitlines()[0]
        pytest.skip(f"Slurm is not up ({said}): run scripts/slurm-up as root")
    info = asyncio.run(probe())
    assert info is not None, "scontrol ping answers but probe() finds no cluster"
    return info


def node_cpus() -> int:
    return int(
        subprocess.run(
            ["sinfo", "-h", "-o", "%c"], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
