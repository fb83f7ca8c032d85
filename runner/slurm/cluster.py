"""What a Slurm cluster is, read from ``scontrol show config`` and ``sinfo`` (sans-IO)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

#: ``sinfo --noheader --format=...``: partition (the default one ends in ``*``),
#: availability, time limit.
SINFO_FORMAT = "%P|%a|%l"


@dataclass(frozen=True)
class Partition:
    name: str
    #: Slurm's availability: ``up`` takes jobs; ``down``, ``drain``, ``inact`` do not.
    up: bool
    #: The longest a job may run, in Slurm's words (``infinite``, ``2-00:00:00``).
    time_limit: str


@dataclass(frozen=True)
class ClusterInfo:
    """A cluster the runner can hand jobs to."""

    name: str
    partitions: Tuple[Partition, ...]
    default_partition: Optional[str]
    #: ``sacct`` answers (accounting storage is on); where it is off, finished jobs
    #: are known only while ``squeue`` and ``scontrol`` still remember them.
    accounting: bool


def parse_config(text: str) -> Dict[str, str]:
    """``scontrol show config``'s ``Key = Value`` lines as a dict."""
    config: Dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and " " not in key.strip():
            config[key.strip()] = value.strip()
    return config


def parse_sinfo(text: str) -> Tuple[Tuple[Partition, ...], Optional[str]]:
    """The partitions in ``sinfo --noheader --format=SINFO_FORMAT`` (sinfo repeats a
    partition whose nodes are in several states: each is kept once) and the default
    one, which sinfo marks with ``*``."""
    partitions: Dict[str, Partition] = {}
    default = None
    for line in text.splitlines():
        fields = line.split("|")
        if len(fields) != 3 or not fields[0]:
            continue
        name, available, time_limit = fields
        if name.endswith("*"):
            name = name[:-1]
            default = name
        partitions.setdefault(name, Partition(name, available == "up", time_limit))
    return tuple(partitions.values()), default


def cluster_info(config_text: str, sinfo_text: str) -> ClusterInfo:
    config = parse_config(config_text)
    partitions, default = parse_sinfo(sinfo_text)
    storage = config.get("AccountingStorageType", "accounting_storage/none")
    return ClusterInfo(
        name=config.get("ClusterName", "unnamed"),
        partitions=partitions,
        default_partition=default,
        accounting=storage != "accounting_storage/none",
    )
