"""The history ring: bounded by time and rate, cut into frame-sized batches."""

from __future__ import annotations

from protocol.codec import encode
from protocol.limits import MAX_FRAME_BYTES
from protocol.stats import HostReading, StatsHistory, StatsSample, StatsUpdate
from runner.stats.history import SampleHistory

HOST = HostReading(
    cpu_pct=1.0,
    cpu_per_core_pct=[1.0, 2.0],
    load_avg=[0.1, 0.1, 0.1],
    mem_total_bytes=1,
    mem_used_bytes=1,
    mem_available_bytes=0,
    swap_total_bytes=0,
    swap_used_bytes=0,
    disk_path="/",
    disk_total_bytes=1,
    disk_free_bytes=1,
)


def _sample(seq: int, t: float, cores: int = 2) -> StatsSample:
    host = HOST.model_copy(update={"cpu_per_core_pct": [50.0] * cores})
    return StatsSample(seq=seq, t=t, host=host)


def _fill(history: SampleHistory, count: int, step: float, cores: int = 2) -> None:
    for seq in range(1, count + 1):
        sample = _sample(seq, 1000.0 + seq * step, cores)
        history.add(sample, len(encode(StatsUpdate(id=0, sample=sample))))


def test_history_keeps_only_the_last_window() -> None:
    history = SampleHistory(history_s=10, interval_s=1)
    _fill(history, 100, step=1.0)
    assert len(history) == 11
    (batch,) = history.batches(900)
    assert [s.seq for s in batch] == list(range(90, 101))
    (recent,) = history.batches(3)
    assert [s.seq for s in recent] == [97, 98, 99, 100]


def test_samples_taken_faster_than_the_rate_are_not_kept() -> None:
    history = SampleHistory(history_s=60, interval_s=1)
    _fill(history, 40, step=0.25)  # a client had asked for 4 Hz for 10 s
    (batch,) = history.batches(60)
    assert [s.seq for s in batch] == list(range(1, 41, 4))


def test_reattaching_client_gets_only_what_it_missed() -> None:
    history = SampleHistory(history_s=100, interval_s=1)
    _fill(history, 50, step=1.0)
    (batch,) = history.batches(100, after_seq=45)
    assert [s.seq for s in batch] == [46, 47, 48, 49, 50]
    assert history.batches(100, after_seq=50) == []
    assert history.batches(0) == []


def test_batches_stay_under_their_byte_budget_and_keep_order() -> None:
    history = SampleHistory(history_s=1000, interval_s=1)
    _fill(history, 300, step=1.0, cores=256)  # ~2.5 kB per sample
    batches = history.batches(1000, batch_bytes=64 * 1024)
    assert len(batches) > 5
    seqs = [s.seq for batch in batches for s in batch]
    assert seqs == list(range(1, 301))
    for batch in batches:
        frame = encode(StatsHistory(id=1, samples=batch))
        assert len(frame) <= 64 * 1024 + 1024 < MAX_FRAME_BYTES
