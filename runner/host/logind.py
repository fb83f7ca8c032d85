"""Surviving logout on systemd hosts.

systemd-logind can kill every process of a user's login session when it ends
(``KillUserProcesses=yes``, upstream's default, kept by some distributions).
A runner started from an SSH session lives in that session's scope, so it, and
every job under it, would die with the person's last SSH connection.

What helps depends on lingering (``loginctl enable-linger``), which keeps the
user's own systemd manager alive with no session open:

- lingering on: the runner starts in a scope of the user manager
  (``systemd-run --user --scope``), outside the session, and outlives it;
- lingering off: nothing a user can start survives; the person must enable
  lingering (`tether doctor` says so, and the installer says it once).

Everything else (no systemd, ``KillUserProcesses=no``, a runner started by cron
and so outside any session) needs nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

#: Set in the environment of a runner started through systemd-run, so it does not
#: wrap itself again.
IN_SCOPE_ENV = "TETHER_RUNNER_SCOPE"
_LOGINCTL_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class LogindFacts:
    systemd: bool
    kill_user_processes: Optional[bool]  # None: could not tell
    linger: Optional[bool]
    in_session_scope: bool


def read_facts() -> LogindFacts:
    systemd = os.path.isdir("/run/systemd/system")
    if not systemd:
        return LogindFacts(False, None, None, False)
    user = _user_name()
    kill = _yes_no(_loginctl("show-session", "-p", "KillUserProcesses").get("KillUserProcesses"))
    if kill is None:
        kill = configured_kill_user_processes(_logind_conf_texts())
    linger = _yes_no(_loginctl("show-user", user, "-p", "Linger").get("Linger"))
    return LogindFacts(True, kill, linger, in_session_scope(_read("/proc/self/cgroup")))


def in_session_scope(cgroup: str) -> bool:
    """Whether a ``/proc/PID/cgroup`` text puts the process in a login session's scope."""
    return any("/session-" in line and line.endswith(".scope") for line in cgroup.splitlines())


def needs_scope(facts: LogindFacts) -> bool:
    """Start the runner under ``systemd-run --user --scope``: logind would kill it at
    logout, and lingering keeps the user manager (and so the scope) alive."""
    return bool(
        facts.systemd and facts.in_session_scope and facts.kill_user_processes and facts.linger
    )


def scoped_argv(argv: List[str]) -> Optional[List[str]]:
    """`argv` wrapped in ``systemd-run --user --scope`` when `needs_scope`, else None."""
    if os.environ.get(IN_SCOPE_ENV):
        return None
    systemd_run = shutil.which("systemd-run")
    if systemd_run is None or not needs_scope(read_facts()):
        return None
    return [systemd_run, "--user", "--scope", "--quiet", "--collect", *argv]


def scope_env() -> Dict[str, str]:
    """The environment for the wrapped runner: the user bus must be reachable."""
    env = dict(os.environ)
    env[IN_SCOPE_ENV] = "1"
    runtime = f"/run/user/{os.getuid()}"
    if "XDG_RUNTIME_DIR" not in env and os.path.isdir(runtime):
        env["XDG_RUNTIME_DIR"] = runtime
    return env


def configured_kill_user_processes(texts: List[str]) -> Optional[bool]:
    """``KillUserProcesses`` as logind.conf and its drop-ins (in reading order) set it."""
    value: Optional[bool] = None
    for text in texts:
        section = ""
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1]
            elif section == "Login" and line.startswith("KillUserProcesses="):
                value = _yes_no(line.split("=", 1)[1]) if line.split("=", 1)[1] else value
    return value


def _logind_conf_texts() -> List[str]:
    paths = [Path("/etc/systemd/logind.conf")]
    for directory in ("/usr/lib/systemd/logind.conf.d", "/etc/systemd/logind.conf.d"):
        paths += sorted(Path(directory).glob("*.conf"))
    return [_read(str(p)) for p in paths]


def _loginctl(*argv: str) -> Dict[str, str]:
    try:
        done = subprocess.run(
            ["loginctl", *argv],
            check=False,
            capture_output=True,
            text=True,
            timeout=_LOGINCTL_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode != 0:
        return {}
    pairs = (line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def _yes_no(value: Optional[str]) -> Optional[bool]:
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in ("yes", "true", "1", "on"):
        return True
    if lowered in ("no", "false", "0", "off"):
        return False
    return None


def _user_name() -> str:
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name


def _read(path: str) -> str:
    try:
        with open(path) as handle:
            return handle.read()
    except OSError:
        return ""
