"""`tether-runner`: serve, status, stop and bridge, on the GPU host itself."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import logging.handlers
import os
import signal
import sys
import time
from typing import List, Optional

from protocol.units import duration
from protocol.version import __version__
from runner.disk_space import full_error
from runner.errors import AlreadyRunning, RunnerError
from runner.jobs.files import remember_job_umask
from runner.lock import RunnerLock, read_holder
from runner.paths import PRIVATE_FILE_MODE, PRIVATE_UMASK, RunnerPaths

log = logging.getLogger(__name__)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tether-runner", description="The tether daemon on a GPU host."
    )
    parser.add_argument("--version", action="version", version=f"tether-runner {__version__}")
    verbs = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
    serve = verbs.add_parser("serve", help="run the daemon (a no-op if one already runs)")
    serve.add_argument("--daemon", action="store_true", help="detach and run in the background")
    status = verbs.add_parser("status", help="is the daemon running, and what is it doing")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    verbs.add_parser("stop", help="stop the daemon; running jobs keep running")
    verbs.add_parser("bridge", help="connect stdin/stdout to the daemon (for SSH exec channels)")
    cron = verbs.add_parser("cron", help="start the runner at boot: a crontab entry")
    cron.add_argument("action", choices=("install", "remove", "status"))
    cron.add_argument("--json", action="store_true", help="machine-readable output")
    return parser


class _PrivateLogHandler(logging.handlers.RotatingFileHandler):
    """runner.log and its rotations, 0600 whatever the umask: a traceback can quote
    a job's environment."""

    def _open(self):  # type: ignore[no-untyped-def]
        stream = super()._open()
        os.fchmod(stream.fileno(), PRIVATE_FILE_MODE)
        return stream


def _setup_logging(paths: RunnerPaths, to_file: bool) -> None:
    handler: logging.Handler
    if to_file:
        handler = _PrivateLogHandler(paths.daemon_log, maxBytes=5 * 1024 * 1024, backupCount=2)
    else:
        handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def _serve_foreground(paths: RunnerPaths, ready_fd: Optional[int] = None) -> int:
    lock = RunnerLock(paths.lock)
    try:
        lock.acquire()
    except AlreadyRunning as exc:
        if ready_fd is not None:
            os.write(ready_fd, f"already {exc.pid or 0}".encode())
            return 0
        print(f"{exc}; nothing to do")
        return 0
    _tighten(paths)
    from runner.server.daemon import serve

    def ready() -> None:
        if ready_fd is not None:
            os.write(ready_fd, f"ok {os.getpid()}".encode())
            os.close(ready_fd)
        else:
            print(f"tether runner {__version__} serving on {paths.socket} (pid {os.getpid()})")

    try:
        asyncio.run(serve(paths, lock, ready))
    except Exception as exc:
        if ready_fd is not None:
            os.write(ready_fd, f"error {full_error(exc, paths.state_dir) or exc}".encode())
        raise
    return 0


def _tighten(paths: RunnerPaths) -> None:
    """Make a state tree left readable by an older runner private again, and say so."""
    changed = paths.tighten()
    if changed:
        shown = ", ".join(str(p) for p in changed[:5])
        more = f" and {len(changed) - 5} more" if len(changed) > 5 else ""
        log.warning(
            "took group and other access away from %d path(s) other accounts could read: %s%s",
            len(changed),
            shown,
            more,
        )


