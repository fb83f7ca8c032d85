"""Putting this client's runner on a host: probe, upload, install, activate.

1. Probe the host (`tui.install.probe`): which python3, which wheels it loads,
   whether its pip reaches an index, which versions are already there.
2. Upload the runner's code (`tui.install.runner_archive`) into an upload
   directory under the install root.
3. Install on the host (`tui.install.host_install`, run by the host's python3):
   dependencies from the host's own index with ``pip install --target`` when
   it reaches one, else from wheels this client downloads for the host
   (`tui.install.wheelhouse`) and uploads too. Neither path needs venv,
   ensurepip or root. The host checks the archive and every wheel against the
   sha256 this client states on the command line (which travels over SSH, not
   through the upload directory) before it unpacks anything.
4. Activate: the daemon of any other version stops (its jobs keep running and
   are re-adopted) and this version's daemon starts; versions nothing runs from
   any more are removed.

A person sees one line on stderr:
``installing tether 0.4.1 runner on gpu1 (python 3.10, manylinux x86_64)… done in 6.2 s``.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol

from protocol.host_layout import UPLOAD_PREFIX
from protocol.units import duration, size
from protocol.version import __version__, is_newer
from tui.errors import IncompatibleRunner
from tui.install import host_install
from tui.install.errors import InstallError
from tui.install.host_script import host_script
from tui.install.layout import launcher_path
from tui.install.probe import HostFacts, probe_host
from tui.install.runner_archive import RunnerArchive, build_archive
from tui.install.shell import HostShell
from tui.install.tags import UnsupportedPlatform
from tui.install.wheelhouse import RUNNER_REQUIREMENTS, copy_verified, wheelhouse_for
from tui.runner_version import runner_too_new_message

#: Below this much free space under the install root, an install is not tried.
MIN_FREE_BYTES = 150 * 1024 * 1024
INSTALL_TIMEOUT_S = 900.0
ACTIVATE_TIMEOUT_S = 120.0


class Progress(Protocol):
    """Where the one-line progress report goes (stderr for the CLI)."""

    def begin(self, text: str) -> None: ...
    def end(self, text: str) -> None: ...
    def note(self, text: str) -> None: ...


class StderrProgress:
    def begin(self, text: str) -> None:
        print(text, end="", file=sys.stderr, flush=True)

    def end(self, text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    def note(self, text: str) -> None:
        print(f"tether: {text}", file=sys.stderr, flush=True)


class QuietProgress:
    def begin(self, text: str) -> None:
        pass

    def end(self, text: str) -> None:
        pass

    def note(self, text: str) -> None:
        pass


@dataclass(frozen=True)
class InstallOutcome:
    version: str
    launcher: str
    source: str  # "index", "wheels" or "present" (nothing was installed)
    seconds: float
    facts: HostFacts
    activation: Dict[str, Any]


async def install_runner(
    shell: HostShell,
    *,
    progress: Progress,
    force: bool = False,
    replacing: Optional[str] = None,
    archive: Optional[RunnerArchive] = None,
) -> InstallOutcome:
    """Make this client's runner version installed and running on `shell`'s host.

    `replacing` names the version of the daemon being replaced, for the progress
    line; `archive` overrides the code sent (tests build older or newer runners).
    Raises `InstallError` (nothing changed on the host), `ConnectError` (the
    link failed; nothing changed either) or `IncompatibleRunner` (the host's
    current runner is newer: never downgraded unless `force`).
    """
    started = time.monotonic()
    version = archive.version if archive is not None else __version__
    facts = await probe_host(shell, check_index=True)
    if facts.current and is_newer(facts.current, version) and not force:
        raise IncompatibleRunner(runner_too_new_message(shell.name, facts.current), facts.current)
    if version in facts.installed and not force:
        activation = await _activate(shell, facts, version, restart=False)
        seconds = time.monotonic() - started
        return InstallOutcome(
            version, launcher_path(facts.home, version), "present", seconds, facts, activation
        )
    _check_room(facts)
    replacing = replacing or (facts.current if facts.current != version else None)
    if replacing:
        what = f"upgrading tether runner from {replacing} to {version}"
    else:
        what = f"installing tether {version} runner"
    progress.begin(f"{what} on {shell.name} ({facts.describe()})… ")
    try:
        if archive is None:
            archive = await asyncio.to_thread(build_archive)
        source = await _install(shell, facts, archive, force)
        activation = await _activate(shell, facts, version, restart=force)
    except BaseException:
        progress.end("failed")
        raise
    seconds = time.monotonic() - started
    progress.end(f"done in {duration(seconds)}")
    if facts.logout_kills_runner:
        progress.note(linger_advice(facts.host))
    return InstallOutcome(
        version, launcher_path(facts.home, version), source, seconds, facts, activation
    )


def linger_advice(host: str) -> str:
    return (
        f"on {host}, systemd-logind kills your processes when you log out "
        f"(KillUserProcesses=yes) and lingering is off, so the runner and its jobs stop "
        f"with your last SSH session: run `loginctl enable-linger` there (an admin may "
        f"have to), then tether starts the runner where logout cannot reach it"
    )


def _check_room(facts: HostFacts) -> None:
    if facts.free_bytes < MIN_FREE_BYTES:
        raise InstallError(
            f"{facts.host}: only {size(facts.free_bytes)} free under "
            f"{facts.install_root}; tether's runner needs about "
            f"{size(MIN_FREE_BYTES)} there: free some space and try again"
        )


async def _install(shell: HostShell, facts: HostFacts, archive: RunnerArchive, force: bool) -> str:
    staging = f"{UPLOAD_PREFIX}{secrets.token_hex(6)}"
    remote_staging = f"{facts.install_root}/{staging}"
    with tempfile.TemporaryDirectory(prefix="tether-runner-") as local:
        archive_path = Path(local) / archive.file_name
        await asyncio.to_thread(archive_path.write_bytes, archive.data)
        await shell.upload([archive_path], remote_staging)
    base = ["install", "--version", archive.version, "--python", facts.python]
    base += ["--staging", staging, "--archive", archive.file_name]
    base += ["--archive-sha256", archive.sha256]
    base += ["--force"] if force else []
    index_said = ""
    if facts.index_reachable:
        requirements = [arg for r in RUNNER_REQUIREMENTS for arg in ("--requirement", r)]
        result = await _host_step(shell, facts, [*base, "--source", "index", *requirements])
        if result.get("result") in ("installed", "present"):
            return "index"
        index_said = str(result.get("detail", ""))
    try:
        wheelhouse = await wheelhouse_for(facts.platform)
    except (InstallError, UnsupportedPlatform) as exc:
        raise InstallError(f"{facts.host}: {_why_no_index(facts, index_said)}, and {exc}") from exc
    with tempfile.TemporaryDirectory(prefix="tether-wheels-") as local:
        copies = await asyncio.to_thread(copy_verified, wheelhouse, Path(local))
        await shell.upload(copies, remote_staging)
    hashes = [f"--wheel={name}={digest}" for name, digest in wheelhouse.hashes().items()]
    await _host_step(shell, facts, [*base, "--source", "wheels", *hashes])
    return "wheels"


def _why_no_index(facts: HostFacts, index_said: str) -> str:
    if index_said:
        return f"its pip could not install from its package index ({index_said})"
    if facts.pip is None:
        return "it has no pip to fetch the runner's dependencies with"
    detail = f" ({facts.index_detail})" if facts.index_detail else ""
    return f"its pip cannot reach a package index{detail}"


async def _activate(
    shell: HostShell, facts: HostFacts, version: str, restart: bool
) -> Dict[str, Any]:
    argv = ["activate", "--version", version] + (["--restart"] if restart else [])
    return await _host_step(shell, facts, argv, timeout=ACTIVATE_TIMEOUT_S)


async def _host_step(
    shell: HostShell, facts: HostFacts, argv: List[str], timeout: float = INSTALL_TIMEOUT_S
) -> Dict[str, Any]:
    """Run one `host_install` verb with the host's python3; its JSON answer."""
    return await run_host_script(shell, facts.python, host_install_source(), argv, timeout)


async def run_host_script(
    shell: HostShell, python: str, source: bytes, argv: List[str], timeout: float
) -> Dict[str, Any]:
    """Feed `source` to ``python -I -`` on the host; the JSON object its last line prints.

    A ``{"result": "failed", "detail": ...}`` answer raises `InstallError`.
    """
    command = " ".join(shlex.quote(a) for a in [python, "-I", "-", *argv])
    result = await shell.run(command, input=source, timeout=timeout)
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    try:
        answer = json.loads(lines[-1]) if lines else None
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        said = " ".join((result.stderr or result.stdout).split())[-300:]
        raise InstallError(
            f"{shell.name}: tether's {argv[0]} step failed with {python}: "
            f"{said or f'exit status {result.exit_status}'}"
        )
    if answer.get("result") == "failed":
        raise InstallError(f"{shell.name}: {argv[0]} failed: {answer.get('detail')}")
    return answer


def host_install_source() -> bytes:
    """The text of `tui.install.host_install`, which the host's python3 runs."""
    return host_script(host_install)
