"""How each verb that talks to a host's runner carries itself out: bind the
arguments to a call on a `HostSession`, open the session, make the call. The
verbs' declarations (`tui.cli.session_verbs`) name the `Run`s at the bottom of
this module, which is imported only once the command line names one of them.

A binder checks the arguments before anything connects (a bad ``--tail`` is
reported without touching the host) and returns the call to make once the
session is up. `on_session` opens the session around that call: one that
keeps following (``logs -f``, ``metrics -f``, ``top``) reconnects when its link
drops; the others fail at once.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Awaitable, Callable, Dict, List, Optional, Tuple

from protocol.jobs import RETRY_ON_CHOICES, Executor, RetryOn, SlurmRequest, check_name_word
from protocol.limits import (
    MAX_GROUP_CHARS,
    MAX_LABEL_KEY_CHARS,
    MAX_LABEL_VALUE_CHARS,
    MAX_LABELS,
    MAX_PRIORITY,
    MAX_RETRIES,
    MAX_STALL_AFTER_S,
    MIN_PRIORITY,
)
from protocol.manifest import ManifestError, check_relative_path
from protocol.slurm_words import slurm_word_problem
from protocol.units import duration, parse_duration
from tui.cli import offline, transfer, verbs
from tui.cli.job_ref import job_number
from tui.cli.job_signal import send_signal, signal_argument
from tui.cli.metrics import metrics as job_metrics
from tui.cli.offline import Offline
from tui.cli.top import top as top_verb
from tui.cli.verb import Run
from tui.cli.wait import wait as wait_for_jobs
from tui.config import load_config
from tui.errors import ConnectError, TetherError, UsageError
from tui.hosts import is_local, make_session
from tui.session import HostSession, SessionState
from tui.sync import SyncLimits, parse_file_count, parse_size
from tui.sync.pull import check_pull_paths

SessionCall = Callable[[HostSession], Awaitable[int]]
Binder = Callable[[argparse.Namespace, str], SessionCall]


def _never(args: argparse.Namespace) -> bool:
    return False


#: How long a verb that changes something (run, cancel) keeps reconnecting to
#: ask again, before it gives up and says what may have happened.
RETRY_CHANGE_S = 60.0


def on_session(
    bind: Binder,
    follows: Callable[[argparse.Namespace], bool] = _never,
    *,
    changes: bool = False,
    kept: bool = True,
    offline: Optional[Offline] = None,
) -> Run:
    """A verb's `Run`: bind the arguments, open a session to the host, make the call.

    A verb that `follows` reconnects for as long as it runs. One that `changes`
    something reconnects for `RETRY_CHANGE_S` when its link drops before the
    answer and asks again (the request's idempotency key makes that safe);
    the others fail at once. A remote host is reached through its kept connection
    (`tui.keeper`) unless `kept` is False: ``pull`` reads files over SFTP on an SSH
    connection of its own. A verb with an `offline` answer gives it when the
    host cannot be reached (`tui.cli.offline`: the mirror's copy, marked stale)."""

    async def run(args: argparse.Namespace, host: str) -> int:
        call = bind(args, host)
        session = make_session(host, reconnect=follows(args) or changes, kept=kept)
        try:
            try:
                await session.start()
            except ConnectError as exc:
                answer = None
                # A passing cause (the link): the mirror's copy. One that waiting
                # will not fix (a refused key, an old runner) is said as it is.
                if offline is not None and session.mirror is not None and exc.retryable:
                    answer = await offline(args, host, exc)
                if answer is None:
                    raise
                return answer
            session.listeners.append(verbs.report_state)
            if changes and not follows(args):
                return await _retrying_for(session, call, host, RETRY_CHANGE_S)
            return await call(session)
        finally:
            session.listeners.clear()
            await session.close()

    return run


async def _retrying_for(session: HostSession, call: SessionCall, host: str, limit_s: float) -> int:
    """`call`, given up on once the link has been down for `limit_s`."""
    down_since: Optional[float] = None

    def on_state(state: SessionState) -> None:
        nonlocal down_since
        if state.kind == "connected":
            down_since = None
        elif down_since is None:
            down_since = time.monotonic()

    session.listeners.append(on_state)
    task = asyncio.ensure_future(call(session))
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=0.5)
            if done:
                return task.result()
            if down_since is not None and time.monotonic() - down_since > limit_s:
                raise ConnectError(
                    f"{host}: the link dropped before the runner answered and did not come "
                    f"back within {limit_s:.0f} s; what was asked may have happened: "
                    f"look with `tether ls{'' if is_local(host) else ' -H ' + host}`",
                    retryable=False,
                )
    finally:
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


def _following(args: argparse.Namespace) -> bool:
    return bool(args.follow)


# -- run -----------------------------------------------------------------------------


def bind_run(args: argparse.Namespace, host: str) -> SessionCall:
    if args.name is not None and not args.name.strip():
        raise TetherError("--name is empty: give a name, or leave it out to show the command")
    if args.cwd is not None and not args.cwd.strip():
        raise TetherError(
            "--cwd is empty: give a directory, or leave it out "
            "(here for a local job, the home directory on a remote host)"
        )
    words = args.command[1:] if args.command[:1] == ["--"] else args.command
    sync = _sync_request(args)
    local = is_local(host)
    order = _queue_order(args)
    tags = verbs.JobTags(_group(args.group), _labels(args.labels))
    executor, slurm = _placement(args, host)
    gpus = None if slurm is not None else args.gpus
    shown_host = getattr(args, "shown_host", None)  # placed among several (tui.cli.place)
    return lambda s: verbs.run(
        s,
        words,
        args.name,
        args.cwd,
        args.env,
        gpus,
        local,
        sync,
        args.ports,
        order,
        tags,
        executor,
        slurm,
        shown_host,
    )


_SLURM_WORDS = ("partition", "time", "mem", "account", "qos")
_SLURM_COUNTS = ("nodes", "cpus")
#: The flags that ask for Slurm, by their argparse names.
SLURM_FLAGS = _SLURM_WORDS + _SLURM_COUNTS


def _placement(
    args: argparse.Namespace, host: str
) -> Tuple[Optional[Executor], Optional[SlurmRequest]]:
    """Where the job runs (None: the host's default) and, for Slurm, what it asks
    for. Slurm's flags mean Slurm; without them, --slurm or --here, ``[hosts.NAME]
    executor`` in the config decides, else the host's runner."""
    executor: Optional[Executor] = args.executor
    asked = {name: getattr(args, name) for name in _SLURM_WORDS if getattr(args, name)}
    for name, word in asked.items():
        problem = slurm_word_problem(name, word)
        if problem is not None:
            raise UsageError(problem)
    for name in _SLURM_COUNTS:
        text = getattr(args, name)
        if text is not None:
            if not text.strip().isdigit() or int(text) < 1:
                raise UsageError(f"--{name} takes a whole number from 1 up, not {text!r}")
            asked[name] = int(text)
    if args.sbatch_args:
        asked["sbatch_args"] = list(args.sbatch_args)
    if executor == "local" and asked:
        raise UsageError(f"--{next(iter(asked)).replace('_', '-')} is for Slurm: drop --here")
    if executor is None and not asked:
        configured = load_config().host(host).executor
        executor = "slurm" if configured == "slurm" else "local" if configured else None
    if executor != "slurm" and not asked:
        return executor, None
    if args.gpus is not None:
        if not args.gpus.strip().isdigit() or int(args.gpus) < 1:
            raise UsageError(f"with Slurm, --gpus is GPUs per node, 1 or more, not {args.gpus!r}")
        asked["gpus"] = int(args.gpus)
    try:
        return "slurm", SlurmRequest(**asked)
    except ValueError as exc:
        raise UsageError(verbs.first_validation_error(exc)) from None


def _queue_order(args: argparse.Namespace) -> verbs.QueueOrder:
    """``--after`` or ``--after-any`` (each repeatable, ids joined) and ``--priority``."""
    if args.after and args.after_any:
        raise UsageError("give --after or --after-any, not both")
    flag = "--after" if args.after else "--after-any"
    after = sorted({job for text in args.after or args.after_any for job in _job_ids(flag, text)})
    return verbs.QueueOrder(
        after,
        bool(args.after_any),
        _priority(args.priority),
        _retry(args.retry),
        _retry_on(args.retry_on),
        _stall_after(args.stall_after),
    )


# Values are checked here rather than by argparse: a bad one is then said in one
# line (argparse would print the verb's usage above it), with the same exit status 2.


def _job_ids(flag: str, text: str) -> List[int]:
    """``3`` or ``3,4``: the jobs an ``--after`` names."""
    words = [word.strip() for word in text.split(",")]
    if not all(word.isdigit() and int(word) >= 1 for word in words):
        raise UsageError(f"{flag} takes job ids like 3 or 3,4, not {text!r}")
    return [int(word) for word in words]


def _priority(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise UsageError(f"--priority takes a whole number like 10 or -5, not {text!r}") from None
    if not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise UsageError(f"--priority takes a number from {MIN_PRIORITY} to {MAX_PRIORITY}")
    return value


def _retry(text: str) -> int:
    if not text.strip().isdigit() or int(text) > MAX_RETRIES:
        raise UsageError(
            f"--retry takes how many more attempts a failed job gets, 0 to {MAX_RETRIES}, "
            f"not {text!r}"
        )
    return int(text)


#: What ``--retry-on`` takes, each as the spec's type has it.
_RETRY_ON: Dict[str, RetryOn] = {"exit": "exit", "lost": "lost", "any": "any"}


def _retry_on(text: str) -> RetryOn:
    if text not in _RETRY_ON:
        raise UsageError(f"--retry-on takes {', '.join(RETRY_ON_CHOICES)}, not {text!r}")
    return _RETRY_ON[text]


def _stall_after(text: Optional[str]) -> Optional[float]:
    if text is None:
        return None
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise UsageError(
            f"--stall-after takes a duration like 20m, 90s or 2h (0: never), not {text!r}"
        ) from None
    if seconds > MAX_STALL_AFTER_S:
        raise UsageError(
            f"--stall-after is at most {duration(MAX_STALL_AFTER_S)}; 0 never flags the job"
        )
    return seconds


def _group(text: Optional[str]) -> Optional[str]:
    if text is None:
        return None
    try:
        return check_name_word("--group", text, MAX_GROUP_CHARS)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _labels(pairs: List[str]) -> Dict[str, str]:
    """``--label KEY=VALUE``, each checked as the runner will (`JobSpec.labels`)."""
    if len(pairs) > MAX_LABELS:
        raise UsageError(f"at most {MAX_LABELS} --label")
    labels = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--label takes KEY=VALUE, not {pair!r}")
        try:
            check_name_word("--label key", key, MAX_LABEL_KEY_CHARS)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if len(value) > MAX_LABEL_VALUE_CHARS or not value.isprintable():
            raise UsageError(
                f"--label {key}'s value must be printable text of up to "
                f"{MAX_LABEL_VALUE_CHARS} characters"
            )
        labels[key] = value
    return labels


def _attempt(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise UsageError(f"--attempt takes an attempt's number, 1 or more, not {text!r}")
    return int(text)


def _sync_request(args: argparse.Namespace) -> Optional[transfer.SyncRequest]:
    if args.sync is None:
        if args.sync_max is not None or args.sync_max_files is not None:
            raise TetherError("--sync-max and --sync-max-files go with --sync [DIR]")
        return None
    if not args.sync.strip():
        raise TetherError("--sync takes a folder (or nothing, for this one), not an empty word")
    if args.cwd is not None:
        try:
            check_relative_path(args.cwd.rstrip("/") or args.cwd)
        except ManifestError as exc:
            raise TetherError(
                f"with --sync, --cwd is a folder inside the snapshot: {exc}"
            ) from None
    limits = SyncLimits()
    if args.sync_max is not None:
        limits = SyncLimits(parse_size(args.sync_max), limits.max_files)
    if args.sync_max_files is not None:
        limits = SyncLimits(limits.max_bytes, parse_file_count(args.sync_max_files))
    return transfer.SyncRequest(Path(args.sync).expanduser(), limits)


# -- ls, logs, cancel ----------------------------------------------------------------


def _ls(args: argparse.Namespace, host: str) -> SessionCall:
    group = _group(args.group)
    return lambda s: verbs.ls(s, args.all, args.json, group)


def _logs(args: argparse.Namespace, host: str) -> SessionCall:
    if args.tail is not None and args.tail < 0:
        raise TetherError("--tail takes a number of lines, 0 or more")
    attempt, job = _attempt(args.attempt), job_number(args.job)
    return lambda s: verbs.logs(s, job, args.follow, args.tail, args.raw, attempt)


def _cancel(args: argparse.Namespace, host: str) -> SessionCall:
    if (args.job is None) == (args.group is None):
        raise UsageError("give a job to cancel or --group NAME, one of the two")
    if args.group is not None:
        group = _group(args.group)
        assert group is not None
        return lambda s: verbs.cancel_group(s, group)
    job = job_number(args.job)
    return lambda s: verbs.cancel(s, job)


def _pause(args: argparse.Namespace, host: str) -> SessionCall:
    job = job_number(args.job)
    return lambda s: verbs.pause(s, job, True)


def _resume(args: argparse.Namespace, host: str) -> SessionCall:
    job = job_number(args.job)
    return lambda s: verbs.pause(s, job, False)


def _signal(args: argparse.Namespace, host: str) -> SessionCall:
    job, name = job_number(args.job), signal_argument(args.signal)
    return lambda s: send_signal(s, job, name)


def _queue(args: argparse.Namespace, host: str) -> SessionCall:
    if args.action not in ("pause", "resume"):
        raise UsageError(f"takes pause or resume, not {args.action!r}")
    paused = args.action == "pause"
    return lambda s: verbs.pause_queue(s, paused)


def _set(args: argparse.Namespace, host: str) -> SessionCall:
    job, priority = job_number(args.job), _priority(args.priority)
    return lambda s: verbs.set_priority(s, job, priority)


def _wait(args: argparse.Namespace, host: str) -> SessionCall:
    jobs = [job_number(text) for text in args.jobs]
    return lambda s: wait_for_jobs(s, jobs, args.any)


# -- rerun, pull, gc -----------------------------------------------------------------


def _rerun(args: argparse.Namespace, host: str) -> SessionCall:
    job = job_number(args.job)
    return lambda s: transfer.rerun(s, job)


def _pull(args: argparse.Namespace, host: str) -> SessionCall:
    paths = check_pull_paths(args.paths)
    if args.to is not None and not args.to.strip():
        raise TetherError("--to is empty: give a folder, or leave it out for ./tether-out/HOST/JOB")
    job = job_number(args.job)
    return lambda s: transfer.pull(s, host, job, paths, args.to, args.follow)


def _always(args: argparse.Namespace) -> bool:
    return True


def _gc(args: argparse.Namespace, host: str) -> SessionCall:
    if args.keep_days is not None and not args.keep_days >= 0:
        raise TetherError("--keep-days takes a number of days, 0 or more")
    return lambda s: transfer.gc(s, args.dry_run, args.keep_days)


# -- metrics, top, status ------------------------------------------------------------


def _metrics(args: argparse.Namespace, host: str) -> SessionCall:
    job = job_number(args.job)
    return lambda s: job_metrics(s, job, args.json, args.follow)


def _top(args: argparse.Namespace, host: str) -> SessionCall:
    if args.interval is not None and not args.interval > 0:
        raise TetherError("--interval takes a number of seconds greater than 0")
    return lambda s: top_verb(s, args.json, args.once, args.interval)


def _top_follows(args: argparse.Namespace) -> bool:
    return not args.once


def _status(args: argparse.Namespace, host: str) -> SessionCall:
    return lambda s: verbs.status(s, args.json)


# -- the Runs that `tui.cli.session_verbs` names -----------------------------------


def _forward(args: argparse.Namespace, host: str) -> SessionCall:
    from tui.cli.forward import forward as forward_ports
    from tui.forward.target import local_port, parse_target

    target, local = parse_target(args.target), local_port(args.local)
    return lambda s: forward_ports(s, host, target, local)


run = on_session(bind_run, changes=True)
ls = on_session(_ls, offline=offline.ls)
logs = on_session(_logs, _following, offline=offline.logs)
cancel = on_session(_cancel, changes=True)
set_job = on_session(_set, changes=True)
pause = on_session(_pause, changes=True)
resume = on_session(_resume, changes=True)
signal = on_session(_signal, changes=True)
queue = on_session(_queue, changes=True)
wait = on_session(_wait, _always)
rerun = on_session(_rerun, changes=True)
pull = on_session(_pull, _always, kept=False)
gc = on_session(_gc)
metrics = on_session(_metrics, _following, offline=offline.metrics)
top = on_session(_top, _top_follows)
status = on_session(_status)
forward = on_session(_forward, _always, kept=False)
