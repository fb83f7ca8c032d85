"""Where a job placed across hosts goes: free GPUs first (the most, then the
least load), else the shortest queue; never a host that cannot hold it."""

from __future__ import annotations

import pytest

from tui.placement import Candidate, PlacementError, choose


def host(name: str, total: int, free: int, queued: int = 0, load: float = 0.5) -> Candidate:
    return Candidate(name, total, free, queued, load)


def test_the_host_with_the_most_free_gpus_wins_then_the_least_loaded() -> None:
    hosts = [host("a", 8, 2), host("b", 8, 5, load=0.9), host("c", 8, 5, load=0.1)]
    placed = choose(hosts, "2")
    assert (placed.host, placed.reason) == ("c", "5 of 8 GPUs free")
    assert choose(hosts, "6").host != "a"  # nobody has 6 free: the queue decides


def test_with_no_gpus_free_anywhere_the_shortest_queue_wins() -> None:
    hosts = [host("a", 4, 0, queued=3), host("b", 4, 1, queued=1), host("c", 4, 0, queued=1)]
    placed = choose(hosts, "2")
    assert placed.host == "b"  # a tie on the queue: more free GPUs
    assert placed.reason == "no host has the GPUs free now; the shortest queue (1 job queued)"


def test_all_means_every_gpu_of_the_host() -> None:
    hosts = [host("big", 8, 7), host("small", 2, 2)]
    assert choose(hosts, "all").host == "small"


def test_a_job_without_gpus_goes_to_the_least_loaded_host() -> None:
    hosts = [host("a", 0, 0, load=2.0), host("b", 8, 8, load=0.3)]
    placed = choose(hosts, None)
    assert (placed.host, placed.reason) == ("b", "the least loaded (load 0.30 per core)")


def test_a_job_no_host_can_hold_says_why_for_each_host() -> None:
    hosts = [host("a", 1, 1), host("cpu", 0, 0)]
    with pytest.raises(PlacementError) as raised:
        choose(hosts, "2", failed=[("down", "connection refused")])
    assert str(raised.value) == (
        "no host can take a job asking for --gpus 2 "
        "(a: 1 GPU in all; cpu: no GPUs; down: connection refused)"
    )
    with pytest.raises(PlacementError, match="no host answered, so the job was not sent"):
        choose([], "1", failed=[("down", "timed out")])
