"""The sans-IO codec: every message survives a round trip, and no input crashes it."""

from __future__ import annotations

import struct
import typing

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.cluster import ClusterJob, ClusterLoad, GetClusterLoad, PartitionLoad
from protocol.codec import FrameDecoder, encode
from protocol.errors import ErrorCode, FrameError, MessageError
from protocol.job_table import JobTableUpdate
from protocol.jobs import AttemptInfo, JobInfo, JobSpec, JobState, SnapshotInfo
from protocol.limits import MAX_FRAME_BYTES, MAX_LOG_CHUNK_BYTES
from protocol.messages import (
    Cancel,
    CancelGroup,
    Error,
    FollowLog,
    GetJob,
    GetStatus,
    Hello,
    JobList,
    JobReply,
    ListJobs,
    LogChunk,
    LogEnd,
    LogOffset,
    Message,
    Ok,
    PauseJob,
    PauseQueue,
    Ping,
    Pong,
    ReadLog,
    SetPriority,
    Shutdown,
    StatusReply,
    Submit,
    TailOffset,
    Unsubscribe,
    WatchJobs,
    Welcome,
)
from protocol.metrics import FollowMetrics, MetricRecord, MetricsChunk, MetricsEnd, ReadMetrics
from protocol.signals import ProcessSignalled, SignalJob, SignalProcess, SignalSent
from protocol.stats import (
    GetStats,
    GpuDevice,
    GpuInventory,
    GpuProcess,
    GpuReading,
    HostReading,
    JobUsage,
    StatsHistory,
    StatsInfo,
    StatsSample,
    StatsSnapshot,
    StatsUpdate,
    SubscribeStats,
)
from protocol.sync import (
    BlobPart,
    BlobsMissing,
    BlobsStored,
    BlobState,
    BlobsWanted,
    CollectGarbage,
    GarbageReport,
    ListOutputs,
    MakeSnapshot,
    OutputChunk,
    OutputFile,
    OutputList,
    PutBlobs,
    ReadOutput,
    Rerun,
    SnapshotReply,
)

_D1 = "0" * 63 + "1"
_D2 = "ab" * 32
_SNAPSHOT = SnapshotInfo(id=_D1, files=3, bytes=12)

JOB = JobInfo(
    id=7,
    name="train",
    state=JobState.FAILED,
    argv=["python", "train.py"],
    cwd="/w",
    created_at=1.5,
    started_at=2.0,
    finished_at=3.0,
    exit_code=3,
    log_bytes=10,
    snapshot=_SNAPSHOT,
)

_GPU = GpuInventory(
    source="replay",
    available=True,
    driver_version="580.159.04",
    cuda_version="13.0",
    devices=[GpuDevice(index=0, name="NVIDIA H100 80GB HBM3", memory_total_bytes=85520809984)],
)
_SAMPLE = StatsSample(
    seq=5,
    t=1.7e9,
    gpus=[
        GpuReading(
            index=0,
            util_pct=97.0,
            mem_used_bytes=1525481472,
            power_w=689.9,
            processes=[GpuProcess(pid=401, gpu_memory_bytes=1012924416, job_id=7, name="python3")],
            missing={"fan_pct": "not supported by this GPU"},
        )
    ],
    host=HostReading(
        cpu_pct=12.5,
        cpu_per_core_pct=[10.0, 15.0],
        load_avg=[0.5, 0.4, 0.3],
        mem_total_bytes=16,
        mem_used_bytes=8,
        mem_available_bytes=8,
        swap_total_bytes=0,
        swap_used_bytes=0,
        disk_path="/s",
        disk_total_bytes=100,
        disk_free_bytes=50,
    ),
    jobs=[
        JobUsage(
            job_id=7,
            cpu_pct=101.5,
            rss_bytes=2**30,
            processes=3,
            gpu_memory_bytes=1012924416,
            gpus=[0],
        )
    ],
)

