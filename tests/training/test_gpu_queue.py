"""The GPU queue's rules, on the pure module: examples first, then properties."""

from __future__ import annotations

from typing import Dict, List, Set, Tuple

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
)

from runner.gpu.queue import GpuQueue, GpuRequestError, Grant


def test_jobs_get_disjoint_gpus_lowest_first_and_a_big_head_blocks_the_rest() -> None:
    queue = GpuQueue([0, 1, 2, 3])
    for job_id, request in ((1, "1"), (2, "2"), (3, "4"), (4, "1")):
        queue.enqueue(job_id, request)
    assert queue.grant() == [Grant(1, (0,)), Grant(2, (1, 2))]
    # GPU 3 is free, but job 3 (4 GPUs) is first in line: job 4 must not overtake it.
    assert queue.grant() == []
    assert queue.positions() == {3: 1, 4: 2}
    queue.release(1)
    assert queue.grant() == []
    queue.release(2)
    assert queue.grant() == [Grant(3, (0, 1, 2, 3))]
    assert queue.position(4) == 1
    queue.release(3)
    assert queue.grant() == [Grant(4, (0,))]


def test_all_waits_for_every_gpu_and_busy_gpus_are_not_handed_out() -> None:
    queue = GpuQueue([0, 1])
    queue.enqueue(7, "all")
    assert queue.grant(busy={1}) == []
    assert queue.position(7) == 1
    assert queue.grant(busy=set()) == [Grant(7, (0, 1))]

    queue = GpuQueue([0, 1, 2])
    queue.enqueue(1, "2")
    assert queue.grant(busy={0}) == [Grant(1, (1, 2))]


def test_cancelling_a_queued_job_moves_the_others_up() -> None:
    queue = GpuQueue([0])
    queue.enqueue(1, "1")
    queue.enqueue(2, "1")
    queue.enqueue(3, "1")
    assert queue.grant() == [Grant(1, (0,))]
    queue.release(2)
    assert queue.positions() == {3: 1}


def test_adopting_running_jobs_after_a_restart_keeps_their_gpus_taken() -> None:
    queue = GpuQueue([0, 1, 2, 3])
    assert queue.adopt(10, [2, 3]) == (2, 3)
    assert queue.adopt(11, [3, 9]) == ()  # 3 is taken, 9 is not in the inventory
    queue.enqueue(12, "3")
    assert queue.grant() == []
    queue.release(10)
    assert queue.grant() == [Grant(12, (0, 1, 2))]


@pytest.mark.parametrize(
    ("inventory", "request_", "message"),
    [
        ([0, 1, 2, 3], "8", "the job asks for 8 GPUs but this host has 4 GPUs (0,1,2,3)"),
        ([], "1", "the job asks for 1 GPU but this host has no GPUs tether may hand out"),
        ([], "all", "--gpus all waits for every GPU, but this host has no GPUs"),
        ([0], "0", "--gpus 0 needs no GPUs and does not wait in the queue"),
        ([0], "two", "--gpus takes a count or 'all', not 'two'"),
    ],
)
def test_requests_that_can_never_run_are_refused_with_what_the_host_has(
    inventory: List[int], request_: str, message: str
) -> None:
    queue = GpuQueue(inventory)
    with pytest.raises(GpuRequestError) as caught:
        queue.enqueue(1, request_)
    assert str(caught.value).startswith(message)
    assert queue.waiting == []


class QueueMachine(RuleBasedStateMachine):
    """Random submissions, grants (with other users' processes on random GPUs),
    job ends and cancels, checked against the queue's promises after every step."""

    waiting_jobs = Bundle("waiting_jobs")
    running_jobs = Bundle("running_jobs")

    def __init__(self) -> None:
        super().__init__()
        self.queue: GpuQueue = GpuQueue([])
        self.inventory: Tuple[int, ...] = ()
        self.next_id = 1
        self.wanted: Dict[int, int] = {}
        self.order: List[int] = []  # submission order of jobs still waiting
        self.granted_order: List[int] = []

    @rule(size=st.integers(min_value=1, max_value=8))
    def make_host(self, size: int) -> None:
        if self.inventory:
            return
        self.inventory = tuple(range(size))
        self.queue = GpuQueue(self.inventory)

    @precondition(lambda self: bool(self.inventory))
    @rule(target=waiting_jobs, data=st.data())
    def submit(self, data: st.DataObject) -> int:
        request = data.draw(
            st.one_of(
                st.integers(min_value=1, max_value=len(self.inventory)).map(str), st.just("all")
            )
        )
        job_id = self.next_id
        self.next_id += 1
        self.queue.enqueue(job_id, request)
        self.wanted[job_id] = len(self.inventory) if request == "all" else int(request)
        self.order.append(job_id)
        return job_id

    @precondition(lambda self: bool(self.inventory))
    @rule(busy=st.sets(st.integers(min_value=0, max_value=7), max_size=3))
    def grant(self, busy: Set[int]) -> None:
        held_before = {g for gpus in self.queue.held.values() for g in gpus}
        for grant in self.queue.grant(busy):
            assert len(grant.gpus) == self.wanted[grant.job_id]
            assert not set(grant.gpus) & busy, "handed out a GPU someone else uses"
            assert not set(grant.gpus) & held_before, "handed out a GPU twice"
            held_before |= set(grant.gpus)
            # Strict first-come first-served: only the oldest waiting job may start.
            assert grant.job_id == self.order[0], "a job overtook an older one"
            self.order.pop(0)
            self.granted_order.append(grant.job_id)

    @rule(job=consumes(waiting_jobs))
    def cancel_or_end(self, job: int) -> None:
        self.queue.release(job)
        if job in self.order:
            self.order.remove(job)

    @invariant()
    def never_more_gpus_than_exist_and_none_twice(self) -> None:
        held = [g for gpus in self.queue.held.values() for g in gpus]
        assert len(held) == len(set(held))
        assert set(held) <= set(self.inventory)
        assert self.queue.waiting == self.order

    def teardown(self) -> None:
        # Liveness: once other users' processes go and running jobs end, every
        # waiting job runs, in submission order.
        expected = list(self.order)
        ran: List[int] = []
        for _ in range(len(expected) + 1):
            for job_id in list(self.queue.held):
                self.queue.release(job_id)
            ran += [grant.job_id for grant in self.queue.grant()]
        assert ran == expected
        assert self.queue.waiting == []


QueueMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_queue_properties = QueueMachine.TestCase
