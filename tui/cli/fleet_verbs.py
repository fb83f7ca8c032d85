"""The verbs about the whole fleet rather than one host, declared as `Verb`s (see
`tui.cli.session_verbs`): ``hosts``, and ``mirror``, the local copy of them all.
``-H a,b,c`` and ``-H @all`` on ``ls``, ``status``, ``top --once`` and ``run``
are routed to `tui.cli.fleet` by `tui.cli.main`."""

from __future__ import annotations

import argparse
from typing import Tuple

from tui.cli.verb import Verb


def _hosts_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="one JSON object per host")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="how long each host may take to answer (default 8)",
    )


def _mirror_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--prune",
        action="store_true",
        help="check every copy (dropping damaged ones) and drop the oldest until the "
        "mirror is under [mirror] max_size",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object")


VERBS: Tuple[Verb, ...] = (
    Verb(
        "hosts",
        "every host tether knows, asked at once: link, version, GPUs free, jobs, last seen",
        _hosts_arguments,
        "tui.cli.fleet:hosts",
    ),
    Verb(
        "mirror",
        "what this machine keeps of remote hosts' jobs, logs and metrics, to show them "
        "when a host cannot be reached",
        _mirror_arguments,
        "tui.cli.mirror:mirror",
    ),
)
