"""`NewJobScreen`: the form that starts a job (or reruns one with its settings).

Enter in any field (or Ctrl+S) submits; Esc closes without running anything. A
field that is wrong, or a refusal from the runner (a directory that does not
exist there), keeps the form open with one sentence saying what to fix, and the
cursor in that field. The screen closes with the job the runner started.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Optional

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from protocol.errors import ErrorCode
from protocol.jobs import JobInfo, JobSpec
from tui.app.job_form import FormError, JobForm, spec_from_form
from tui.errors import TetherError

FIELDS = ("command", "name", "cwd", "env", "gpus", "after", "priority")


class NewJobScreen(ModalScreen[Optional[JobInfo]]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Close"),
        Binding("ctrl+s", "submit", "Run"),
        # Priority: focus moves before the keys typed after Tab are handed to a
        # field. Otherwise a fast typist's (or a paste's) next keys reach the field
        # that had focus, and the form runs another command than the one typed.
        Binding("tab", "app.focus_next", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", show=False, priority=True),
    ]

    def __init__(
        self,
        host_label: str,
        *,
        default_cwd: Optional[str],
        cwd_hint: str,
        submit: Callable[[JobSpec], Awaitable[JobInfo]],
        rerun_of: Optional[JobInfo] = None,
    ) -> None:
        super().__init__()
        self._submit = submit
        self._sending = False
        self._host = host_label
        self._default_cwd = default_cwd
        self._cwd_hint = cwd_hint
        self._rerun_of = rerun_of
        self._form = JobForm.from_job(rerun_of) if rerun_of is not None else JobForm()

    def compose(self) -> ComposeResult:
        title = f"Rerun job {self._rerun_of.id}" if self._rerun_of else "New job"
        form = self._form
        with VerticalScroll(classes="dialog") as dialog:
            dialog.border_title = f"{title} on {self._host}"
            with Grid(classes="form"):
                yield Label("Command")
                yield _field(form.command, "python train.py --epochs 3  (bash -lc)", "command")
                yield Label("Name")
                yield _field(form.name, "shown instead of the command", "name")
                yield Label("Directory")
                yield _field(form.cwd, self._cwd_hint, "cwd")
                yield Label("Environment")
                yield _field(form.env, "KEY=VALUE OTHER='with spaces'", "env")
                yield Label("GPUs")
                yield _field(form.gpus, "a count or all; empty: no GPU queue", "gpus")
                yield Label("After")
                yield _field(form.after, "jobs 3,4 succeeded first (any 3,4: ended)", "after")
                yield Label("Priority")
                yield _field(form.priority, "a whole number; higher starts first (0)", "priority")
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Run (Enter)", id="run", variant="primary", compact=True)
                yield Button("Close (Esc)", id="close", compact=True)

    def on_mount(self) -> None:
        self.query_one("#command", Input).focus()

    def form(self) -> JobForm:
        values = {name: self.query_one(f"#{name}", Input).value for name in FIELDS}
        return JobForm(**values)

    def action_submit(self) -> None:
        if self._sending:
            return
        try:
            spec = spec_from_form(
                self.form(), default_cwd=self._default_cwd, rerun_of=self._rerun_of
            )
        except FormError as exc:
            self._show_error(str(exc), exc.field)
            return
        self._sending = True
        self._show_error("starting…", None)
        self.run_worker(self._send(spec), exclusive=True)

    async def _send(self, spec: JobSpec) -> None:
        try:
            job = await self._submit(spec)
        except TetherError as exc:
            self._sending = False
            field = "cwd" if getattr(exc, "code", None) == ErrorCode.BAD_CWD else None
            self._show_error(str(exc), field)
            return
        self.dismiss(job)

    def _show_error(self, message: str, field: Optional[str]) -> None:
        self.query_one("#form-error", Static).update(message)
        if field in FIELDS:
            self.query_one(f"#{field}", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "run":
            self.action_submit()
        else:
            self.action_cancel()


def _field(value: str, placeholder: str, name: str) -> Input:
    return Input(value, placeholder=placeholder, id=name, compact=True)