STATS_EXAMPLES = [
    SubscribeStats(id=14, interval_s=0.5, history_s=60, epoch="ab12", after_seq=4),
    GetStats(id=15),
    StatsInfo(
        id=14,
        epoch="ab12",
        interval_s=0.5,
        sampler_interval_s=0.5,
        floor_s=0.25,
        history_s=900,
        gpu=_GPU,
    ),
    StatsHistory(id=14, samples=[_SAMPLE], last=True),
    StatsUpdate(id=14, sample=_SAMPLE),
    StatsSnapshot(id=15, epoch="ab12", interval_s=1.0, gpu=_GPU, sample=_SAMPLE),
]

EXAMPLES = [
    *STATS_EXAMPLES,
    WatchJobs(id=16, include_finished=True),
    Hello(protocol=1, client_version="0.1.0"),
    Welcome(protocol=1, runner_version="0.1.0", pid=4, hostname="gpu1"),
    Ping(id=1),
    Pong(id=1),
    Submit(id=2, spec=JobSpec(argv=["echo", "hi"], name="n", cwd="/tmp", env={"A": "1"}, gpus="2")),
    ListJobs(id=3, include_finished=True),
    GetJob(id=4, job_id=7),
    Cancel(id=5, job_id=7),
    SetPriority(id=5, job_id=7, priority=-3),
    PauseJob(id=5, job_id=7),
    PauseJob(id=5, job_id=7, paused=False),
    PauseQueue(id=5, paused=True),
    CancelGroup(id=5, group="sweep-3", key="k1"),
    SignalJob(id=5, job_id=7, signal="USR1", key="k3"),
    SignalSent(
        id=5,
        signal="USR1",
        process_group=4242,
        job=JOB.model_copy(update={"state": JobState.RUNNING}),
    ),
    SignalProcess(id=5, pid=31337, signal="TERM", key="k4"),
    ProcessSignalled(id=5, pid=31337, signal="TERM", job_id=7),
    ProcessSignalled(id=5, pid=31338, signal="KILL", job_id=6, leaked=True),
    ListJobs(id=3, group="sweep-3"),
    ReadLog(id=7, job_id=7, offset=0, attempt=2),
    Submit(
        id=2,
        spec=JobSpec(argv=["true"], retry=2, retry_on="exit", group="sweep", labels={"lr": "0.1"}),
    ),
    JobReply(
        id=2,
        job=JOB.model_copy(
            update={
                "state": JobState.PAUSED,
                "attempt": 2,
                "attempts": 3,
                "group": "sweep",
                "labels": {"lr": "0.1"},
                "past_attempts": [AttemptInfo(attempt=1, state=JobState.FAILED, exit_code=1)],
            }
        ),
    ),
    Submit(
        id=2,
        spec=JobSpec(argv=["true"], after=[4, 3, 4], after_any=True, priority=5),
    ),
    GetStatus(id=6),
    ReadLog(id=7, job_id=7, offset=100, max_bytes=10),
    TailOffset(id=8, job_id=7, lines=20),
    FollowLog(id=9, job_id=7, offset=0),
    Unsubscribe(id=10, stream_id=9),
    Shutdown(id=11),
    Ok(id=11),
    JobReply(id=2, job=JOB),
    JobList(id=3, jobs=[JOB, JOB]),
    JobTableUpdate(id=16, reset=True, jobs=[JOB], done=False, more=True),
    JobTableUpdate(id=16, gone=[4, 5], positions=[(7, 1), (8, 2)]),
    StatusReply(
        id=6,
        runner_version="0.1.0",
        protocol=1,
        pid=4,
        hostname="h",
        started_at=1.0,
        uptime_s=2.0,
        state_dir="/s",
        socket_path="/s/r.sock",
        job_counts={"running": 1},
        clients=2,
        queue_paused=True,
    ),
    LogChunk(id=9, job_id=7, offset=0, data=b"\xff\xfe\x00\r\x1b[31m", size=7),
    LogOffset(id=8, job_id=7, offset=5, size=9),
    LogEnd(id=9, offset=7, job=JOB),
    Error(id=None, code=ErrorCode.BAD_FRAME, message="broken"),
    ReadMetrics(id=12, job_id=7, offset=40),
    FollowMetrics(id=13, job_id=7, offset=0),
    MetricsChunk(
        id=13,
        job_id=7,
        offset=0,
        next_offset=60,
        records=[
            MetricRecord(step=1, time=1.5, values={"loss": 2.5, "lr": 3e-4}),
            MetricRecord(values={"val_acc": float("inf")}),
        ],
        malformed=1,
        malformed_first="line at byte 30: not valid JSON",
        size=80,
    ),
    MetricsEnd(id=13, job_id=7, offset=80, job=JOB),
    BlobsWanted(id=14, digests=[_D1, _D2]),
    BlobsMissing(id=14, missing=[BlobState(digest=_D2, have=4096)]),
    PutBlobs(id=15, parts=[BlobPart(digest=_D2, size=5000, offset=4096, data=b"\x00" * 904)]),
    BlobsStored(id=15, blobs=[BlobState(digest=_D2, have=5000)]),
    MakeSnapshot(id=16, manifest=_D1),
    SnapshotReply(id=16, snapshot=_SNAPSHOT),
    Rerun(id=17, job_id=7, key="k2"),
    ListOutputs(id=18, job_id=7, paths=["out/model.pt"], after="a b/\u00e9"),
    OutputList(
        id=18,
        files=[OutputFile(path="out/model.pt", size=3, mtime=5.25, executable=False)],
        more=True,
        job_active=True,
    ),
    ReadOutput(id=19, job_id=7, path="out/model.pt", offset=1, max_bytes=2),
    OutputChunk(id=19, path="out/model.pt", offset=1, data=b"\xff\x00", size=3, mtime=5.25),
    CollectGarbage(id=20, dry_run=True, keep_days=0.5),
    GarbageReport(id=20, dry_run=True, snapshots=1, blobs=2, bytes=3),
    GetClusterLoad(id=21),
    ClusterLoad(
        id=21,
        cluster="hpc",
        user="ada",
        t=1700000000.5,
        partitions=[
            PartitionLoad(
                name="gpu",
                default=True,
                nodes_mixed=2,
                cpus_used=40,
                cpus_total=128,
                gpus_used=5,
                gpus_total=8,
            )
        ],
        jobs=[
            ClusterJob(
                slurm_id=42,
                name="tether-7",
                state="RUNNING",
                partition="gpu",
                elapsed="1:02",
                nodes=2,
                where="gpu[01-02]",
                job_id=7,
            )
        ],
        jobs_omitted=3,
    ),
]


