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


def test_jobs_get_disjoint_gpus_lowest_first_and_a_starved_head_blocks_the_rest() -> None:
    # Waiting 0 s already counts as starved: the strict first-come first-served queue.
    queue = GpuQueue([0, 1, 2, 3], starve_after_s=0)
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
    job ends and cancels, checked against the queue's promises after every step.
    Every job counts as starved at once (``starve_after_s=0``): the strict order,
    whose promise (nobody overtakes) is the no-starvation rule at its limit."""

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
        self.queue = GpuQueue(self.inventory, starve_after_s=0)

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


# -- priorities, backfill and the no-starvation rule -------------------------------------


def test_higher_priority_goes_first_and_equal_ones_in_submission_order() -> None:
    queue = GpuQueue([0])
    queue.enqueue(1, "1")
    queue.enqueue(2, "1", priority=0)
    queue.enqueue(3, "1", priority=5)
    queue.enqueue(4, "1", priority=5)
    queue.enqueue(5, "1", priority=-1)
    assert queue.waiting == [3, 4, 1, 2, 5]
    assert queue.positions() == {3: 1, 4: 2, 1: 3, 2: 4, 5: 5}
    queue.set_priority(2, 9)  # moved ahead of everyone...
    queue.set_priority(4, 0)  # ...and back among the 0s, in its submission place
    assert queue.waiting == [2, 3, 1, 4, 5]
    granted = []
    for _ in range(5):
        (grant,) = queue.grant()
        granted.append(grant.job_id)
        queue.release(grant.job_id)
    assert granted == [2, 3, 1, 4, 5]


def test_a_job_that_fits_starts_around_one_that_does_not_until_that_one_starved() -> None:
    queue = GpuQueue([0, 1, 2, 3], starve_after_s=600)
    queue.enqueue(1, "2", since=0)
    assert queue.grant(now=0) == [Grant(1, (0, 1))]
    queue.enqueue(2, "4", since=10)  # cannot fit while job 1 runs
    queue.enqueue(3, "1", since=20)
    queue.enqueue(4, "1", since=30)
    # Backfill: job 2 does not block the small jobs behind it.
    assert queue.grant(now=30) == [Grant(3, (2,)), Grant(4, (3,))]
    queue.release(3)
    queue.enqueue(5, "1", since=100)
    assert queue.grant(now=609) == [Grant(5, (2,))]  # job 2 has waited 599 s
    queue.release(5)
    queue.enqueue(6, "1", since=200)
    # 600 s: job 2 starved. GPU 2 is free and job 6 fits, but it is held for job 2.
    assert not queue.starved(6, now=610) and queue.starved(2, now=610)
    assert queue.grant(now=610) == []
    queue.release(1)
    queue.release(4)
    assert queue.grant(now=700) == [Grant(2, (0, 1, 2, 3))]
    queue.release(2)
    assert queue.grant(now=800) == [Grant(6, (0,))]


def test_a_starved_job_holds_gpus_even_against_a_younger_job_ahead_of_it_in_order() -> None:
    """The hold is the starved job's own: a job of higher priority still goes
    first when it fits; one that does not fit is passed over as always."""
    queue = GpuQueue([0, 1], starve_after_s=60)
    queue.enqueue(1, "1", since=0)
    assert queue.grant(now=0) == [Grant(1, (0,))]
    queue.enqueue(2, "2", since=0)  # will starve
    queue.enqueue(3, "1", priority=5, since=100)
    assert queue.grant(now=100) == [Grant(3, (1,))]  # higher priority fits: it goes
    queue.release(3)
    queue.enqueue(4, "1", since=100)
    assert queue.grant(now=100) == []  # job 2 starved: GPU 1 is held for it
    queue.release(1)
    assert queue.grant(now=101) == [Grant(2, (0, 1))]


class BackfillMachine(RuleBasedStateMachine):
    """Random jobs with random priorities, grants as time passes, ends: no GPU is
    ever handed out twice, no job is granted while a job ahead of it in the order
    has starved and still waits, and in the end every job runs."""

    STARVE_AFTER = 50.0

    def __init__(self) -> None:
        super().__init__()
        self.inventory = (0, 1, 2, 3)
        self.queue = GpuQueue(self.inventory, starve_after_s=self.STARVE_AFTER)
        self.now = 0.0
        self.next_id = 1

    @rule(
        count=st.integers(min_value=1, max_value=4),
        priority=st.integers(min_value=-2, max_value=2),
    )
    def submit(self, count: int, priority: int) -> None:
        self.queue.enqueue(self.next_id, str(count), priority, since=self.now)
        self.next_id += 1

    @rule(elapsed=st.floats(min_value=0, max_value=40))
    def grant(self, elapsed: float) -> None:
        self.now += elapsed
        order = self.queue.waiting
        held_before = {g for gpus in self.queue.held.values() for g in gpus}
        granted = {grant.job_id: grant for grant in self.queue.grant(now=self.now)}
        for grant in granted.values():
            assert not set(grant.gpus) & held_before, "handed out a GPU twice"
            held_before |= set(grant.gpus)
        for index, job_id in enumerate(order):
            if job_id in granted or not self.queue.starved(job_id, self.now):
                continue
            behind = [j for j in order[index + 1 :] if j in granted]
            assert not behind, f"jobs {behind} overtook starved job {job_id}"

    @precondition(lambda self: bool(self.queue.held))
    @rule(data=st.data())
    def end(self, data: st.DataObject) -> None:
        self.queue.release(data.draw(st.sampled_from(sorted(self.queue.held))))

    @invariant()
    def never_more_gpus_than_exist(self) -> None:
        held = [g for gpus in self.queue.held.values() for g in gpus]
        assert len(held) == len(set(held)) and set(held) <= set(self.inventory)

    def teardown(self) -> None:
        for _ in range(len(self.queue.waiting) + 1):
            for job_id in list(self.queue.held):
                self.queue.release(job_id)
            self.queue.grant(now=self.now)
        assert self.queue.waiting == []


BackfillMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
test_backfill_properties = BackfillMachine.TestCase
