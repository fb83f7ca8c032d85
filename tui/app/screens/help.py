"""`HelpScreen`: every key of the app, by where it works.

The rows are read from the widgets' own ``BINDINGS`` (plus the movement keys
they inherit), so the help cannot drift from what the keys really do.
"""

from __future__ import annotations

from typing import Iterable, List, Sequence, Tuple

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

Section = Tuple[str, Sequence[Tuple[str, str]]]

_KEY_NAMES = {
    "question_mark": "?",
    "slash": "/",
    "less_than_sign": "<",
    "greater_than_sign": ">",
    "escape": "Esc",
    "enter": "Enter",
    "pageup": "PgUp",
    "pagedown": "PgDn",
    "home": "Home",
    "end": "End",
    "up": "↑",
    "down": "↓",
    "tab": "Tab",
    "space": "Space",
}


def key_label(keys: str) -> str:
    """``question_mark`` → ``?``, ``ctrl+s`` → ``Ctrl+S``, ``n,escape`` → ``n / Esc``."""
    labels = []
    for raw in keys.split(","):
        key = raw.strip()
        if key.startswith("ctrl+"):
            labels.append("Ctrl+" + _KEY_NAMES.get(key[5:], key[5:].upper()))
        else:
            labels.append(_KEY_NAMES.get(key, key))
    return " / ".join(labels)


def binding_rows(bindings: Iterable[BindingType]) -> List[Tuple[str, str]]:
    """(keys, what they do) for every binding that has a description (its tooltip
    when it has one: the footer's word is short, the help can say more)."""
    rows = []
    for binding in bindings:
        if isinstance(binding, Binding) and binding.description:
            rows.append((key_label(binding.key), binding.tooltip or binding.description))
    return rows


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, sections: Sequence[Section]) -> None:
        super().__init__()
        self._sections = sections

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog", id="help") as dialog:
            dialog.border_title = "tether keys (Esc closes)"
            for title, rows in self._sections:
                table = Table.grid(padding=(0, 2))
                table.add_column(style="bold cyan", min_width=12)
                table.add_column()
                for keys, what in rows:
                    table.add_row(keys, what)
                yield Static(Text(title, style="bold underline"))
                yield Static(table)

    def action_close(self) -> None:
        self.dismiss(None)
