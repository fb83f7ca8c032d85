"""`AddHostScreen`: open another host — a Host alias from ``~/.ssh/config`` or typed.

The aliases are listed below the field and filtered as one types; Enter adds
what was typed, ↓ then Enter adds an alias from the list. The host is checked
before the dialog closes: one word, not already open.
"""

from __future__ import annotations

from typing import List, Optional, Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.hosts import is_local


def host_problem(typed: str, open_hosts: Sequence[str]) -> Optional[str]:
    """Why `typed` cannot be added, as one sentence, or None when it can."""
    host = typed.strip()
    if not host:
        return "type a host: an alias from ~/.ssh/config, user@host, or host:port"
    if any(c.isspace() for c in host):
        return f"a host is one word (what `ssh HOST` accepts), not {host!r}"
    if host.startswith("-"):
        return f"a host cannot start with '-': {host!r}"
    local = is_local(host)
    for other in open_hosts:
        if other == host or (local and is_local(other)):
            return f"{'this machine' if local else host} is already open: press h to switch to it"
    return None


class AddHostScreen(ModalScreen[Optional[str]]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("down", "focus_list", "Aliases", show=False),
    ]

    def __init__(self, aliases: List[str], open_hosts: Sequence[str]) -> None:
        super().__init__()
        self._aliases = [a for a in aliases if a not in open_hosts]
        self._open = list(open_hosts)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Add host"
            yield Label("Host (as you would type it after ssh)")
            yield Input(placeholder="gpu1, me@gpu1.example.org, gpu1:2222", id="host", compact=True)
            yield Static("", id="host-error", classes="error")
            yield Label(
                "Host aliases from ~/.ssh/config"
                if self._aliases
                else "No Host aliases in ~/.ssh/config"
            )
            yield OptionList(*(Option(a, id=a) for a in self._aliases), id="aliases")
            yield Static("Enter: add   ↓: pick from the list   Esc: close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#host", Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        typed = event.value.strip().lower()
        aliases = self.query_one("#aliases", OptionList)
        aliases.clear_options()
        aliases.add_options(Option(a, id=a) for a in self._aliases if typed in a.lower())
        self.query_one("#host-error", Static).update("")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._add(event.value)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self._add(str(event.option.id))

    def _add(self, host: str) -> None:
        problem = host_problem(host, self._open)
        if problem:
            self.query_one("#host-error", Static).update(problem)
            self.query_one("#host", Input).focus()
            return
        self.dismiss(host.strip())

    def action_focus_list(self) -> None:
        aliases = self.query_one("#aliases", OptionList)
        if aliases.option_count:
            aliases.focus()
            aliases.highlighted = 0

    def action_close(self) -> None:
        self.dismiss(None)