def _serve_daemon(paths: RunnerPaths) -> int:
    """Detach (double fork, new session), then report what the daemon said."""
    if _serve_in_user_scope():
        return 0
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(ready_r)
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
        devnull = os.open(os.devnull, os.O_RDWR)
        log_fd = os.open(
            paths.daemon_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE_MODE
        )
        os.fchmod(log_fd, PRIVATE_FILE_MODE)
        os.dup2(devnull, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.chdir("/")
        _setup_logging(paths, to_file=True)
        code = 1
        try:
            code = _serve_foreground(paths, ready_w)
        except BaseException:
            logging.exception("runner crashed")
        os._exit(code)
    os.close(ready_w)
    os.waitpid(child, 0)
    answer = b""
    while chunk := os.read(ready_r, 4096):
        answer += chunk
    os.close(ready_r)
    word, _, rest = answer.decode(errors="replace").partition(" ")
    if word == "ok":
        print(f"tether runner {__version__} started (pid {rest}, socket {paths.socket})")
        return 0
    if word == "already":
        print(f"tether runner is already running (pid {rest}); nothing to do")
        return 0
    detail = rest if word == "error" else "it exited while starting"
    print(f"tether-runner: could not start: {detail}; see {paths.daemon_log}", file=sys.stderr)
    return 1


def _serve_in_user_scope() -> bool:
    """Where logind would kill the runner at logout, start it in a user scope instead
    (`runner.host.logind`); False when that is not needed or did not work."""
    from runner.host.logind import scope_env, scoped_argv

    wrapped = scoped_argv([sys.executable, "-m", "runner", "serve", "--daemon"])
    if wrapped is None:
        return False
    import subprocess

    return subprocess.run(wrapped, env=scope_env(), check=False).returncode == 0


def _status(paths: RunnerPaths, as_json: bool) -> int:
    from runner.host.local_client import fetch_status

    pid = read_holder(paths.lock)
    if pid is None:
        if as_json:
            print(json.dumps({"running": False, "socket_path": str(paths.socket)}))
        else:
            print("tether runner is not running")
        return 3
    try:
        status = fetch_status(paths.socket)
    except (OSError, RunnerError) as exc:
        print(f"tether runner (pid {pid}) holds the lock but does not answer: {exc}")
        return 1
    if as_json:
        print(json.dumps({"running": True, **status.model_dump(exclude={"id", "type"})}))
        return 0
    counts = ", ".join(f"{n} {s}" for s, n in status.job_counts.items() if n)
    print(
        f"tether runner {status.runner_version} (pid {status.pid}) on {status.hostname}, "
        f"up {duration(status.uptime_s)}; jobs: {counts or 'none'}; socket {status.socket_path}"
    )
    for problem in status.problems:
        print(f"degraded: {problem}")
    return 0


def _stop(paths: RunnerPaths) -> int:
    pid = read_holder(paths.lock)
    if pid is None:
        print("tether runner is not running")
        return 0
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while read_holder(paths.lock) is not None:
        if time.monotonic() > deadline:
            print(f"tether runner (pid {pid}) did not stop within 15 s", file=sys.stderr)
            return 1
        time.sleep(0.05)
    print(f"stopped tether runner (pid {pid}); running jobs keep running")
    return 0


def _bridge(paths: RunnerPaths) -> int:
    from runner.host.bridge import bridge

    if read_holder(paths.lock) is None and _serve_daemon_quietly(paths) != 0:
        return 1
    try:
        asyncio.run(bridge(paths))
    except OSError as exc:
        print(f"tether-runner bridge: cannot reach {paths.socket}: {exc}", file=sys.stderr)
        return 1
    return 0


def _serve_daemon_quietly(paths: RunnerPaths) -> int:
    saved = os.dup(1)
    try:
        os.dup2(2, 1)  # stdout carries protocol bytes: keep the banner off it
        return _serve_daemon(paths)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


def main(argv: Optional[List[str]] = None) -> int:
    # Before anything is created: what the runner, SQLite and logging make is
    # private even where no mode is given. Jobs get the person's umask back.
    remember_job_umask(os.umask(PRIVATE_UMASK))
    args = _parser().parse_args(argv)
    try:
        paths = RunnerPaths.default()
        paths.ensure()
        if args.verb == "serve":
            if args.daemon:
                return _serve_daemon(paths)
            _setup_logging(paths, to_file=False)
            return _serve_foreground(paths)
        if args.verb == "status":
            return _status(paths, args.json)
        if args.verb == "cron":
            from runner.host.cron import run_verb

            return run_verb(args.action, args.json)
        if args.verb == "stop":
            return _stop(paths)
        return _bridge(paths)
    except RunnerError as exc:
        print(f"tether-runner: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
