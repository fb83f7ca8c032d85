"""What the tests leave running, found by the HOME it runs under, and ended.

Every process tether starts for a test carries that test's HOME in its
environment: the CLI (the tests set HOME), the runner (it inherits it), the shims
(likewise) and the jobs (the shim builds their environment from the login shell,
HOME kept). So "the processes of this test" are the processes whose HOME lies
under the test's directory, whatever session or process group they moved to and
whoever adopted them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import psutil

#: Seconds a process gets to end on SIGTERM (a runner saves its state, a shim
#: cancels its job) before SIGKILL.
TERM_GRACE_S = 5.0


def _home_of(proc: psutil.Process) -> str | None:
    try:
        return proc.environ().get("HOME")
    except (psutil.NoSuchProcess, psutil.AccessDenied, OSError):
        return None


def _under(path: str, roots: Iterable[Path]) -> bool:
    return any(path == str(root) or path.startswith(f"{root}{os.sep}") for root in roots)


def processes_under(roots: Iterable[Path]) -> list[psutil.Process]:
    """Live processes (not zombies, not this one or its ancestors) whose HOME is
    one of `roots` or below it."""
    roots = [Path(r) for r in roots]
    me = psutil.Process()
    spared = {me.pid, *(p.pid for p in me.parents())}
    found = []
    for proc in psutil.process_iter():
        if proc.pid in spared:
            continue
        home = _home_of(proc)
        if home is None or not _under(home, roots):
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
        except psutil.NoSuchProcess:
            continue
        found.append(proc)
    return found


def describe(proc: psutil.Process) -> str:
    """``pid 123 (python -m runner serve --daemon), HOME=/tmp/...``"""
    try:
        command = " ".join(proc.cmdline()) or proc.name()
    except psutil.NoSuchProcess:
        command = "gone"
    return f"pid {proc.pid} ({command[:160]}), HOME={_home_of(proc)}"


def end(procs: list[psutil.Process], grace: float = TERM_GRACE_S) -> None:
    """SIGTERM, then SIGKILL whatever is still there after `grace` seconds."""
    for proc in procs:
        try:
            proc.terminate()
        except psutil.NoSuchProcess:
            pass
    _, alive = psutil.wait_procs(procs, timeout=grace)
    for proc in alive:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(alive, timeout=grace)


def reap(roots: Iterable[Path], grace: float = TERM_GRACE_S) -> list[str]:
    """End every process under `roots`; returns what was found, described.

    Runners go first, so that none of them sees its shims die and records it
    while the shims are ended in turn."""
    procs = processes_under(roots)
    if not procs:
        return []
    described = [describe(p) for p in procs]
    runners = [p for p in procs if _is_runner(p)]
    end(runners, grace)
    end([p for p in procs if p not in runners], grace)
    return described


def _is_runner(proc: psutil.Process) -> bool:
    try:
        cmdline = proc.cmdline()
    except psutil.NoSuchProcess:
        return False
    return "serve" in cmdline and any(
        a in ("runner", "runner.host.cli") or a.endswith("/tether-runner") for a in cmdline
    )
