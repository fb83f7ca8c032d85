"""The person's hook: a command of theirs run when a job ends, stalls or leaves
its GPUs idle, so they hear of it on the phone, in Slack, by mail, without
watching.

The command is ``TETHER_HOOK`` in the runner's environment (a shell line), or
else the executable file ``$XDG_CONFIG_HOME/tether/hook`` on the host (like a
git hook: no setting needed for a runner that cron starts). It gets the job as
JSON on stdin, and ``TETHER_EVENT`` (`HookEvent`), ``TETHER_JOB_ID`` and
``TETHER_JOB_STATE`` in its environment. The runner never waits on it: each
call is a task of its own, and one that runs past ``TETHER_HOOK_TIMEOUT``
seconds (default 60) is killed, its whole process group with it. A hook that
fails is written to the runner's log, with what it said on stderr.
"""

from __future__ import annotations

import asyncio
import enum
import json
import logging
import os
import signal
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Set

from protocol.jobs import JobInfo
from runner.tasks import TaskSet

log = logging.getLogger(__name__)

DEFAULT_HOOK_TIMEOUT_S = 60.0
#: What of a failed hook's stderr goes to the runner's log.
_STDERR_TAIL = 2000


class HookEvent(str, enum.Enum):
    ENDED = "ended"
    STALLED = "stalled"
    IDLE = "idle"


def hook_command(env: Mapping[str, str], home: Path) -> Optional[List[str]]:
    """The person's hook as an argv, or None when they have none."""
    line = env.get("TETHER_HOOK", "").strip()
    if line:
        return ["/bin/sh", "-c", line]
    config = Path(env.get("XDG_CONFIG_HOME") or home / ".config")
    path = config / "tether" / "hook"
    if path.is_file() and os.access(path, os.X_OK):
        return [str(path)]
    return None


class Hooks:
    """Runs the hook, each call owned until it ends and killed on close."""

    def __init__(self, command: Optional[List[str]], timeout_s: float = DEFAULT_HOOK_TIMEOUT_S):
        self.command = command
        self.timeout_s = timeout_s
        self._tasks = TaskSet("hooks")
        self._groups: Set[int] = set()
        #: Ended jobs already told: a job's end is told once, however often the
        #: table speaks of it.
        self._told_ended: Set[int] = set()

    def fire(self, event: HookEvent, job: JobInfo) -> None:
        """Start the hook for `event` and return at once."""
        if self.command is None:
            return
        if event is HookEvent.ENDED:
            if job.id in self._told_ended:
                return
            self._told_ended.add(job.id)
        self._tasks.spawn(self._run(self.command, event, job))

    async def close(self) -> None:
        await self._tasks.close()
        for group in list(self._groups):
            _kill_group(group)

    async def _run(self, command: List[str], event: HookEvent, job: JobInfo) -> None:
        env: Dict[str, str] = dict(os.environ)
        env.update(
            {
                "TETHER_EVENT": event.value,
                "TETHER_JOB_ID": str(job.id),
                "TETHER_JOB_STATE": job.state.value,
            }
        )
        body = json.dumps({"event": event.value, "job": job.model_dump(mode="json")}).encode()
        try:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own group: a timeout kills all it started
            )
        except OSError as exc:
            log.warning("hook %s for job %d could not start: %s", command[-1], job.id, exc)
            return
        self._groups.add(proc.pid)
        try:
            _, err = await asyncio.wait_for(proc.communicate(body), self.timeout_s)
        except asyncio.TimeoutError:
            _kill_group(proc.pid)
            await proc.wait()
            log.warning(
                "hook for job %d (%s) ran over %g s and was killed",
                job.id,
                event.value,
                self.timeout_s,
            )
            return
        except BaseException:
            _kill_group(proc.pid)
            raise
        finally:
            self._groups.discard(proc.pid)
        if proc.returncode != 0:
            said = err.decode(errors="replace").strip()[-_STDERR_TAIL:]
            log.warning(
                "hook for job %d (%s) exited %s%s",
                job.id,
                event.value,
                proc.returncode,
                f": {said}" if said else "",
            )


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
