"""The replay source: the recorded H100 readings behind the GPU source interface."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from runner.gpu.open_source import source_from_env
from runner.gpu.replay import ReplayError, ReplaySource, parse_pid_map
from tests.stats.conftest import RECORDED_LOAD_MEMORY, RECORDED_LOAD_PID, RECORDING, recording


def _walk(source: ReplaySource) -> list:
    return [source.read().gpus[0] for _ in range(source.instants)]


def test_inventory_is_the_recorded_h100() -> None:
    source = ReplaySource(RECORDING)
    inventory = source.open()
    assert inventory.available and inventory.source == "replay"
    (device,) = inventory.devices
    assert device.name == "NVIDIA H100 80GB HBM3"
    assert device.memory_total_bytes == 85520809984
    assert device.uuid.startswith("GPU-fcb20fa3")
    assert inventory.driver_version == "580.159.04"
    assert inventory.cuda_version == "13.0"


def test_replay_walks_idle_then_load_with_a_process_then_after_and_loops() -> None:
    source = ReplaySource(RECORDING)
    source.open()
    samples = recording()["samples"]
    readings = _walk(source)
    assert len(readings) == len(samples) == source.instants
    for recorded, reading in zip(samples, readings):
        assert reading.util_pct == recorded["gpu_util"]
        assert reading.mem_used_bytes == recorded["mem_used"]
        assert reading.power_w == pytest.approx(recorded["power_mw"] / 1000)
        assert reading.power_limit_w == 700.0
        assert reading.fan_pct is None
        assert reading.missing["fan_pct"] == "not supported by this GPU"
        assert [p.pid for p in reading.processes] == [p["pid"] for p in recorded["processes"]]
    busy = [r for r in readings if r.processes]
    assert busy and max(r.util_pct or 0 for r in busy) >= 95
    assert all(r.processes[0].gpu_memory_bytes in (916455424, RECORDED_LOAD_MEMORY) for r in busy)
    assert readings[0].processes == [] and readings[-1].processes == []
    assert source.read().gpus[0] == readings[0]  # loops


def test_phase_selects_only_that_part_of_the_recording() -> None:
    source = ReplaySource(RECORDING, phase="after")
    source.open()
    readings = _walk(source)
    assert len(readings) == sum(1 for s in recording()["samples"] if s["phase"] == "after")
    assert all(not r.processes and r.util_pct == 0 for r in readings)


def test_unknown_phase_says_which_phases_exist() -> None:
    inventory = ReplaySource(RECORDING, phase="warmup").open()
    assert not inventory.available
    assert inventory.reason is not None
    assert "no phase 'warmup' (it has: after, idle, load)" in inventory.reason


def test_missing_or_broken_recording_is_an_unavailable_gpu_with_the_reason(tmp_path: Path) -> None:
    missing = ReplaySource(tmp_path / "nope.json").open()
    assert not missing.available
    assert "cannot read the GPU recording" in (missing.reason or "")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    assert "is not valid JSON" in (ReplaySource(broken).open().reason or "")
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"samples": []}))
    assert "has no samples" in (ReplaySource(empty).open().reason or "")


def test_recorded_pid_maps_onto_a_literal_pid_or_the_pid_in_a_file(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    source = ReplaySource(RECORDING, "load", {RECORDED_LOAD_PID: pid_file})
    source.open()
    readings = _walk(source)
    assert {p.pid for r in readings for p in r.processes} == {RECORDED_LOAD_PID}
    pid_file.write_text(f"{os.getpid()}\n")
    readings = _walk(source)
    assert {p.pid for r in readings for p in r.processes} == {os.getpid()}
    literal = ReplaySource(RECORDING, "load", {RECORDED_LOAD_PID: 4242})
    literal.open()
    assert {p.pid for r in _walk(literal) for p in r.processes} == {4242}


def test_pid_map_setting_is_checked_with_a_clear_message() -> None:
    assert parse_pid_map("401=12, 402=@/tmp/x") == {401: 12, 402: Path("/tmp/x")}
    assert parse_pid_map("") == {}
    with pytest.raises(ReplayError, match="'401' is not RECORDED_PID=PID or RECORDED_PID=@FILE"):
        parse_pid_map("401")
    with pytest.raises(ReplayError, match="maps to 'me', which is neither a pid nor @FILE"):
        parse_pid_map("401=me")
    source = source_from_env(
        {"TETHER_GPU_SOURCE": f"replay:{RECORDING}", "TETHER_GPU_REPLAY_PID_MAP": "x=1"}
    )
    inventory = source.open()
    assert not inventory.available and "TETHER_GPU_REPLAY_PID_MAP" in (inventory.reason or "")


def test_source_setting_picks_replay_nothing_or_explains_itself() -> None:
    assert isinstance(source_from_env({"TETHER_GPU_SOURCE": f"replay:{RECORDING}"}), ReplaySource)
    off = source_from_env({"TETHER_GPU_SOURCE": "none"}).open()
    assert not off.available and off.reason == "GPU sampling is turned off (TETHER_GPU_SOURCE=none)"
    bogus = source_from_env({"TETHER_GPU_SOURCE": "cuda"}).open()
    assert (
        bogus.reason == "TETHER_GPU_SOURCE='cuda' is not understood: use nvml, none or replay:PATH"
    )


def test_a_gpu_lost_mid_recording_is_a_reading_error_not_an_exception(tmp_path: Path) -> None:
    data = recording()
    lost = dict(data["samples"][45])
    lost["error"] = "GPU is lost"
    data["samples"] = [data["samples"][44], lost, data["samples"][46]]
    path = tmp_path / "lost.json"
    path.write_text(json.dumps(data))
    source = ReplaySource(path)
    assert source.open().available
    before, during, after = _walk(source)
    assert before.error is None and before.util_pct is not None
    assert during.error == "GPU is lost (fallen off the bus?); NVML: GPU is lost"
    assert during.util_pct is None
    assert after.error is None