def test_every_message_type_is_exercised() -> None:
    union, _discriminator = typing.get_args(Message)
    declared = {cls.__name__ for cls in typing.get_args(union)}
    covered = {type(m).__name__ for m in EXAMPLES}
    assert declared <= covered, f"messages without a round-trip example: {declared - covered}"


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m.type)
def test_round_trip(message: object) -> None:
    decoder = FrameDecoder()
    decoder.feed(encode(message))  # type: ignore[arg-type]
    assert list(decoder) == [message]
    assert decoder.buffered == 0


def test_messages_split_at_every_byte_boundary_still_decode() -> None:
    stream = b"".join(encode(m) for m in EXAMPLES)  # type: ignore[arg-type]
    decoder = FrameDecoder()
    out = []
    for i in range(len(stream)):
        decoder.feed(stream[i : i + 1])
        out.extend(decoder)
    assert out == EXAMPLES


def test_oversized_length_prefix_is_refused_before_any_payload_arrives() -> None:
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">I", MAX_FRAME_BYTES + 1))
    with pytest.raises(FrameError) as err:
        decoder.next_message()
    assert err.value.code is ErrorCode.FRAME_TOO_LARGE
    decoder.feed(b"x" * 1000)  # nothing more is buffered once dead
    assert decoder.buffered == 0
    with pytest.raises(FrameError):
        decoder.next_message()


