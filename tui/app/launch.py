"""`run_app`: what ``tether`` with no verb runs. Imported only then, so the CLI
verbs never pay for importing Textual."""

from __future__ import annotations

import sys
from typing import List, Sequence

from tui.app.host_list import HostListError, load_hosts


def hosts_to_open(hosts: Sequence[str], with_remembered: bool) -> tuple[List[str], List[str]]:
    """The hosts to open (given ones first, then remembered ones) and any warning."""
    chosen = list(hosts) or [""]
    notes: List[str] = []
    if with_remembered:
        try:
            chosen += [h for h in load_hosts() if h not in chosen]
        except HostListError as exc:
            notes.append(f"remembered hosts not opened: {exc}")
    return chosen, notes


def run_app(hosts: List[str], *, with_remembered: bool = False, readonly: bool = False) -> int:
    """Open the app on `hosts` ("" is this machine); returns the exit code."""
    from tui.app.app import TetherApp

    chosen, notes = hosts_to_open(hosts, with_remembered)
    app = TetherApp(chosen, readonly=readonly)
    app.startup_notes = notes
    app.run()
    if app.return_code:
        print(f"tether: the app stopped with an error (exit {app.return_code})", file=sys.stderr)
    return app.return_code or 0
