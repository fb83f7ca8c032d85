"""What `tether doctor` needs to know about a host, gathered ON the host.

The client sends this file's text to the host's python3 on stdin
(``python3 -I - [--runner PATH]...``) and reads one JSON object from the last
line of stdout. Standard library only, Python 3.9; it starts, stops and
installs nothing (asking a runner for its status at most creates its empty
state directories), so it is safe on a broken host, which is where it is needed.
The verdicts are the client's (`tui.install.doctor`); this only reports facts,
each with the reason when it could not be found out.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional

from protocol.host_layout import CURRENT, MARKER, install_root, state_dir

ROOT = install_root(Path.home())
_TIMEOUT_S = 20.0


def runner_facts(candidates: List[str]) -> Dict[str, Any]:
    """The first runner found (tether's install for the client's version, the
    current one, then PATH), its status and its crontab entry."""
    for candidate in candidates:
        path = shutil.which(candidate) if "/" not in candidate else candidate
        if path and os.access(path, os.X_OK):
            return {
                "path": path,
                "status": _json_of([path, "status", "--json"]),
                "cron": _json_of([path, "cron", "status", "--json"]),
            }
    return {"path": None}


def _json_of(argv: List[str]) -> Dict[str, Any]:
    try:
        done = subprocess.run(
            argv, check=False, capture_output=True, stdin=subprocess.DEVNULL, timeout=_TIMEOUT_S
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"error": str(exc)}
    text = done.stdout.decode(errors="replace").strip()
    try:
        data = json.loads(text.splitlines()[-1]) if text else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    said = (done.stderr.decode(errors="replace").strip() or text).splitlines()
    return {"error": said[-1] if said else f"exit status {done.returncode}"}


def installed_facts() -> Dict[str, Any]:
    versions = []
    if ROOT.is_dir():
        versions = sorted(
            p.name for p in ROOT.iterdir() if not p.is_symlink() and (p / MARKER).is_file()
        )
    current = ROOT / CURRENT
    return {
        "root": str(ROOT),
        "versions": versions,
        "current": os.readlink(current) if current.is_symlink() else None,
    }


def state_facts() -> Dict[str, Any]:
    state = state_dir(Path.home(), os.environ)
    where = state
    while not where.exists():
        where = where.parent
    return {
        "dir": str(state),
        "exists": state.is_dir(),
        "free_bytes": shutil.disk_usage(where).free,
    }


def nvml_facts() -> Dict[str, Any]:
    """NVML as the runner would load it: the driver's library, then nvmlInit."""
    try:
        nvml = ctypes.CDLL("libnvidia-ml.so.1")
    except OSError as exc:
        return {"present": False, "reason": f"libnvidia-ml.so.1 cannot be loaded ({exc})"}
    error_string = nvml.nvmlErrorString
    error_string.restype = ctypes.c_char_p
    code = nvml.nvmlInit_v2()
    if code != 0:
        return {"present": False, "reason": f"nvmlInit failed: {error_string(code).decode()}"}
    try:
        count = ctypes.c_uint(0)
        nvml.nvmlDeviceGetCount_v2(ctypes.byref(count))
        driver = ctypes.create_string_buffer(96)
        nvml.nvmlSystemGetDriverVersion(driver, ctypes.c_uint(96))
        return {"present": True, "gpus": count.value, "driver": driver.value.decode()}
    finally:
        nvml.nvmlShutdown()


def logind_facts(runner_pid: Optional[int]) -> Dict[str, Any]:
    if not os.path.isdir("/run/systemd/system"):
        return {"systemd": False}
    user = pwd.getpwuid(os.getuid()).pw_name
    facts: Dict[str, Any] = {
        "systemd": True,
        "kill_user_processes": _loginctl("show-session", "-p", "KillUserProcesses"),
        "linger": _loginctl("show-user", user, "-p", "Linger"),
    }
    if runner_pid:
        try:
            facts["runner_cgroup"] = Path(f"/proc/{runner_pid}/cgroup").read_text().strip()
        except OSError:
            facts["runner_cgroup"] = None
    return facts


def _loginctl(*argv: str) -> Optional[str]:
    try:
        done = subprocess.run(
            ["loginctl", *argv, "--value"],
            check=False,
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=_TIMEOUT_S,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    value = done.stdout.decode(errors="replace").strip()
    return value if done.returncode == 0 and value else None


def slurm_facts() -> Dict[str, Any]:
    """Whether jobs can go to Slurm here: ``sbatch`` on PATH and a controller that
    answers ``scontrol ping``; the cluster's name and partitions (``*``: default)."""
    if shutil.which("sbatch") is None:
        return {"present": False, "reason": "sbatch is not on PATH"}
    try:
        ping, config, sinfo = (
            subprocess.run(argv, check=False, capture_output=True, text=True, timeout=_TIMEOUT_S)
            for argv in (
                ["scontrol", "ping"],
                ["scontrol", "show", "config"],
                ["sinfo", "--noheader", "--format=%P"],
            )
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return {"present": True, "up": False, "reason": str(exc)}
    if ping.returncode != 0 or "is UP" not in ping.stdout:
        said = (ping.stdout.strip() or ping.stderr.strip() or "no answer").splitlines()[0]
        return {"present": True, "up": False, "reason": said}
    name = ""
    for line in config.stdout.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "ClusterName":
            name = value.strip()
    return {"present": True, "up": True, "cluster": name, "partitions": sinfo.stdout.split()}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="tether-host-facts")
    parser.add_argument("--runner", action="append", default=[], help="a runner to look for")
    args = parser.parse_args(argv)
    runner = runner_facts([*args.runner, "tether-runner"])
    status = runner.get("status") or {}
    pid = status.get("pid") if status.get("running") else None
    facts = {
        "home": str(Path.home()),
        "user": pwd.getpwuid(os.getuid()).pw_name,
        "runner": runner,
        "installed": installed_facts(),
        "state": state_facts(),
        "nvml": nvml_facts(),
        "logind": logind_facts(pid if isinstance(pid, int) else None),
        "slurm": slurm_facts(),
    }
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