def test_tiny_msgpack_claiming_a_huge_array_does_not_allocate() -> None:
    # 0xdd = array32 claiming 2**32-1 elements in a 5-byte payload.
    payload = b"\xdd\xff\xff\xff\xff"
    decoder = FrameDecoder()
    decoder.feed(struct.pack(">I", len(payload)) + payload)
    with pytest.raises(FrameError) as err:
        decoder.next_message()
    assert err.value.code is ErrorCode.BAD_FRAME


def test_unknown_type_is_a_recoverable_error_naming_the_request() -> None:
    decoder = FrameDecoder()
    payload = msgpack.packb({"type": "teleport", "id": 42})
    decoder.feed(struct.pack(">I", len(payload)) + payload + encode(Ping(id=43)))
    with pytest.raises(MessageError) as err:
        decoder.next_message()
    assert err.value.code is ErrorCode.UNKNOWN_TYPE
    assert err.value.request_id == 42
    assert "teleport" in str(err.value)
    assert decoder.next_message() == Ping(id=43)  # the stream carries on


def test_invalid_fields_name_the_field() -> None:
    decoder = FrameDecoder()
    payload = msgpack.packb({"type": "read_log", "id": 5, "job_id": "seven", "offset": -1})
    decoder.feed(struct.pack(">I", len(payload)) + payload)
    with pytest.raises(MessageError) as err:
        decoder.next_message()
    assert err.value.code is ErrorCode.INVALID_MESSAGE
    assert "job_id" in str(err.value)
    assert err.value.request_id == 5


def test_log_chunk_over_the_chunk_limit_is_invalid() -> None:
    with pytest.raises(ValueError):
        LogChunk(id=1, job_id=1, offset=0, data=b"x" * (MAX_LOG_CHUNK_BYTES + 1), size=0)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"argv": ["a\x00b"]}, "NUL"),
        ({"argv": ["x"], "env": {"1BAD": "v"}}, "1BAD"),
        ({"argv": ["x"], "name": "bad\nname"}, "printable"),
        ({"argv": ["x"], "gpus": "many"}, "--gpus"),
        ({"argv": ["x" * 300_000]}, "longer"),
    ],
)
def test_job_spec_rejects_bad_input_with_a_specific_reason(spec: dict, fragment: str) -> None:
    with pytest.raises(ValueError) as err:
        JobSpec(**spec)
    assert fragment in str(err.value)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_garbage_never_crashes_only_protocol_errors(data: bytes) -> None:
    decoder = FrameDecoder(max_frame=4096)
    decoder.feed(data)
    try:
        list(decoder)
    except (FrameError, MessageError):
        pass


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(EXAMPLES), st.integers(min_value=1, max_value=200))
def test_truncated_frames_wait_for_more_and_never_misdecode(message: object, cut: int) -> None:
    frame = encode(message)  # type: ignore[arg-type]
    cut = min(cut, len(frame) - 1)
    decoder = FrameDecoder()
    decoder.feed(frame[:cut])
    assert decoder.next_message() is None
    decoder.feed(frame[cut:])
    assert decoder.next_message() == message


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=MAX_LOG_CHUNK_BYTES // 64), st.integers(min_value=0, max_value=2**62))
def test_any_log_bytes_round_trip_exactly(data: bytes, offset: int) -> None:
    message = LogChunk(id=1, job_id=1, offset=offset, data=data, size=offset + len(data))
    decoder = FrameDecoder()
    decoder.feed(encode(message))
    (decoded,) = list(decoder)
    assert isinstance(decoded, LogChunk)
    assert decoded.data == data and decoded.offset == offset


def test_sending_a_frame_over_the_cap_is_refused() -> None:
    huge = JobList(id=1, jobs=[JOB.model_copy(update={"name": "x" * 120})] * 20000)
    with pytest.raises(FrameError):
        encode(huge)
