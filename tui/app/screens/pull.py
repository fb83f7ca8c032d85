"""`PullScreen`: a job's outputs coming back to this machine, with a progress bar.

The pull runs while the dialog is up; Escape stops it. Nothing is lost by
stopping: whole files are in place, a half file waits as ``NAME.part`` and the
next pull goes on from it (`tui.sync.pull`).
"""

from __future__ import annotations

from typing import Awaitable, Callable, Optional

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, ProgressBar, Static

from protocol.units import plural, size
from tui.errors import TetherError
from tui.sync.progress import OnProgress, Progress
from tui.sync.pull import PullResult

#: Runs the pull, reporting to the callback it is given.
Puller = Callable[[OnProgress], Awaitable[PullResult]]


def result_text(result: PullResult) -> str:
    """What the pull did, in one or two lines."""
    text = (
        f"{plural(result.files_pulled, 'file')} pulled ({size(result.bytes_pulled)}), "
        f"{result.files_unchanged:,} already up to date"
    )
    if result.unsettled:
        text += f"\nstill changing, left for the next pull: {', '.join(result.unsettled[:5])}"
    return text


class PullScreen(ModalScreen[Optional[PullResult]]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [Binding("escape", "stop", "Stop"), Binding("enter", "close", show=False)]

    def __init__(self, title: str, dest_text: str, pull: Puller) -> None:
        super().__init__()
        self._title = title
        self._dest_text = dest_text
        self._pull = pull
        self._result: Optional[PullResult] = None
        self._finished = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self._title
            yield Static(f"to {self._dest_text}", classes="question", markup=False)
            yield ProgressBar(total=None, show_eta=False, id="bar")
            yield Static("connecting…", id="line", classes="hint", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Stop (esc)", id="stop", compact=True)

    def on_mount(self) -> None:
        self._run()

    @work(exclusive=True, group="pull")
    async def _run(self) -> None:
        line = self.query_one("#line", Static)
        try:
            self._result = await self._pull(self._show)
        except TetherError as exc:
            line.add_class("error")
            line.update(str(exc))
        else:
            bar = self.query_one(ProgressBar)
            bar.update(total=1, progress=1)
            line.update(result_text(self._result))
        self._finished = True
        button = self.query_one("#stop", Button)
        button.label = "Close (enter)"
        button.focus()

    def _show(self, progress: Progress) -> None:
        bar = self.query_one(ProgressBar)
        fraction = progress.fraction
        if progress.phase == "waiting" or fraction is None:
            bar.update(total=None)
        else:
            bar.update(total=1000, progress=round(fraction * 1000))
        text = progress.line()
        if progress.phase == "waiting":
            text += " (the job is running: new files follow; esc stops)"
        self.query_one("#line", Static).update(text)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if self._finished:
            self.dismiss(self._result)
        else:
            self.action_stop()

    def action_stop(self) -> None:
        if not self._finished:
            self.workers.cancel_group(self, "pull")
        self.dismiss(self._result)

    def action_close(self) -> None:
        if self._finished:
            self.dismiss(self._result)
