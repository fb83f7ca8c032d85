"""`HostPickerScreen`: switch to another open host, each shown with its link state."""

from __future__ import annotations

from typing import List, Optional

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.app.host_monitor import HostMonitor
from tui.app.link_text import link_badge


class HostPickerScreen(ModalScreen[Optional[str]]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, monitors: List[HostMonitor], current: str, now: float) -> None:
        super().__init__()
        self._monitors = monitors
        self._current = current
        self._now = now

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Switch host"
            yield OptionList(
                *(
                    Option(link_badge(m.label, m.link, self._now), id=str(index))
                    for index, m in enumerate(self._monitors)
                ),
                id="hosts",
            )
            yield Static("Enter: switch   Esc: close   a (in the app): add a host", classes="hint")

    def on_mount(self) -> None:
        hosts = self.query_one(OptionList)
        current = next((i for i, m in enumerate(self._monitors) if m.host == self._current), 0)
        hosts.highlighted = current
        hosts.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int(event.option.id or 0)
        self.dismiss(self._monitors[index].host)

    def action_close(self) -> None:
        self.dismiss(None)
