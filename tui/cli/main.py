"""`tether`: with a verb, a scriptable command; without one, the full-screen app.

Every verb is one `Verb` declaration (`tui.cli.session_verbs` for those that
talk to a runner, `tui.cli.install_verbs` for those that manage it); the parser
and the dispatch below are both derived from `VERBS`.

Parsing needs only the declarations (`tui.cli.verb` says why they are light); a
verb's own modules are imported in `_run_verb`, once the command line names it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional

from protocol.version import __version__
from tui.cli import fleet_verbs, install_verbs, session_verbs
from tui.cli.verb import Verb
from tui.errors import TetherError, UsageError

VERBS: Dict[str, Verb] = {
    v.name: v for v in (*session_verbs.VERBS, *fleet_verbs.VERBS, *install_verbs.VERBS)
}


def build_parser() -> tuple[argparse.ArgumentParser, Dict[str, argparse.ArgumentParser]]:
    """The parser, and each verb's own (to say a verb's usage with its errors)."""
    parser = argparse.ArgumentParser(
        prog="tether",
        description="Run training on GPU hosts over SSH and watch it. No verb: open the app.",
        epilog="Exit status: 0 done; 1 failed (said on stderr); 2 a usage error; 3 the host "
        "could not be reached and ls, logs or metrics answered from the local mirror (stale); "
        "logs -f, wait: the job's own.",
    )
    parser.add_argument("--version", action="version", version=f"tether {__version__}")
    parser.add_argument(
        "-H",
        "--host",
        dest="hosts",
        action="append",
        metavar="HOST",
        help="host(s) to open in the app (repeatable)",
    )
    parser.add_argument(
        "--readonly",
        action="store_true",
        help="open the app for watching only: no new, cancel or rerun (a shared box)",
    )
    subparsers = parser.add_subparsers(dest="verb", metavar="VERB")
    verb_parsers = {}
    for verb in VERBS.values():
        verb_parsers[verb.name] = subparsers.add_parser(verb.name, help=verb.help)
        verb.arguments(verb_parsers[verb.name])
    return parser, verb_parsers


def _run_verb(args: argparse.Namespace) -> int:
    """Carry out the verb `args` name, its text made safe on the way out; the exit status."""
    import asyncio

    from tui.cli.job_ref import host_from_refs
    from tui.cli.output import visible_output
    from tui.hosts import resolve_host

    with visible_output():  # a host's text never drives the terminal (tui.cli.output)
        try:
            top_hosts = args.hosts or []
            if len(top_hosts) > 1:
                raise TetherError("a verb acts on one host: give one -H (or -H a,b,c for ls)")
            chosen = getattr(args, "host", None)  # `tether hosts` takes none
            chosen = host_from_refs(args, chosen or (top_hosts[0] if top_hosts else None))
            host = resolve_host(chosen)
            if "," in host or host == "@all":  # several hosts at once (tui.cli.fleet)
                from tui.cli.fleet import run_on_many

                return asyncio.run(run_on_many(args, host))
            return asyncio.run(VERBS[args.verb].load()(args, host))
        except UsageError as exc:
            print(f"tether {args.verb}: {exc}", file=sys.stderr)
            return 2
        except TetherError as exc:
            print(f"tether: {exc}", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            return 130
        except BrokenPipeError:
            return 0


def main(argv: Optional[List[str]] = None) -> int:
    parser, verb_parsers = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # said with the verb's usage (`tether ls --bogus`), not the top level's
        which = verb_parsers.get(args.verb, parser) if args.verb else parser
        which.error(f"unrecognized arguments: {' '.join(unknown)}")
    if args.verb is None:
        from tui.app.launch import run_app
        from tui.hosts import resolve_host

        # No -H: this machine (or $TETHER_HOST) plus the hosts added in the app before.
        hosts = args.hosts or [resolve_host(None)]
        return run_app(hosts, with_remembered=not args.hosts, readonly=args.readonly)
    return _run_verb(args)
