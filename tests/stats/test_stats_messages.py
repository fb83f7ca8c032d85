"""Stats messages: bounded so that the biggest host still fits in one frame, and
every field survives the trip through the codec."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.codec import FrameDecoder, encode
from protocol.limits import (
    MAX_CPU_CORES,
    MAX_FRAME_BYTES,
    MAX_GPU_NAME,
    MAX_GPU_PROCESSES,
    MAX_GPUS,
    MAX_MISSING,
    MAX_PROCESS_NAME,
    MAX_REASON,
    MAX_STATS_JOBS,
    MAX_STATS_TEXT,
)
from protocol.stats import (
    GpuDevice,
    GpuInventory,
    GpuProcess,
    GpuReading,
    HostReading,
    JobUsage,
    StatsHistory,
    StatsSample,
    StatsSnapshot,
    StatsUpdate,
)

BIG = 2**63 - 1


def _host(cores: int = MAX_CPU_CORES) -> HostReading:
    return HostReading(
        cpu_pct=100.0,
        cpu_per_core_pct=[99.99] * cores,
        load_avg=[1234.56, 1234.56, 1234.56],
        mem_total_bytes=BIG,
        mem_used_bytes=BIG,
        mem_available_bytes=BIG,
        swap_total_bytes=BIG,
        swap_used_bytes=BIG,
        disk_path="/" + "d" * 4095,
        disk_total_bytes=BIG,
        disk_free_bytes=BIG,
    )


def _gpu(index: int, processes: int) -> GpuReading:
    return GpuReading(
        index=index,
        util_pct=100.0,
        mem_util_pct=100.0,
        mem_used_bytes=BIG,
        mem_total_bytes=BIG,
        temperature_c=123.456,
        power_w=1234.567,
        power_limit_w=1234.567,
        sm_clock_mhz=2**31,
        mem_clock_mhz=2**31,
        fan_pct=None,
        pstate=15,
        energy_j=1e15 + 0.5,
        processes=[
            GpuProcess(
                pid=2**22 + i, gpu_memory_bytes=BIG, job_id=2**40 + i, name="n" * MAX_PROCESS_NAME
            )
            for i in range(processes)
        ],
        processes_omitted=BIG,
        missing={f"field_{i:026d}": "r" * MAX_REASON for i in range(MAX_MISSING)},
        error="e" * MAX_STATS_TEXT,
    )


def _sample(gpus: int, processes: int, jobs: int, cores: int = MAX_CPU_CORES) -> StatsSample:
    return StatsSample(
        seq=BIG,
        t=1.7e9,
        gpus=[_gpu(i, processes) for i in range(gpus)],
        gpu_error="e" * MAX_STATS_TEXT,
        host=_host(cores),
        jobs=[
            JobUsage(
                job_id=2**40 + i,
                cpu_pct=12800.0,
                rss_bytes=BIG,
                processes=BIG,
                gpu_memory_bytes=BIG,
                gpus=list(range(MAX_GPUS)),
            )
            for i in range(jobs)
        ],
        jobs_omitted=BIG,
    )


def _inventory() -> GpuInventory:
    return GpuInventory(
        source="nvml",
        available=True,
        reason="r" * MAX_STATS_TEXT,
        driver_version="v" * 64,
        nvml_version="v" * 64,
        cuda_version="v" * 64,
        devices=[
            GpuDevice(
                index=i,
                name="N" * MAX_GPU_NAME,
                uuid="U" * MAX_GPU_NAME,
                pci_bus_id="P" * MAX_GPU_NAME,
                memory_total_bytes=BIG,
            )
            for i in range(MAX_GPUS)
        ],
    )


def _round_trip(message: object) -> object:
    frame = encode(message)  # type: ignore[arg-type]
    decoder = FrameDecoder()
    decoder.feed(frame)
    return decoder.next_message()


def test_the_largest_possible_sample_fits_in_one_frame() -> None:
    sample = _sample(MAX_GPUS, MAX_GPU_PROCESSES, MAX_STATS_JOBS)
    snapshot = StatsSnapshot(
        id=BIG, epoch="e" * 64, interval_s=1.0, gpu=_inventory(), sample=sample
    )
    frame = encode(snapshot)
    assert len(frame) <= MAX_FRAME_BYTES
    assert _round_trip(snapshot) == snapshot


def test_eight_gpus_with_two_hundred_processes_fit_with_room_to_spare() -> None:
    # The example host: 8 GPUs, 200 GPU processes in all (25 per GPU here,
    # and also all 200 on one GPU), 128 cores, 64 running jobs.
    spread = _sample(gpus=8, processes=25, jobs=64, cores=128)
    crowded = spread.model_copy(update={"gpus": [_gpu(0, 200)] + [_gpu(i, 0) for i in range(1, 8)]})
    for sample in (spread, crowded):
        update = StatsUpdate(id=1, sample=sample)
        assert len(encode(update)) < MAX_FRAME_BYTES // 4
        assert _round_trip(update) == update


def test_a_history_batch_of_typical_samples_round_trips() -> None:
    samples = [
        _sample(gpus=1, processes=1, jobs=1, cores=2).model_copy(update={"seq": n})
        for n in range(50)
    ]
    batch = StatsHistory(id=3, samples=samples, last=True)
    assert _round_trip(batch) == batch


_opt_float = st.none() | st.floats(allow_nan=False, allow_infinity=False, width=32)
_opt_int = st.none() | st.integers(min_value=0, max_value=2**63 - 1)
_processes = st.lists(
    st.builds(
        GpuProcess,
        pid=st.integers(min_value=0, max_value=2**31),
        gpu_memory_bytes=_opt_int,
        job_id=st.none() | st.integers(min_value=0, max_value=2**40),
        name=st.none() | st.text(max_size=MAX_PROCESS_NAME),
    ),
    max_size=5,
)
_readings = st.builds(
    GpuReading,
    index=st.integers(min_value=0, max_value=MAX_GPUS - 1),
    util_pct=_opt_float,
    mem_used_bytes=_opt_int,
    temperature_c=_opt_float,
    power_w=_opt_float,
    fan_pct=_opt_float,
    sm_clock_mhz=st.none() | st.integers(min_value=0, max_value=10_000),
    processes=_processes,
    missing=st.dictionaries(st.text(max_size=32), st.text(max_size=MAX_REASON), max_size=4),
    error=st.none() | st.text(max_size=MAX_STATS_TEXT),
)


@settings(max_examples=60, deadline=None)
@given(
    gpus=st.lists(_readings, max_size=4),
    cores=st.lists(st.floats(min_value=0, max_value=100, width=32), max_size=16),
    seq=st.integers(min_value=0, max_value=2**63 - 1),
)
def test_any_sample_survives_the_codec_unchanged(
    gpus: list[GpuReading], cores: list[float], seq: int
) -> None:
    host = _host(0).model_copy(update={"cpu_per_core_pct": cores, "disk_path": "/srv"})
    update = StatsUpdate(id=7, sample=StatsSample(seq=seq, t=1.5e9, gpus=gpus, host=host))
    assert _round_trip(update) == update
