"""Installs, activates and removes the runner: the half of the installer that runs ON the host.

The client sends this file's text to the host's own python3 on stdin
(``python3 -I - install ...``) and reads one JSON object back from the last line
of stdout. It therefore uses the standard library only and runs on Python 3.9;
the client never imports it (tests do, to check it stays that way).

``install``
    checks the uploaded runner archive and wheels against the sha256 the client
    stated on the command line (a mismatch installs nothing), then builds
    ``<root>/.tmp-VERSION-PID/`` from them (or from ``pip install --target``
    with the host's own index), writes the launcher, verifies that the runner
    imports and states the right version, writes the completion marker, and only then renames the
    directory into place. Any failure (a cut link, a full disk, a wheel that
    does not load) removes the temporary directory and leaves whatever ran
    before untouched; the next contact starts again from scratch.
``activate``
    makes VERSION the running runner: a daemon of another version (or one that
    does not answer) is stopped (its jobs keep running: their shims own them)
    and VERSION's daemon is started, which re-adopts them. Then every version
    nothing runs from any more is removed.
``uninstall``
    stops tether's installed daemon, removes its cron entry and every installed
    version; with ``--purge`` also the job records and logs (refused while jobs
    run).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import io
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from protocol.host_layout import (
    CURRENT,
    LAUNCHER,
    MARKER,
    TMP_PREFIX,
    UPLOAD_PREFIX,
    install_root,
    state_dir,
)
from protocol.units import duration

ROOT = install_root(Path.home())
#: An upload directory none of whose files changed for this long belongs to a
#: client whose link died (a live upload writes every few milliseconds).
STALE_AFTER_S = 180.0
VERIFY_TIMEOUT_S = 180.0
PIP_TIMEOUT_S = 600.0
#: Larger than any wheel or runner archive tether sends (each is read into memory once).
MAX_UPLOAD_BYTES = 256 * 1024 * 1024
#: What the verification imports: everything the daemon needs at start.
_VERIFY = (
    "import runner.host.cli, runner.server.daemon, msgpack, pydantic, psutil, pynvml; "
    "from protocol.version import __version__; print(__version__)"
)


class Failure(Exception):
    """One sentence saying why; the host is left as it was."""


# -- install -------------------------------------------------------------------------


def install(args: argparse.Namespace) -> Dict[str, Any]:
    started = time.monotonic()
    ROOT.mkdir(parents=True, exist_ok=True)
    staging = ROOT / args.staging
    with _install_lock():
        final = ROOT / args.version
        if (final / MARKER).is_file() and not args.force:
            _remove(staging)
            return {"result": "present", "path": str(final)}
        _remove_stale(keep=staging)
        archive = _verified(staging, args.archive, args.archive_sha256, "the runner archive")
        wheels = [] if args.source == "index" else _verified_wheels(staging, args.wheel)
        tmp = ROOT / f"{TMP_PREFIX}{args.version}-{os.getpid()}"
        _remove(tmp)
        try:
            if args.source == "index":
                pip_failure = _pip_install(args, tmp / "lib")
                if pip_failure:
                    return {"result": "index-failed", "detail": pip_failure}
            for name, data in wheels:
                _unpack_wheel(name, data, tmp / "lib")
            _unpack(args.archive, archive, tmp / "lib")
            _write_launcher(tmp, final, args.python)
            _verify(args, tmp / "lib")
            _write_marker(tmp, args)
            _replace(final, tmp)
        except OSError as exc:
            raise Failure(f"{exc.strerror or exc} ({exc.filename or ROOT})") from exc
        finally:
            _remove(tmp)
        _remove(staging)
        _point_current(args.version)
    return {"result": "installed", "path": str(final), "seconds": time.monotonic() - started}


@contextlib.contextmanager
def _install_lock() -> Iterator[None]:
    fd = os.open(ROOT / ".install.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _pip_install(args: argparse.Namespace, lib: Path) -> Optional[str]:
    """``pip install --target`` from the host's index; the failure, or None."""
    lib.mkdir(parents=True)
    env = dict(os.environ, PIP_USER="0", PIP_REQUIRE_VIRTUALENV="0", PIP_NO_INPUT="1")
    argv = [args.python, "-m", "pip", "install", "--target", str(lib), "--only-binary=:all:"]
    argv += ["--no-compile", "--disable-pip-version-check", "--no-warn-script-location"]
    argv += ["--retries", "1", "--timeout", "15", *args.requirement]
    try:
        done = subprocess.run(
            argv,
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=PIP_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        shutil.rmtree(lib, ignore_errors=True)
        return f"pip install took over {duration(PIP_TIMEOUT_S)}"
    if done.returncode == 0:
        return None
    shutil.rmtree(lib, ignore_errors=True)
    said = done.stderr.decode(errors="replace").strip().splitlines()
    errors = [line for line in said if line.startswith("ERROR")]
    return (errors or said or [f"pip exited {done.returncode}"])[-1]


def _verified_wheels(staging: Path, named: List[str]) -> List[Tuple[str, bytes]]:
    """The bytes of every wheel the client named (``NAME=SHA256``), each checked."""
    if not named:
        raise Failure("the client named no wheels to install, so nothing was installed")
    wheels = []
    for item in named:
        name, _, digest = item.rpartition("=")
        wheels.append((name, _verified(staging, name, digest, "the wheel")))
    return wheels


def _verified(staging: Path, name: str, sha256: str, what: str) -> bytes:
    """The bytes of the uploaded file `name`, read once (never through a link) and
    checked against the sha256 the client stated: what is unpacked is what was checked,
    whatever happens to the upload directory meanwhile."""
    if not name or "/" in name or name.startswith(".") or "\0" in name:
        raise Failure(f"{what} {name!r} is not a plain file name, so nothing was installed")
    try:
        fd = os.open(staging / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise Failure(
            f"{what} {name} was not uploaded completely ({exc.strerror}); run tether again"
        ) from None
    with os.fdopen(fd, "rb") as source:
        if not stat.S_ISREG(os.fstat(source.fileno()).st_mode):
            raise Failure(f"{what} {name} is not a plain file, so nothing was installed")
        data = source.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES or hashlib.sha256(data).hexdigest() != sha256:
        raise Failure(
            f"{what} {name} is not what the client sent (its sha256 differs), so nothing was "
            f"installed and the previous runner stays; run tether again, and if this "
            f"repeats, check who else can write under {ROOT}"
        )
    return data


def _unpack_wheel(name: str, data: bytes, lib: Path) -> None:
    """A wheel is a zip of what goes into site-packages, plus ``NAME.data/``
    subtrees whose ``purelib``/``platlib`` parts go there too (scripts, headers
    and data files are not needed by an importable library)."""
    lib.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            parts = info.filename.split("/")
            if parts[0].endswith(".data") and len(parts) > 2:
                if parts[1] not in ("purelib", "platlib"):
                    continue
                parts = parts[2:]
            _extract(name, archive, info, lib, parts)


def _unpack(name: str, data: bytes, lib: Path) -> None:
    lib.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            _extract(name, archive, info, lib, info.filename.split("/"))


def _extract(
    name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, lib: Path, parts: List[str]
) -> None:
    if any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in (".", ".."):
        raise Failure(f"{name} holds an unsafe path {info.filename!r}")
    if info.is_dir() or not parts[-1]:
        return
    target = lib.joinpath(*parts)
    target.parent.mkdir(parents=True, exist_ok=True)
    with archive.open(info) as source, open(target, "wb") as out:
        shutil.copyfileobj(source, out, 1 << 20)
    mode = (info.external_attr >> 16) & 0o777
    os.chmod(target, 0o755 if mode & 0o111 else 0o644)


def _write_launcher(tmp: Path, final: Path, python: str) -> None:
    launcher = tmp / LAUNCHER
    launcher.parent.mkdir(parents=True, exist_ok=True)
    lib = shlex.quote(str(final / "lib"))
    launcher.write_text(
        "#!/bin/sh\n"
        f"# tether's runner {final.name}, installed by tether; `tether uninstall` removes it.\n"
        f"PYTHONPATH={lib}\n"
        "export PYTHONPATH\n"
        "# From /: `-m` looks in the current directory first, and a runner/ there must not win.\n"
        f'cd / && exec {shlex.quote(python)} -s -m runner "$@"\n'
    )
    launcher.chmod(0o755)


def _verify(args: argparse.Namespace, lib: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(lib), PYTHONDONTWRITEBYTECODE="1")
    try:
        done = subprocess.run(
            [args.python, "-s", "-c", _VERIFY],
            check=False,
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=VERIFY_TIMEOUT_S,
            cwd="/",
        )
    except subprocess.TimeoutExpired:
        raise Failure(f"the new runner did not load within {duration(VERIFY_TIMEOUT_S)}") from None
    said = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0 or said != args.version:
        last = (done.stderr.decode(errors="replace").strip().splitlines() or [said])[-1]
        raise Failure(f"the new runner does not load with {args.python}: {last}")


def _write_marker(tmp: Path, args: argparse.Namespace) -> None:
    marker = {
        "version": args.version,
        "python": args.python,
        "source": args.source,
        "installed_at": time.time(),
    }
    path = tmp / MARKER
    with open(path, "w") as out:
        json.dump(marker, out)
        out.flush()
        os.fsync(out.fileno())
    _fsync_dir(tmp)


def _replace(final: Path, tmp: Path) -> None:
    aside = None
    if final.exists() or final.is_symlink():
        aside = ROOT / f".old-{final.name}-{os.getpid()}"
        final.rename(aside)
    tmp.rename(final)
    _fsync_dir(ROOT)
    if aside is not None:
        _remove(aside)


def _point_current(version: str) -> None:
    link = ROOT / f".{CURRENT}-{os.getpid()}"
    _remove(link)
    link.symlink_to(version)
    link.rename(ROOT / CURRENT)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path, ignore_errors=True)


def _remove_stale(keep: Path) -> None:
    """Upload and install directories a dead client or install left behind."""
    now = time.time()
    for entry in ROOT.iterdir():
        if entry == keep or not entry.name.startswith((UPLOAD_PREFIX, TMP_PREFIX, ".old-")):
            continue
        if now - _newest_mtime(entry) > STALE_AFTER_S or _owner_gone(entry):
            _remove(entry)


def _owner_gone(entry: Path) -> bool:
    """A ``.tmp-VERSION-PID`` directory whose install process has died."""
    pid = entry.name.rsplit("-", 1)[-1]
    if not entry.name.startswith(TMP_PREFIX) or not pid.isdigit():
        return False
    return not Path(f"/proc/{pid}").exists()


def _newest_mtime(path: Path) -> float:
    newest = path.lstat().st_mtime
    for dirpath, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                newest = max(newest, os.lstat(os.path.join(dirpath, name)).st_mtime)
    return newest


# -- activate ------------------------------------------------------------------------


def activate(args: argparse.Namespace) -> Dict[str, Any]:
    launcher = ROOT / args.version / LAUNCHER
    if not (ROOT / args.version / MARKER).is_file():
        raise Failure(f"tether's runner {args.version} is not installed in {ROOT}")
    result: Dict[str, Any] = {"stopped": None, "started": False}
    status = _status(launcher)
    running = status.get("running") is True
    if running and status.get("runner_version") == args.version and not args.restart:
        result["running"] = status.get("pid")
    else:
        if status.get("holder") or running:
            result["stopped"] = status.get("pid") or status.get("holder")
            _run_launcher(launcher, "stop")
        said = _run_launcher(launcher, "serve", "--daemon")
        result["started"] = True
        result["said"] = said
    _point_current(args.version)
    result["removed"] = _remove_unused(keep=args.version)
    return result


def _status(launcher: Path) -> Dict[str, Any]:
    """The daemon's ``status --json``; {"holder": True} for one that holds the lock
    but does not answer (another protocol, or hung)."""
    done = subprocess.run(
        [str(launcher), "status", "--json"],
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    if done.returncode == 3:
        return {"running": False}
    try:
        data = json.loads(done.stdout.decode(errors="replace"))
    except ValueError:
        return {"holder": True}
    return data if isinstance(data, dict) else {"holder": True}


def _run_launcher(launcher: Path, *argv: str) -> str:
    done = subprocess.run(
        [str(launcher), *argv],
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    said = (done.stdout + done.stderr).decode(errors="replace").strip()
    if done.returncode != 0:
        raise Failure(f"`tether-runner {' '.join(argv)}` failed: {said[-300:]}")
    return said


def _remove_unused(keep: str) -> List[str]:
    """Every installed version but `keep` that no process of this user runs from."""
    in_use = _versions_in_use()
    removed = []
    for entry in sorted(ROOT.iterdir()):
        if entry.name.startswith(".") or entry.name in (keep, CURRENT) or entry.is_symlink():
            continue
        if entry.is_dir() and entry.name not in in_use:
            _remove(entry)
            removed.append(entry.name)
    return removed


def _versions_in_use() -> Dict[str, List[int]]:
    """Installed version -> the pids running from it (its daemon, its jobs' shims)."""
    prefix = str(ROOT) + "/"
    found: Dict[str, List[int]] = {}
    for pid, text in _own_processes():
        start = text.find(prefix)
        while start >= 0:
            version = text[start + len(prefix) :].split("/", 1)[0].split("\0", 1)[0]
            if pid not in found.setdefault(version, []):
                found[version].append(pid)
            start = text.find(prefix, start + 1)
    return found


def _own_processes() -> Iterator[tuple[int, str]]:
    """(pid, cmdline + PYTHONPATH) of every process of this user but this one."""
    uid = os.getuid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if entry.stat().st_uid != uid:
                continue
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        path = b""
        for item in environ.split(b"\0"):
            if item.startswith(b"PYTHONPATH="):
                path = item
        yield int(entry.name), (cmdline + b"\0" + path).decode(errors="replace")


# -- uninstall -----------------------------------------------------------------------


def uninstall(args: argparse.Namespace) -> Dict[str, Any]:
    # `runner.shim` is where releases before 0.2 kept the shim; their jobs may still run.
    shims = [
        pid
        for pid, text in _own_processes()
        if ("runner.jobs.shim" in text or "runner.shim" in text) and str(ROOT) in text
    ]
    if args.purge and shims:
        raise Failure(
            f"{len(shims)} job(s) still run from tether's runner; cancel them first "
            f"(tether ls, tether cancel JOB), or uninstall without --purge to keep them"
        )
    result: Dict[str, Any] = {"stopped": None, "cron_removed": False, "jobs_running": len(shims)}
    launcher = _any_launcher()
    if launcher is not None:
        status = _status(launcher)
        pid = status.get("pid")
        ours = {p for pids in _versions_in_use().values() for p in pids}
        if status.get("running") and pid in ours:
            _run_launcher(launcher, "stop")
            result["stopped"] = pid
        with contextlib.suppress(Failure, OSError, subprocess.TimeoutExpired):
            said = _run_launcher(launcher, "cron", "remove")
            result["cron_removed"] = "removed" in said
    result["removed"] = sorted(p.name for p in ROOT.iterdir()) if ROOT.is_dir() else []
    _remove(ROOT)
    if args.purge:
        state = state_dir(Path.home(), os.environ)
        result["purged"] = str(state) if state.exists() else None
        _remove(state)
    return result


def _any_launcher() -> Optional[Path]:
    """The launcher of the current version, else of any complete one."""
    candidates = [ROOT / CURRENT / LAUNCHER]
    if ROOT.is_dir():
        candidates += sorted(ROOT.glob(f"*/{LAUNCHER}"))
    for launcher in candidates:
        if launcher.is_file() and (launcher.parent.parent / MARKER).is_file():
            return launcher
    return None


# -- entry point ---------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tether-host-install")
    verbs = parser.add_subparsers(dest="verb", required=True)
    inst = verbs.add_parser("install")
    inst.add_argument("--version", required=True)
    inst.add_argument("--python", required=True)
    inst.add_argument("--staging", required=True)
    inst.add_argument("--archive", required=True)
    inst.add_argument("--archive-sha256", required=True)
    inst.add_argument("--wheel", action="append", default=[], help="NAME=SHA256 of a wheel")
    inst.add_argument("--source", choices=("index", "wheels"), required=True)
    inst.add_argument("--requirement", action="append", default=[])
    inst.add_argument("--force", action="store_true")
    act = verbs.add_parser("activate")
    act.add_argument("--version", required=True)
    act.add_argument("--restart", action="store_true")
    uni = verbs.add_parser("uninstall")
    uni.add_argument("--purge", action="store_true")
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = _parser().parse_args(argv)
    verbs = {"install": install, "activate": activate, "uninstall": uninstall}
    try:
        result = verbs[args.verb](args)
    except Failure as exc:
        result = {"result": "failed", "detail": str(exc)}
    except (OSError, subprocess.SubprocessError) as exc:
        result = {"result": "failed", "detail": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
