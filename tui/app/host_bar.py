"""`HostBar`: every open host and the state of its link, always on screen.

One tab per host (``● local  ◐ gpu1 #3 4 s  ✕ gpu2 offline``); the current host
is highlighted. Clicking a tab asks to switch to it (`HostBar.Picked`).
"""

from __future__ import annotations

from typing import Callable, Dict, List, Optional

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Click
from textual.message import Message
from textual.widgets import Static

from tui.app.host_monitor import HostMonitor
from tui.app.link_text import link_badge


class HostTab(Static):
    def __init__(self, monitor: HostMonitor) -> None:
        super().__init__(classes="host-tab")
        self.monitor = monitor
        self.badge: Optional[Text] = None

    def on_click(self, event: Click) -> None:
        event.stop()
        self.post_message(HostBar.Picked(self.monitor.host))


class HostBar(Horizontal):
    class Picked(Message):
        def __init__(self, host: str) -> None:
            super().__init__()
            self.host = host

    def __init__(self, clock: Callable[[], float], *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self._clock = clock
        self._tabs: Dict[str, HostTab] = {}
        self.current: Optional[str] = None

    def compose(self) -> ComposeResult:
        yield Static("tether", id="app-name")

    def set_hosts(self, monitors: List[HostMonitor]) -> None:
        """Show a tab for each monitor (adding and removing tabs as needed)."""
        wanted = {m.host: m for m in monitors}
        for host in list(self._tabs):
            if host not in wanted:
                self._tabs.pop(host).remove()
        for monitor in monitors:
            if monitor.host not in self._tabs:
                tab = HostTab(monitor)
                self._tabs[monitor.host] = tab
                self.mount(tab)
        self.refresh_tabs()

    def refresh_tabs(self) -> None:
        now = self._clock()
        for host, tab in self._tabs.items():
            badge = link_badge(tab.monitor.label, tab.monitor.link, now)
            if badge != tab.badge:  # asked every second: redrawn only when it changed
                resized = tab.badge is None or badge.cell_len != tab.badge.cell_len
                tab.badge = badge
                tab.update(badge, layout=resized)
            tab.set_class(host == self.current, "-current")
