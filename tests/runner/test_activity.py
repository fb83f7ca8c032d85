"""The watchdog's rules (`runner.jobs.activity`): stalled, idle GPUs, episodes."""

from __future__ import annotations

from protocol.jobs import JobFlag
from runner.jobs.activity import IdleClocks, flags_now, gpus_idle, is_stalled, raised


def test_stalled_once_silent_for_stall_after_and_never_with_zero() -> None:
    assert not is_stalled(last_spoke=100.0, now=101.9, stall_after_s=2.0)
    assert is_stalled(last_spoke=100.0, now=102.0, stall_after_s=2.0)
    assert not is_stalled(last_spoke=0.0, now=1e9, stall_after_s=0.0)


def test_gpus_are_idle_only_when_every_one_was_read_and_is_under_5_percent() -> None:
    assert gpus_idle([0.0, 4.9])
    assert not gpus_idle([0.0, 5.0])
    assert not gpus_idle([0.0, None])  # one unreadable GPU is no evidence
    assert not gpus_idle([])


def test_the_idle_clock_runs_while_idle_and_restarts_after_work() -> None:
    clocks = IdleClocks()
    assert clocks.idle_for(7, [0.0], now=10.0) == 0.0
    assert clocks.idle_for(7, [1.0], now=15.0) == 5.0
    assert clocks.idle_for(7, [80.0], now=16.0) == 0.0
    assert clocks.idle_for(7, [0.0], now=20.0) == 0.0
    assert clocks.idle_for(7, [0.0], now=21.5) == 1.5
    clocks.keep_only(frozenset())
    assert clocks.idle_for(7, [0.0], now=30.0) == 0.0  # forgotten: a new episode


def test_flags_and_the_ones_that_went_up() -> None:
    assert flags_now(stalled=False, idle_for_s=599.0, idle_after_s=600.0) == frozenset()
    both = flags_now(stalled=True, idle_for_s=600.0, idle_after_s=600.0)
    assert both == {JobFlag.STALLED, JobFlag.IDLE_GPUS}
    assert flags_now(stalled=False, idle_for_s=1e6, idle_after_s=0.0) == frozenset()
    assert raised(frozenset({JobFlag.STALLED}), both) == {JobFlag.IDLE_GPUS}
    assert raised(both, frozenset({JobFlag.STALLED})) == frozenset()
