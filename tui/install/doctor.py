"""`tether doctor`: is this host ready for tether, and if not, what to do.

Two read-only commands run on the host: the installer's probe (which python3,
which wheels, venv/ensurepip/pip/index) and `tui.install.host_facts` (runner,
socket, state dir, NVML, logind, crontab). Each check becomes a `Check` with a
verdict (``ok``, ``warn``: works but something will bite later, ``fail``:
tether cannot work there as things stand) and, unless ok, what to do. Nothing
is installed or started: a doctor must be safe on a broken host.
"""

from __future__ import annotations

import asyncio
import json
import posixpath
from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional

from protocol.host_layout import CURRENT, LAUNCHER
from protocol.jobs import printable
from protocol.units import size
from protocol.version import __version__
from tui.install import host_facts
from tui.install.errors import InstallError
from tui.install.host_script import host_script
from tui.install.installer import linger_advice, run_host_script
from tui.install.layout import install_root, launcher_path
from tui.install.probe import HostFacts, probe_host
from tui.install.shell import HostShell
from tui.runner_version import runner_is_newer

FACTS_TIMEOUT_S = 90.0
LOW_SPACE_BYTES = 1024**3
NO_SPACE_BYTES = 100 * 1024**2


@dataclass(frozen=True)
class Check:
    name: str
    verdict: str  # "ok" | "warn" | "fail"
    summary: str
    advice: str = ""


@dataclass(frozen=True)
class Diagnosis:
    host: str
    checks: List[Check]
    facts: Dict[str, Any]

    @property
    def healthy(self) -> bool:
        return all(c.verdict != "fail" for c in self.checks)

    def to_json(self) -> str:
        return json.dumps(
            {
                "host": self.host,
                "client_version": __version__,
                "healthy": self.healthy,
                "checks": [asdict(c) for c in self.checks],
                "facts": self.facts,
            },
            indent=2,
        )

    def to_text(self) -> str:
        lines = [f"tether doctor: {self.host} (this tether is {__version__})"]
        width = max(len(c.name) for c in self.checks)
        for check in self.checks:
            lines.append(f"  {check.verdict:<4}  {check.name:<{width}}  {check.summary}")
            if check.advice:
                lines.append(f"        {'':<{width}}  -> {check.advice}")
        return "\n".join(printable(line) for line in lines)  # host text cannot drive a terminal


async def diagnose(
    shell: HostShell, host_flag: str, runners: Optional[List[str]] = None
) -> Diagnosis:
    """Every check on `shell`'s host. `host_flag` is how advice names the host on a
    command line (``-H gpu1``, or '' for this machine); `runners` are extra runner
    paths to look for (this machine's own, for a local doctor)."""
    try:
        facts = await probe_host(shell, check_index=True)
    except InstallError as exc:
        return Diagnosis(shell.name, [Check("python", "fail", str(exc))], {})
    candidates = [launcher_path(facts.home, __version__)]
    candidates += [posixpath.join(install_root(facts.home), CURRENT, LAUNCHER), *(runners or [])]
    argv: List[str] = []
    for candidate in candidates:
        argv += ["--runner", candidate]
    source = await asyncio.to_thread(host_script, host_facts)
    host = _checked_facts(
        shell.name, await run_host_script(shell, facts.python, source, argv, FACTS_TIMEOUT_S)
    )
    checks = [
        python_check(facts),
        runner_check(host_flag, host["runner"]),
        socket_check(host["runner"]),
        state_check(host["state"]),
        gpu_check(host["nvml"]),
        logout_check(shell.name, host["logind"]),
        cron_check(host_flag, host["runner"]),
        slurm_check(host.get("slurm") or {}),
    ]
    return Diagnosis(shell.name, checks, {"probe": _probe_json(facts), "host": host})


#: What `tui.install.host_facts` answers: each of these is an object.
_FACT_GROUPS = ("runner", "installed", "state", "nvml", "logind")


def _checked_facts(host: str, answer: Dict[str, Any]) -> Dict[str, Any]:
    """The host's answer, refused unless it has the shape `host_facts` gives it: a
    broken or hostile host must not turn a doctor into a traceback."""
    for group in _FACT_GROUPS:
        if not isinstance(answer.get(group), dict):
            raise InstallError(
                f"{host}: tether's host facts have no {group} object (got "
                f"{printable(repr(answer.get(group))[:80])}); the python3 there answers "
                f"wrongly: check `command -v python3` there"
            )
    for group, key in (("runner", "status"), ("runner", "cron")):
        if answer[group].get(key) is not None and not isinstance(answer[group][key], dict):
            raise InstallError(
                f"{host}: tether's host facts have a {group} {key} that is not an object; "
                f"the python3 there answers wrongly: check `command -v python3` there"
            )
    return answer


def _probe_json(facts: HostFacts) -> Dict[str, Any]:
    data = asdict(facts)
    data["platform"]["tags"] = facts.platform.platform_tags()[:3]
    return data


