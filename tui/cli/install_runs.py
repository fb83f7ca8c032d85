"""How ``tether install | uninstall | doctor | cron`` are carried out (declared in
`tui.cli.install_verbs`, which says why they work without a runner session).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shlex
import sys
from typing import AsyncIterator

from tui.config import load_config
from tui.errors import TetherError
from tui.hosts import is_local
from tui.install.doctor import diagnose
from tui.install.installer import (
    StderrProgress,
    host_install_source,
    install_runner,
    run_host_script,
)
from tui.install.probe import probe_host
from tui.install.shell import HostShell, LocalShell

_UNINSTALL_TIMEOUT_S = 120.0


def _remote_only(verb: str, host: str) -> None:
    if is_local(host):
        raise TetherError(
            f"`tether {verb}` acts on a remote host (-H HOST): this machine's runner is "
            f"this tether's own code and is never installed separately"
        )


async def install(args: argparse.Namespace, host: str) -> int:
    _remote_only("install", host)
    return await _install(host, args.force)


async def uninstall(args: argparse.Namespace, host: str) -> int:
    _remote_only("uninstall", host)
    return await _uninstall(host, args.purge, args.yes)


async def doctor(args: argparse.Namespace, host: str) -> int:
    return await _doctor(host, args.json)


async def cron(args: argparse.Namespace, host: str) -> int:
    return await _cron(host, args.action)


@contextlib.asynccontextmanager
async def _shell(host: str) -> AsyncIterator[HostShell]:
    if is_local(host):
        yield LocalShell()
        return
    from tui.install.ssh_shell import SshShell
    from tui.ssh.connect import connect
    from tui.ssh.target import parse_target

    conn = await connect(parse_target(host))
    try:
        yield SshShell(conn, host)
    finally:
        conn.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.wait_closed(), 5.0)


async def _doctor(host: str, as_json: bool) -> int:
    async with _shell(host) as shell:
        runners = [f"{sys.prefix}/bin/tether-runner"] if is_local(host) else []
        diagnosis = await diagnose(shell, _host_flag(host), runners)
    print(diagnosis.to_json() if as_json else diagnosis.to_text())
    return 0 if diagnosis.healthy else 1


async def _install(host: str, force: bool) -> int:
    async with _shell(host) as shell:
        outcome = await install_runner(shell, progress=StderrProgress(), force=force)
    if outcome.source == "present":
        print(
            f"tether {outcome.version} runner is already installed on {host} at "
            f"{outcome.launcher} (--force installs it again)"
        )
    else:
        how = (
            "from the host's package index"
            if outcome.source == "index"
            else ("with wheels sent from this machine")
        )
        print(f"installed tether {outcome.version} runner on {host} at {outcome.launcher} ({how})")
    stopped = outcome.activation.get("stopped")
    if stopped:
        print(
            f"stopped the runner that was running (pid {stopped}); its jobs carry on under this one"
        )
    return 0


async def _uninstall(host: str, purge: bool, yes: bool) -> int:
    if purge and not yes:
        _confirm_purge(host)
    async with _shell(host) as shell:
        facts = await probe_host(shell, check_index=False)
        argv = ["uninstall", *(["--purge"] if purge else [])]
        source = await asyncio.to_thread(host_install_source)
        result = await run_host_script(shell, facts.python, source, argv, _UNINSTALL_TIMEOUT_S)
    removed = result.get("removed") or []
    versions = [v for v in removed if not str(v).startswith(".") and v != "current"]
    if not removed:
        print(f"tether's runner was not installed on {host}; nothing to remove")
    else:
        print(
            f"removed tether's runner from {host} ({', '.join(versions) or 'no complete version'})"
        )
    if result.get("stopped"):
        print(f"stopped its daemon (pid {result['stopped']})")
    if result.get("cron_removed"):
        print("removed its crontab entry")
    running = int(result.get("jobs_running") or 0)
    if running:
        print(
            f"{running} job(s) keep running; their records stay, and the next tether command "
            f"on {host} reinstalls the runner, which re-adopts them"
        )
    if purge and result.get("purged"):
        print(f"deleted every job record and log in {result['purged']}")
    return 0


def _host_flag(host: str) -> str:
    """How a command line in advice names `host`: `` -H gpu1``, or nothing here."""
    return "" if is_local(host) else f" -H {shlex.quote(host)}"


def _confirm_purge(host: str) -> None:
    question = f"delete every job record and log on {host}? [y/N] "
    if not sys.stdin.isatty():
        raise TetherError(
            f"--purge deletes every job record and log on {host}; add --yes to confirm "
            f"when not at a terminal"
        )
    answer = input(question)
    if answer.strip().lower() not in ("y", "yes"):
        raise TetherError("nothing removed: --purge was not confirmed")


async def _cron(host: str, action: str) -> int:
    if is_local(host):
        return await _local_cron(action)
    from tui.install.contact import ensure_runner
    from tui.ssh.bootstrap import RunnerLocation, bootstrap_command, parse_bootstrap
    from tui.ssh.target import parse_target

    target = parse_target(host)
    override = await asyncio.to_thread(lambda: load_config().host(target.typed, target.host).runner)
    async with _shell(host) as shell:

        async def bootstrap() -> RunnerLocation:
            done = await shell.run(bootstrap_command("start", override))
            return parse_bootstrap(host, done.stdout, done.stderr, done.exit_status)

        location = await ensure_runner(shell, bootstrap)
        done = await shell.run(f"{shlex.quote(location.runner)} cron {action}")
    return _relay(done.stdout, done.stderr, done.exit_status)


async def _local_cron(action: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "runner",
        "cron",
        action,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    return _relay(out.decode(errors="replace"), err.decode(errors="replace"), proc.returncode)


def _relay(stdout: str, stderr: str, status: int | None) -> int:
    if stdout:
        print(stdout, end="" if stdout.endswith("\n") else "\n")
    if stderr:
        print(stderr, end="" if stderr.endswith("\n") else "\n", file=sys.stderr)
    return status if status is not None else 1
