"""`tether install | uninstall | doctor | cron`: managing the runner on a host itself.

These verbs talk to the host with plain commands over SSH (`tui.install`), not
through a runner session: ``doctor`` must work where no runner can start, and
``install`` / ``uninstall`` are what put it there and take it away. Every other
verb installs or upgrades the runner by itself on first contact; ``install`` is
for doing it ahead of time (``--force`` redoes it). On this machine (no
``-H``), ``doctor`` and ``cron`` work; the runner here is this tether's own
code, so there is nothing to install or uninstall.

Declared here, carried out by `tui.cli.install_runs`: like `tui.cli.session_verbs`,
this module is read at every start of ``tether``, so it imports nothing that
talks to a host.
"""

from __future__ import annotations

import argparse
from typing import Tuple

from tui.cli.verb import Verb, add_host


def _install_arguments(install: argparse.ArgumentParser) -> None:
    add_host(install)
    install.add_argument("--force", action="store_true", help="install again even if present")


def _uninstall_arguments(uninstall: argparse.ArgumentParser) -> None:
    add_host(uninstall)
    uninstall.add_argument(
        "--purge", action="store_true", help="also delete every job record and log there"
    )
    uninstall.add_argument("--yes", action="store_true", help="do not ask before --purge")


def _doctor_arguments(doctor: argparse.ArgumentParser) -> None:
    add_host(doctor)
    doctor.add_argument("--json", action="store_true", help="a JSON object")


def _cron_arguments(cron: argparse.ArgumentParser) -> None:
    cron.add_argument("action", choices=("install", "remove", "status"))
    add_host(cron)


VERBS: Tuple[Verb, ...] = (
    Verb(
        "install",
        "put this tether's runner on a host now",
        _install_arguments,
        "tui.cli.install_runs:install",
    ),
    Verb(
        "uninstall",
        "remove tether's runner from a host",
        _uninstall_arguments,
        "tui.cli.install_runs:uninstall",
    ),
    Verb(
        "doctor",
        "check a host: python, runner, GPUs, logout, cron",
        _doctor_arguments,
        "tui.cli.install_runs:doctor",
    ),
    Verb(
        "cron",
        "start the host's runner at boot (a crontab entry)",
        _cron_arguments,
        "tui.cli.install_runs:cron",
    ),
    Verb(
        "disconnect",
        "close the connection kept to a host (every host's without -H)",
        add_host,
        "tui.cli.disconnect:disconnect",
    ),
)