def python_check(facts: HostFacts) -> Check:
    version = ".".join(str(v) for v in facts.python_version)
    extras = [
        f"pip {facts.pip.split()[1]}" if facts.pip else "no pip",
        "index reachable" if facts.index_reachable else "no index reachable",
        "venv" if facts.venv else "no venv",
        "ensurepip" if facts.ensurepip else "no ensurepip",
    ]
    summary = f"{facts.python} ({version}), {facts.describe()}; {', '.join(extras)}"
    if not (facts.pip and facts.index_reachable):
        summary += " (tether sends the runner's wheels from this machine instead)"
    return Check("python", "ok", summary)


def runner_check(host_flag: str, runner: Dict[str, Any]) -> Check:
    path = runner.get("path")
    status = runner.get("status") or {}
    if not path:
        return Check(
            "runner",
            "warn",
            "not installed",
            f"the next tether command installs it (or `tether install{host_flag}` now)",
        )
    version = status.get("runner_version")
    if not status.get("running"):
        detail = status.get("error") or "not running"
        return Check("runner", "warn", f"{path}: {detail}", "the next tether command starts it")
    summary = f"tether {version} at {path}, running (pid {status.get('pid')})"
    problems = [str(p) for p in status.get("problems") or []]
    if problems:
        return Check(
            "runner",
            "fail",
            f"{summary}, degraded: {'; '.join(problems)}",
            "it retries by itself; if it keeps failing, see the runner's log in its state dir",
        )
    if version == __version__:
        return Check("runner", "ok", summary)
    if isinstance(version, str) and runner_is_newer(version):
        return Check(
            "runner",
            "fail",
            summary,
            f"the runner is newer than this tether {__version__}: upgrade tether here "
            f"(e.g. `pip install -U tether`)",
        )
    return Check("runner", "warn", summary, f"the next tether command upgrades it to {__version__}")


def socket_check(runner: Dict[str, Any]) -> Check:
    status = runner.get("status") or {}
    socket = status.get("socket_path")
    if not socket:
        return Check("socket", "warn", "unknown until a runner is installed")
    if status.get("running"):
        return Check("socket", "ok", f"{socket} (answering)")
    return Check("socket", "ok", f"{socket} (no runner listening now)")


def state_check(state: Dict[str, Any]) -> Check:
    free = int(state.get("free_bytes", 0))
    summary = f"{state.get('dir')}, {size(free)} free"
    if free < NO_SPACE_BYTES:
        return Check("state dir", "fail", summary, "free some space there: job logs go there")
    if free < LOW_SPACE_BYTES:
        return Check("state dir", "warn", summary, "job logs may fill the disk: free some space")
    return Check("state dir", "ok", summary)


def gpu_check(nvml: Dict[str, Any]) -> Check:
    if nvml.get("present"):
        return Check("gpus", "ok", f"NVML: {nvml.get('gpus')} GPU(s), driver {nvml.get('driver')}")
    return Check(
        "gpus",
        "warn",
        f"no NVML: {nvml.get('reason')}",
        "jobs run, but without GPU stats or --gpus scheduling; install the NVIDIA driver "
        "if this host has GPUs",
    )


def slurm_check(slurm: Dict[str, Any]) -> Check:
    if not slurm.get("present"):
        return Check("slurm", "ok", f"no Slurm here ({slurm.get('reason')}): jobs run on the host")
    if not slurm.get("up"):
        return Check(
            "slurm",
            "warn",
            f"sbatch is here but Slurm's controller does not answer: {slurm.get('reason')}",
            "tether run --slurm will fail until scontrol ping answers; ask the cluster's admins",
        )
    parts = " ".join(str(p) for p in slurm.get("partitions") or []) or "none"
    return Check(
        "slurm",
        "ok",
        f"Slurm cluster {slurm.get('cluster') or '?'} (partitions {parts}): "
        "tether run --slurm hands jobs to it",
    )


def logout_check(host: str, logind: Dict[str, Any]) -> Check:
    if not logind.get("systemd"):
        return Check("logout", "ok", "processes outlive the SSH session (no systemd-logind)")
    kills = logind.get("kill_user_processes")
    linger = logind.get("linger")
    if kills != "yes":
        return Check(
            "logout",
            "ok",
            f"processes outlive the SSH session (logind KillUserProcesses={kills or 'no'})",
        )
    if linger == "yes":
        return Check(
            "logout",
            "ok",
            "logind kills session processes at logout, but lingering is on: the runner "
            "starts in a user scope that outlives the session",
        )
    return Check(
        "logout",
        "fail",
        "logind kills your processes at logout and lingering is off",
        linger_advice(host),
    )


def cron_check(host_flag: str, runner: Dict[str, Any]) -> Check:
    cron = runner.get("cron")
    if not runner.get("path") or not isinstance(cron, dict):
        return Check("cron", "warn", "no runner yet, so no crontab entry", "")
    if "error" in cron:
        return Check("cron", "warn", f"cannot read the crontab: {cron['error']}")
    if not cron.get("installed"):
        return Check(
            "cron",
            "warn",
            "no crontab entry: after a reboot the runner (and the queue) waits for your "
            "next tether command",
            f"`tether cron install{host_flag}`",
        )
    if cron.get("daemon_running") is False:
        return Check(
            "cron",
            "warn",
            "crontab entry present, but no cron daemon runs",
            "start cron on the host (e.g. `systemctl enable --now cron`)",
        )
    return Check("cron", "ok", "crontab entry present (@reboot, and every 5 minutes)")
