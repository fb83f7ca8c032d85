"""`HostPickerScreen` (``h``): every open host at a glance, one row each (link,
GPUs, jobs, alerts: `tui.app.fleet_row`), kept current while open; Enter goes to
one, ``d`` closes and forgets one. It scrolls, so twenty hosts fit at 80x24."""

from __future__ import annotations

from typing import Callable, List, Optional

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from tui.app.fleet_row import fleet_row
from tui.app.host_monitor import HostMonitor


class HostPickerScreen(ModalScreen[Optional[str]]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("d,delete", "forget", "Forget host"),
    ]

    def __init__(
        self,
        monitors: List[HostMonitor],
        current: str,
        clock: Callable[[], float],
        forget: Optional[Callable[[str], None]] = None,
    ) -> None:
        """`forget` is called with a host the person asks to close and forget."""
        super().__init__()
        self._monitors = monitors
        self._current = current
        self._clock = clock
        self._forget = forget

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "Hosts"
            yield OptionList(
                *(
                    Option(fleet_row(m, self._clock()), id=str(index))
                    for index, m in enumerate(self._monitors)
                ),
                id="hosts",
            )
            yield Static(
                "Enter: switch   d: forget   Esc: close   a (in the app): add a host",
                classes="hint",
            )

    def on_mount(self) -> None:
        hosts = self.query_one(OptionList)
        current = next((i for i, m in enumerate(self._monitors) if m.host == self._current), 0)
        hosts.highlighted = current
        hosts.focus()
        self.call_after_refresh(self._refresh)  # cut to the list's real width at once
        self.set_interval(1.0, self._refresh)

    def _refresh(self) -> None:
        """The rows again: links, GPUs and jobs move while the screen is open."""
        hosts, now = self.query_one(OptionList), self._clock()
        width = max(20, hosts.scrollable_content_region.width)
        for index, monitor in enumerate(self._monitors):
            hosts.replace_option_prompt_at_index(index, fleet_row(monitor, now, width))

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        index = int(event.option.id or 0)
        self.dismiss(self._monitors[index].host)

    def action_forget(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is None or self._forget is None:
            return
        if len(self._monitors) == 1:
            hint = self.query_one(".hint", Static)
            hint.update("the only open host cannot be closed: add another first (a)")
            return
        host = self._monitors[index].host
        self.dismiss(None)
        self._forget(host)

    def action_close(self) -> None:
        self.dismiss(None)
