"""The mirror's files on a real disk: a copy is always an exact prefix of the
host's file or nothing (overlaps checked, gaps refused, a new attempt starts
over); what a killed client or a damaged disk leaves is repaired or dropped,
never shown; the cap drops the least recently written copies first."""

from __future__ import annotations

import asyncio
import json
import math
import os
from pathlib import Path

from protocol.jobs import JobInfo, JobState
from protocol.metrics import MetricRecord, MetricsChunk
from tui.mirror.host import HostMirror
from tui.mirror.prune import prune
from tui.mirror.writer import MirrorWriter


def _log(mirror: HostMirror, job_id: int = 1) -> bytes:
    return b"".join(mirror.log(job_id).blocks())


def test_a_log_copy_is_the_hosts_prefix_whatever_order_the_chunks_come_in(tmp_path: Path) -> None:
    host = bytes(range(256)) * 4  # every byte value, 1 KiB
    mirror = HostMirror("gpu1", tmp_path)
    mirror.add_log(1, None, 0, host[:100])
    mirror.add_log(1, None, 100, host[100:300])
    mirror.add_log(1, None, 50, host[50:350])  # overlaps what is held, and agrees
    assert _log(mirror) == host[:350]
    mirror.add_log(1, None, 500, host[500:600])  # a gap (a --tail read): not a prefix
    assert _log(mirror) == host[:350]
    mirror.add_log(1, None, 350, host[350:])
    assert _log(mirror) == host
    assert mirror.log(1).prefix().host_offset == len(host)

    # A chunk that disagrees with what is held: the host's log is another one now.
    mirror.add_log(1, None, 0, b"attempt 2\n")
    assert _log(mirror) == b"attempt 2\n"
    mirror.add_log(1, None, 5, b"XXXX")  # disagrees, not from the start: nothing is kept
    assert _log(mirror) == b""


def test_what_a_killed_client_or_a_damaged_disk_leaves_is_repaired_or_dropped(
    tmp_path: Path,
) -> None:
    mirror = HostMirror("gpu1", tmp_path)
    mirror.add_log(1, None, 0, b"hello\n")
    data = mirror.log(1).path
    with data.open("ab") as out:  # killed after the append, before its sidecar
        out.write(b"half a chunk")
    fresh = HostMirror("gpu1", tmp_path)  # another process
    assert _log(fresh) == b"hello\n"
    assert data.read_bytes() == b"hello\n"  # cut back

    raw = bytearray(data.read_bytes())
    raw[0] ^= 0xFF  # a byte changed under the mirror
    data.write_bytes(bytes(raw))
    assert _log(HostMirror("gpu1", tmp_path)) == b""
    assert not data.exists()

    mirror.add_log(2, None, 0, b"short")
    mirror.log(2).path.write_bytes(b"sh")  # a disk that filled up
    assert _log(HostMirror("gpu1", tmp_path), 2) == b""

    jobs = mirror.dir / "jobs.json"
    mirror.record_jobs([_job(1)], 1000.0, whole=True)
    jobs.write_text(jobs.read_text()[:40])  # written halfway
    assert mirror.jobs() is None and not jobs.exists()


def _job(job_id: int, state: JobState = JobState.RUNNING) -> JobInfo:
    return JobInfo(id=job_id, name=f"j{job_id}", state=state, argv=["x"], cwd="/", created_at=0.0)


def test_job_lists_merge_unless_the_list_is_whole(tmp_path: Path) -> None:
    mirror = HostMirror("gpu1", tmp_path)
    mirror.record_jobs([_job(1), _job(2)], 100.0, whole=True)
    mirror.record_jobs([_job(2, JobState.SUCCEEDED)], 200.0, whole=False)
    kept = mirror.jobs()
    assert kept is not None and kept.as_of == 200.0
    assert [(j.id, j.state) for j in kept.jobs] == [(1, "running"), (2, "succeeded")]
    mirror.record_jobs([_job(3)], 300.0, whole=True)
    kept = mirror.jobs()
    assert kept is not None and [j.id for j in kept.jobs] == [3]


