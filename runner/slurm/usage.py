"""How full a cluster is, read from ``sinfo`` and ``squeue`` (sans-IO).

What ``tether top`` shows of a cluster: each partition's nodes by state, its
CPUs and its GPUs (Slurm's GRES) in use and in all, and the person's own Slurm
jobs. The commands are run by `runner.slurm.commands`; this module only reads
their output, so it is tested on captured lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Dict, List, Tuple

from protocol.cluster import ClusterJob, PartitionLoad
from runner.slurm.states import SlurmOutputError

#: ``sinfo --noheader --Node --Format=...``: one line per node and partition.
#: ``-O`` fields end in ``|`` (their suffix) and are as wide as their text.
SINFO_NODES_FORMAT = "NodeList:|,Partition:|,StateLong:|,Gres:|,GresUsed:|,CPUsState:|"
#: ``squeue --me --noheader --format=...``: id, name, state, partition, time
#: used, node count, and the node list (running) or ``(reason)`` (pending).
SQUEUE_MINE_FORMAT = "%i|%j|%T|%P|%M|%D|%R"

#: The words ``top`` counts nodes by.
NODE_STATES = ("idle", "mixed", "allocated", "down", "other")
#: Slurm's node states behind them (the rest: other).
_IDLE = frozenset({"idle"})
_MIXED = frozenset({"mixed"})
_ALLOCATED = frozenset({"allocated", "completing"})
_DOWN = frozenset({"down", "drained", "draining", "fail", "failing", "not_responding"})

#: One GRES entry: ``gpu:4``, ``gpu:a100:4(S:0-1)``, ``gpu:a100:2(IDX:0,2)``.
_GPU = re.compile(r"^gpu(?::[^:(]+)?:(\d+)(?:\(.*\))?$")


@dataclass
class _Counts:
    """A partition's figures as its nodes' lines are added up."""

    default: bool
    nodes: Dict[str, int] = field(default_factory=lambda: dict.fromkeys(NODE_STATES, 0))
    cpus_used: int = 0
    cpus_total: int = 0
    gpus_used: int = 0
    gpus_total: int = 0


def node_state(word: str) -> str:
    """``idle``, ``mixed``, ``allocated``, ``down`` or ``other`` for Slurm's long
    state (``idle``, ``mixed+drain``, ``down*``, ``allocated+cloud``...): a node
    being drained or not responding counts as down, as it takes no new job."""
    flags = word.lower().rstrip("*~#!%$@^-").split("+")
    base = flags[0]
    if base in _DOWN or any(flag in _DOWN or flag == "drain" for flag in flags[1:]):
        return "down"
    for name, words in (("idle", _IDLE), ("mixed", _MIXED), ("allocated", _ALLOCATED)):
        if base in words:
            return name
    return "other"


def gpu_count(gres: str) -> int:
    """The GPUs in a GRES list (``gpu:a100:4(S:0-1),shard:8``: 4); 0 for none."""
    if gres in ("", "(null)", "N/A"):
        return 0
    total = 0
    for entry in _split_gres(gres):
        match = _GPU.match(entry)
        if match is not None:
            total += int(match.group(1))
    return total


def _split_gres(gres: str) -> List[str]:
    """The entries of a GRES list: commas inside ``(IDX:0,2)`` do not split."""
    entries, depth, start = [], 0, 0
    for i, char in enumerate(gres):
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "," and depth == 0:
            entries.append(gres[start:i])
            start = i + 1
    entries.append(gres[start:])
    return [entry.strip() for entry in entries if entry.strip()]


def parse_partitions(text: str) -> List[PartitionLoad]:
    """Partitions in ``sinfo``'s order from `SINFO_NODES_FORMAT` lines. A node in
    several partitions counts in each."""
    counts: Dict[str, _Counts] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 6:
            raise SlurmOutputError(f"sinfo printed {line!r}, not node|partition|state|...")
        _node, partition, state, gres, gres_used, cpus = fields[:6]
        name = partition.rstrip("*")
        count = counts.setdefault(name, _Counts(default=partition.endswith("*")))
        count.nodes[node_state(state)] += 1
        used, total = _cpus(cpus, line)
        count.cpus_used += used
        count.cpus_total += total
        count.gpus_used += gpu_count(gres_used)
        count.gpus_total += gpu_count(gres)
    return [
        PartitionLoad(
            name=name,
            default=c.default,
            nodes_idle=c.nodes["idle"],
            nodes_mixed=c.nodes["mixed"],
            nodes_allocated=c.nodes["allocated"],
            nodes_down=c.nodes["down"],
            nodes_other=c.nodes["other"],
            cpus_used=c.cpus_used,
            cpus_total=c.cpus_total,
            gpus_used=c.gpus_used,
            gpus_total=c.gpus_total,
        )
        for name, c in counts.items()
    ]


def _cpus(field_text: str, line: str) -> Tuple[int, int]:
    """``A/I/O/T`` (allocated, idle, other, total): allocated and total."""
    parts = field_text.split("/")
    if len(parts) != 4 or not all(part.isdigit() for part in parts):
        raise SlurmOutputError(f"sinfo printed CPUs {field_text!r} in {line!r}, not A/I/O/T")
    return int(parts[0]), int(parts[3])


def parse_my_jobs(text: str) -> List[ClusterJob]:
    """The person's jobs from `SQUEUE_MINE_FORMAT` lines; a job array's tasks and
    other ids that are not plain numbers are skipped (tether submits none)."""
    jobs: List[ClusterJob] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        fields = line.split("|")
        if len(fields) < 7:
            raise SlurmOutputError(f"squeue printed {line!r}, not id|name|state|...")
        raw_id, name, state, partition, elapsed, nodes = fields[:6]
        where = "|".join(fields[6:])  # a reason may hold the separator
        if not raw_id.isdigit():
            continue
        jobs.append(
            ClusterJob(
                slurm_id=int(raw_id),
                name=name,
                state=state,
                partition=partition,
                elapsed=elapsed,
                nodes=int(nodes) if nodes.isdigit() else 0,
                where=_where(where),
            )
        )
    return jobs


def _where(text: str) -> str:
    """``(Resources)`` reads ``Resources``; a node list stays as it is."""
    if text.startswith("(") and text.endswith(")"):
        return text[1:-1]
    return text
