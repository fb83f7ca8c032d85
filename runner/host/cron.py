"""`tether-runner cron`: the crontab entry that brings the runner back after a reboot.

The entry is a marked block in the user's own crontab (no root, no systemd)::

    # >>> tether runner >>> (managed by `tether-runner cron install|remove`)
    @reboot RUNNER serve --daemon >/dev/null 2>&1
    */5 * * * * RUNNER serve --daemon >/dev/null 2>&1
    # <<< tether runner <<<

``serve --daemon`` is a no-op while a runner lives (the lock decides), so the
periodic line only matters after a crash or where ``@reboot`` is not honoured.
Installing replaces the block (so running it twice leaves one entry) and keeps
every other line of the crontab as it was. The runner found through cron uses
the same socket as one started from a login shell: the socket path depends on
the home directory alone (`protocol.socket_path`), not on cron's bare
environment.

For a runner that tether installed, RUNNER is the ``current`` launcher, which
follows upgrades; otherwise it is this very interpreter and code.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from typing import List, Optional

from runner.errors import RunnerError
from runner.paths import CODE_ROOT

BEGIN = "# >>> tether runner >>> (managed by `tether-runner cron install|remove`)"
END = "# <<< tether runner <<<"
#: How often cron checks that the runner lives (a no-op when it does).
PERIODIC = "*/5 * * * *"
_CRONTAB_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class CronState:
    installed: bool
    entry: List[str]
    command: str
    daemon_running: Optional[bool]  # is a cron daemon running (None: cannot tell)


def runner_command() -> str:
    """The command line cron runs to start this runner."""
    version_dir = CODE_ROOT.parent
    current = version_dir.parent / "current" / "bin" / "tether-runner"
    if (version_dir / "installed.json").is_file() and current.is_file():
        return shlex.quote(str(current))
    return (
        f"PYTHONPATH={shlex.quote(str(CODE_ROOT))} "
        f"{shlex.quote(os.path.realpath(sys.executable))} -m runner"
    )


def entry_lines(command: str) -> List[str]:
    start = f"{command} serve --daemon >/dev/null 2>&1"
    return [BEGIN, f"@reboot {start}", f"{PERIODIC} {start}", END]


def without_entry(crontab: str) -> List[str]:
    """The crontab's lines with tether's block (every copy of it) taken out."""
    kept: List[str] = []
    inside = False
    for line in crontab.splitlines():
        if line.strip() == BEGIN.strip() or line.startswith("# >>> tether runner >>>"):
            inside = True
            continue
        if inside:
            if line.strip() == END:
                inside = False
            continue
        kept.append(line)
    return kept


def with_entry(crontab: str, command: str) -> str:
    """The crontab with exactly one tether block, at its end."""
    lines = without_entry(crontab)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join([*lines, *entry_lines(command)]) + "\n"


def current_entry(crontab: str) -> List[str]:
    lines = crontab.splitlines()
    for i, line in enumerate(lines):
        if line.startswith("# >>> tether runner >>>"):
            block = [line]
            for after in lines[i + 1 :]:
                block.append(after)
                if after.strip() == END:
                    return block
            return block
    return []


def read_crontab() -> str:
    """The user's crontab, '' when there is none."""
    done = _crontab("-l")
    if done.returncode == 0:
        return done.stdout
    said = (done.stderr or done.stdout).strip()
    if "no crontab for" in said:
        return ""
    raise RunnerError(f"`crontab -l` failed: {said or f'exit status {done.returncode}'}")


def write_crontab(text: str) -> None:
    done = _crontab("-", text=text)
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()
        raise RunnerError(f"`crontab -` refused the new crontab: {said}")


def install() -> CronState:
    command = runner_command()
    crontab = read_crontab()
    updated = with_entry(crontab, command)
    if updated != crontab:
        write_crontab(updated)
    return status()


def remove() -> bool:
    """Take tether's block out; False when there was none."""
    crontab = read_crontab()
    if not current_entry(crontab):
        return False
    kept = without_entry(crontab)
    write_crontab("\n".join(kept) + "\n" if kept else "")
    return True


def status() -> CronState:
    entry = current_entry(read_crontab())
    return CronState(
        installed=bool(entry),
        entry=entry,
        command=runner_command(),
        daemon_running=cron_daemon_running(),
    )


def cron_daemon_running() -> Optional[bool]:
    """Whether a cron daemon (cron, crond, cronie, fcron...) runs on this host."""
    try:
        entries = os.listdir("/proc")
    except OSError:
        return None
    for pid in entries:
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/comm") as comm:
                name = comm.read().strip()
        except OSError:
            continue
        if name in ("cron", "crond", "fcron"):
            return True
    return False


def _crontab(*argv: str, text: Optional[str] = None) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("crontab") or _fallback_crontab()
    if binary is None:
        raise RunnerError(
            "there is no `crontab` command on this host: install cron (e.g. `apt install cron` "
            "or `dnf install cronie`), or start the runner at boot another way"
        )
    try:
        return subprocess.run(
            [binary, *argv],
            check=False,
            input=text,
            capture_output=True,
            text=True,
            timeout=_CRONTAB_TIMEOUT_S,
            stdin=None if text is not None else subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise RunnerError(f"`crontab {' '.join(argv)}` did not finish") from None


def _fallback_crontab() -> Optional[str]:
    """cron's PATH is short; look where crontab usually lives."""
    for candidate in ("/usr/bin/crontab", "/bin/crontab", "/usr/local/bin/crontab"):
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def run_verb(action: str, as_json: bool) -> int:
    """``tether-runner cron install|remove|status [--json]``; the exit status."""
    if action == "remove":
        removed = remove()
        print("removed tether's crontab entry" if removed else "there was no tether crontab entry")
        return 0
    state = install() if action == "install" else status()
    if as_json:
        print(json.dumps(asdict(state)))
    elif action == "install":
        print(f"the runner now starts at boot, and every 5 minutes if it is down: {state.command}")
    else:
        print("tether's crontab entry is " + ("present:" if state.installed else "absent"))
        for line in state.entry[1:-1]:
            print(f"  {line}")
    if state.installed and state.daemon_running is False:
        print(
            "tether-runner: warning: no cron daemon runs on this host, so the entry does "
            "nothing until one does",
            file=sys.stderr,
        )
    return 0