def _chunk(offset: int, end: int, *losses: float) -> MetricsChunk:
    records = [MetricRecord(step=i, values={"loss": loss}) for i, loss in enumerate(losses)]
    return MetricsChunk(id=0, job_id=4, offset=offset, next_offset=end, records=records, size=end)


def test_metric_chunks_are_kept_in_host_order_nan_and_all(tmp_path: Path) -> None:
    mirror = HostMirror("gpu1", tmp_path)
    mirror.add_metrics(_chunk(0, 40, 2.5, 1.25))
    mirror.add_metrics(_chunk(0, 40, 2.5, 1.25))  # read again: already held
    mirror.add_metrics(_chunk(80, 100, 9.0))  # a gap
    mirror.add_metrics(_chunk(40, 60, float("nan")))
    kept = list(HostMirror("gpu1", tmp_path).metrics(4))
    assert [(c.offset, c.next_offset) for c in kept] == [(0, 40), (40, 60)]
    losses = [r.values["loss"] for c in kept for r in c.records]
    assert losses[:2] == [2.5, 1.25] and math.isnan(losses[2])


def test_the_cap_drops_the_least_recently_written_copies_first(tmp_path: Path) -> None:
    for host, job_id, age in (("a", 1, 300), ("a", 2, 100), ("b", 3, 200)):
        mirror = HostMirror(host, tmp_path)
        mirror.add_log(job_id, None, 0, b"x" * 1000)
        for path in mirror.log(job_id).path.parent.iterdir():
            os.utime(path, (1e9 - age, 1e9 - age))
    report = prune(tmp_path, 2500)
    assert report.jobs_dropped == 1 and report.bytes_after <= 2500
    assert not (tmp_path / "a" / "jobs" / "1").exists()  # the oldest
    assert _log(HostMirror("a", tmp_path), 2) == b"x" * 1000
    report = prune(tmp_path, 1500)
    assert not (tmp_path / "b" / "jobs" / "3").exists()
    assert {h: u.jobs for h, u in report.hosts.items()} == {"a": 1}

    # A damaged copy is found by a checked prune, not only when read.
    log = HostMirror("a", tmp_path).log(2).path
    log.write_bytes(b"y" * 1000)
    checked = prune(tmp_path, 1 << 40, check=True)
    assert checked.damaged == 1 and not log.exists()


def test_the_writer_joins_chunks_writes_them_off_the_loop_and_flushes_on_close(
    tmp_path: Path,
) -> None:
    host = os.urandom(300_000)

    async def stream() -> MirrorWriter:
        writer = MirrorWriter(HostMirror("gpu1", tmp_path), 1 << 30)
        for start in range(0, len(host), 1000):
            writer.log(9, None, start, host[start : start + 1000])
            if start % 50_000 == 0:
                await asyncio.sleep(0)  # let batches form
        writer.jobs([_job(9)], whole=False)
        await writer.close()
        return writer

    writer = asyncio.run(stream())
    assert writer.error is None and writer.bytes_written == len(host)
    mirror = HostMirror("gpu1", tmp_path)
    assert _log(mirror, 9) == host
    kept = mirror.jobs()
    assert kept is not None and [j.id for j in kept.jobs] == [9]
    sidecar = json.loads(mirror.log(9).meta_path.read_text())
    assert sidecar["size"] == sidecar["host_offset"] == len(host)


def test_only_the_newest_attempts_log_is_kept(tmp_path: Path) -> None:
    mirror = HostMirror("gpu1", tmp_path)
    mirror.add_log(5, 1, 0, b"attempt 1 failed\n")
    mirror.add_log(5, 2, 0, b"attempt 2 ")  # a newer attempt: the copy starts over
    mirror.add_log(5, 1, 0, b"attempt 1 failed\n")  # an older one: let go
    mirror.add_log(5, None, 10, b"ran\n")  # the latest, unnamed, continues it
    assert _log(mirror, 5) == b"attempt 2 ran\n"
    assert mirror.log(5).prefix().attempt == 2
