"""The verbs about the whole fleet rather than one host, declared as `Verb`s (see
`tui.cli.session_verbs`); ``-H a,b,c`` and ``-H @all`` on ``ls`` and ``status``
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


VERBS: Tuple[Verb, ...] = (
    Verb(
        "hosts",
        "every host tether knows, asked at once: link, version, GPUs free, jobs, last seen",
        _hosts_arguments,
        "tui.cli.fleet:hosts",
    ),
)
