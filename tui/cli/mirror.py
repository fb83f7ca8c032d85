"""``tether mirror [--prune]``: what the local mirror (`tui.mirror`) holds, per
host, against its cap; with ``--prune``, every copy checked and the oldest
dropped until the mirror fits ``[mirror] max_size``."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Dict, List
from urllib.parse import unquote

from protocol.units import iso_time, size
from tui.cli.format import text_table
from tui.config import load_config
from tui.mirror.host import HostMirror, mirror_root
from tui.mirror.prune import PruneReport, prune
from tui.visible import visible


async def mirror(args: argparse.Namespace, host: str) -> int:
    cap = load_config().mirror_max_bytes
    root = mirror_root()
    # Without --prune nothing is dropped: a cap of "everything" only measures.
    report = await asyncio.to_thread(prune, root, cap if args.prune else 1 << 62, args.prune)
    hosts = await asyncio.to_thread(_job_lists, [unquote(name) for name in report.hosts])
    if args.json:
        print(json.dumps(_as_json(report, hosts, cap, args.prune), indent=2))
        return 0
    if cap == 0:
        print('the mirror is off ([mirror] max_size = "0" in the config)')
    rows: List[List[str]] = [["HOST", "JOBS KEPT", "SIZE", "JOB LIST AS OF"]]
    for name, usage in sorted(report.hosts.items()):
        as_of = hosts.get(unquote(name))
        when = iso_time(as_of) if as_of is not None else "-"
        rows.append([visible(unquote(name)), str(usage.jobs), size(usage.bytes), when or "-"])
    if len(rows) > 1:
        print("\n".join(text_table(rows, frozenset({1, 2}))))
    print(f"{size(report.bytes_after)} of {size(cap)} ([mirror] max_size) in {root}")
    if args.prune:
        freed = size(report.bytes_before - report.bytes_after)
        print(
            f"pruned: {report.jobs_dropped} job copies dropped for the cap, "
            f"{report.damaged} damaged ones dropped, {freed} freed"
        )
    return 0


def _job_lists(hosts: List[str]) -> Dict[str, float]:
    found: Dict[str, float] = {}
    for host in hosts:
        kept = HostMirror(host).jobs()
        if kept is not None:
            found[host] = kept.as_of
    return found


def _as_json(
    report: PruneReport, hosts: Dict[str, float], cap: int, pruned: bool
) -> Dict[str, object]:
    return {
        "root": str(mirror_root()),
        "max_bytes": cap,
        "bytes": report.bytes_after,
        "hosts": [
            {
                "host": unquote(name),
                "jobs": usage.jobs,
                "bytes": usage.bytes,
                "jobs_as_of": iso_time(hosts.get(unquote(name))),
            }
            for name, usage in sorted(report.hosts.items())
        ],
        "pruned": {
            "jobs_dropped": report.jobs_dropped,
            "damaged": report.damaged,
            "bytes_freed": report.bytes_before - report.bytes_after,
        }
        if pruned
        else None,
    }
