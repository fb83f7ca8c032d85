"""`SignalPickerScreen` (``K``): which signal to send the highlighted job, as
htop's kill menu asks. The arrows move, Enter sends the highlighted one, Esc
closes and sends nothing. The list is the signals a runner sends
(`protocol.limits.JOB_SIGNALS`), each with what it usually means to a program."""

from __future__ import annotations

from typing import Dict, Optional

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from protocol.limits import JOB_SIGNALS

#: What each signal asks of a program that keeps the usual meanings.
MEANINGS: Dict[str, str] = {
    "TERM": "stop, cleaning up first (what cancel sends)",
    "INT": "stop, as Ctrl-C in its terminal would",
    "KILL": "stop at once: no clean-up, nothing saved",
    "USR1": "the program's own (often: save a checkpoint)",
    "USR2": "the program's own",
    "HUP": "hang up (often: read its settings again)",
    "QUIT": "stop and dump core",
}


class SignalPickerScreen(ModalScreen[Optional[str]]):
    """Dismissed with the picked name (``USR1``), or None when closed."""

    CSS_PATH = "dialog.tcss"
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, title: str, about: str, target: str = "the job's processes") -> None:
        """`title` heads the dialog; `about` (plain text: the job, its host) is
        shown above the list; `target` is who Enter sends it to, in the hint."""
        super().__init__()
        self._title = title
        self._about = about
        self._target = target

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self._title
            yield Static(self._about, classes="question", markup=False)
            yield OptionList(
                *(
                    Option(f"SIG{name:<5} {MEANINGS.get(name, '')}", id=name)
                    for name in JOB_SIGNALS
                ),
                id="signals",
            )
            yield Static(
                f"↑↓: choose   Enter: send to {self._target}   Esc: close",
                classes="hint",
                markup=False,
            )

    def on_mount(self) -> None:
        signals = self.query_one(OptionList)
        signals.highlighted = 0
        signals.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)
