"""Owners for background tasks: everything they start is cancelled on close, and
the runner's long-lived loops are supervised, never left dead.

A loop that dies quietly is worse than a crash: the runner keeps answering while
the job it should have swept shows ``running`` forever. So a supervised loop
that raises is logged with its traceback, recorded in `Health` (which ``tether
status`` and ``tether doctor`` show as the runner being degraded, with the
reason), and started again after a backoff, like systemd's ``Restart=always``
with ``RestartSec`` growing to a cap. A loop that runs `HEALTHY_AFTER_S`
without failing, or says so itself (`Health.ok`), is healthy again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Coroutine, Dict, List, Set

log = logging.getLogger(__name__)

#: Waits before restarting a failed loop: the n-th failure in a row waits the
#: n-th of these (the last one from then on).
RESTART_BACKOFF_S = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
#: A restarted loop that has run this long without failing is healthy again.
HEALTHY_AFTER_S = 30.0


@dataclass
class Problem:
    failures: int
    since: float
    error: str
    retry_at: float


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text else type(exc).__name__


class Health:
    """What is wrong with the runner now, one entry per failing loop."""

    def __init__(self) -> None:
        self._problems: Dict[str, Problem] = {}

    def failed(self, name: str, exc: BaseException, retry_in_s: float) -> Problem:
        now = time.time()
        earlier = self._problems.get(name)
        problem = Problem(
            failures=1 if earlier is None else earlier.failures + 1,
            since=now if earlier is None else earlier.since,
            error=_describe(exc),
            retry_at=now + retry_in_s,
        )
        self._problems[name] = problem
        return problem

    def ok(self, name: str) -> None:
        if self._problems.pop(name, None) is not None:
            log.info("%s is working again", name)

    def failures(self, name: str) -> int:
        problem = self._problems.get(name)
        return 0 if problem is None else problem.failures

    def problems(self) -> List[str]:
        """A sentence per failing loop, for a person."""
        now = time.time()
        out = []
        for name, p in sorted(self._problems.items()):
            times = "once" if p.failures == 1 else f"{p.failures} times in a row"
            wait = max(0.0, p.retry_at - now)
            out.append(f"{name} failed {times} ({p.error}); retrying in {wait:.0f} s")
        return out


class TaskSet:
    def __init__(self, name: str) -> None:
        self._name = name
        self._tasks: Set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def supervise(
        self, name: str, loop: Callable[[], Awaitable[None]], health: Health
    ) -> asyncio.Task[Any]:
        """Run ``loop()`` until `close`, starting it again whenever it fails."""
        return self.spawn(_supervised(name, loop, health))

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("%s task failed", self._name, exc_info=task.exception())

    def __len__(self) -> int:
        return len(self._tasks)

    async def finish(self) -> None:
        """Wait, without cancelling, until every task started so far has ended."""
        tasks = list(self._tasks)
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)


async def _supervised(name: str, loop: Callable[[], Awaitable[None]], health: Health) -> None:
    while True:
        run = asyncio.ensure_future(loop())
        try:
            done, _ = await asyncio.wait({run}, timeout=HEALTHY_AFTER_S)
            if not done:
                health.ok(name)  # it has run a while without failing
            await run
        except asyncio.CancelledError:
            run.cancel()
            await asyncio.gather(run, return_exceptions=True)
            raise
        except Exception as exc:
            failures = health.failures(name)
            delay = RESTART_BACKOFF_S[min(failures, len(RESTART_BACKOFF_S) - 1)]
            health.failed(name, exc, delay)
            log.error("%s failed; restarting it in %.1f s", name, delay, exc_info=exc)
            await asyncio.sleep(delay)
            continue
        log.warning("%s returned; starting it again", name)
        await asyncio.sleep(RESTART_BACKOFF_S[0])
