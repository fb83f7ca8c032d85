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


class ColumnsScreen(ModalScreen[Optional[Tuple[str, ...]]]):
    CSS_PATH = "dialog.tcss"
    # Enter is the list's too (it ticks): the screen takes it first.
    BINDINGS = [Binding("escape,enter", "apply", "Apply", priority=True)]

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
            yield SelectionList[str](
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
        choice: SelectionList[str] = self.query_one(SelectionList)
        choice.highlighted = 0
        self.screen.set_focus(choice)

    def action_apply(self) -> None:
        chosen: SelectionList[str] = self.query_one(SelectionList)
        self.dismiss(in_table_order(set(chosen.selected)))
