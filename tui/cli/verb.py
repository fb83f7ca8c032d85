"""`Verb`: one declaration per ``tether VERB``, from which both the argument
parser and the dispatch are derived (`tui.cli.main`), so a verb cannot be
parsed without being run or run without being parsed.

A declaration is light: its arguments are plain argparse calls, and its `Run`
is named, not imported (``"tui.cli.session_runs:ls"``). What a verb runs on
(pydantic's messages, asyncio, asyncssh) then loads only once the command line
has been parsed into that verb: ``tether --version``, ``--help`` and a usage
error are answered without it (issue 19; `tests/test_import_hygiene.py`).
"""

from __future__ import annotations

import argparse
import importlib
from dataclasses import dataclass
from typing import Any, Callable, Coroutine, cast

#: Adds a verb's own arguments to its subparser.
Arguments = Callable[[argparse.ArgumentParser], None]
#: Carries out the verb on the host the person chose; the exit status.
Run = Callable[[argparse.Namespace, str], Coroutine[Any, Any, int]]


@dataclass(frozen=True)
class Verb:
    name: str
    help: str
    arguments: Arguments
    #: Where the verb's `Run` lives, as ``"module:attribute"``; see `load`.
    run: str

    def load(self) -> Run:
        """The verb's `Run`, importing its module (and what that imports) now."""
        module, _, attribute = self.run.partition(":")
        return cast(Run, getattr(importlib.import_module(module), attribute))


def add_host(parser: argparse.ArgumentParser, several: str = "") -> None:
    """``-H HOST``, as every verb takes it; `several` says what ``-H a,b,c`` does
    for a verb that takes several hosts."""
    parser.add_argument(
        "-H",
        "--host",
        dest="host",
        metavar="HOST",
        help="what `ssh HOST` accepts (alias, user@host, host:port); default $TETHER_HOST, "
        f"else this machine{'; ' + several if several else ''}",
    )
