"""`ColumnsScreen`: which columns the jobs table shows (``C``), ticked in a list.

ID, NAME and STATE are always shown; the others are the person's to choose.
Enter (or Esc) applies what is ticked; the table keeps it while the app runs.
"""

from __future__ import annotations

from typing import Optional, Sequence, Tuple

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static

from tui.app.job_columns import COLUMNS, FIXED_KEYS, in_table_order

#: What each column the person may choose says.
_HELP = {
    "age": "how long ago the job was submitted",
    "runtime": "how long it ran, or has run so far",
    "gpus": "the GPUs it was given (or asked for)",
    "cpu": "its processes' CPU, in % of one core (running jobs)",
    "mem": "its processes' resident memory (running jobs)",
    "gmem": "the GPU memory its processes hold (running jobs)",
    "exit": "its exit code, or the signal that ended it",
}


class ColumnChoice(SelectionList[str], inherit_bindings=False):
    """The list without Enter (which would tick, like space), so Enter reaches the
    screen after the keys typed before it; and space ticks at once (the list's own
    select ticks through a message, which an Enter typed in the same burst
    overtakes: the screen then applied the choice before the ticks)."""

    BINDINGS = [
        Binding("space", "tick", "Tick", show=False),
        Binding("up", "cursor_up", show=False),
        Binding("down", "cursor_down", show=False),
        Binding("home", "first", show=False),
        Binding("end", "last", show=False),
        Binding("pageup", "page_up", show=False),
        Binding("pagedown", "page_down", show=False),
    ]

    def action_tick(self) -> None:
        if self.highlighted is not None:
            self.toggle(self.get_option_at_index(self.highlighted).value)


class ColumnsScreen(ModalScreen[Optional[Tuple[str, ...]]]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [Binding("escape,enter", "apply", "Apply")]

    def __init__(self, shown: Sequence[str]) -> None:
        super().__init__()
        self._shown = set(shown)

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Columns of the jobs table"
            yield Static(
                "Space ticks or unticks; Enter applies. ID, NAME and STATE always show.",
                classes="hint",
            )
            yield ColumnChoice(
                *[
                    (
                        Text.assemble((c.label.ljust(8), "bold"), _HELP.get(c.key, "")),
                        c.key,
                        c.key in self._shown,
                    )
                    for c in COLUMNS
                    if c.key not in FIXED_KEYS
                ],
                id="column-choice",
            )

    def on_mount(self) -> None:
        choice = self.query_one(ColumnChoice)
        choice.highlighted = 0
        self.screen.set_focus(choice)

    def action_apply(self) -> None:
        chosen = self.query_one(ColumnChoice)
        self.dismiss(in_table_order(set(chosen.selected)))
