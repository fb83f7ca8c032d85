"""`Verb`: one declaration per ``tether VERB``, from which both the argument
parser and the dispatch are derived (`tui.cli.main`), so a verb cannot be
parsed without being run or run without being parsed.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Awaitable, Callable

#: Adds a verb's own arguments to its subparser.
Arguments = Callable[[argparse.ArgumentParser], None]
#: Carries out the verb on the host the person chose; the exit status.
Run = Callable[[argparse.Namespace, str], Awaitable[int]]


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    arguments: Arguments
    run: Run


def add_host(parser: argparse.ArgumentParser) -> None:
    """``-H HOST``, as every verb takes it."""
    parser.add_argument(
        "-H",
        "--host",
        dest="host",
        metavar="HOST",
        help="what `ssh HOST` accepts (alias, user@host, host:port); default $TETHER_HOST, "
        "else this machine",
    )
