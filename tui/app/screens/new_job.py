"""`NewJobScreen`: the form that starts a job (or reruns one with its settings).

Enter in any field (or Ctrl+S) submits; Esc closes without running anything. A
field that is wrong keeps the form open with one sentence saying what to fix,
and the cursor in that field.
"""

from __future__ import annotations

from typing import Optional

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from protocol.jobs import JobInfo, JobSpec
from tui.app.job_form import FormError, JobForm, spec_from_form

FIELDS = ("command", "name", "cwd", "env", "gpus")


class NewJobScreen(ModalScreen[Optional[JobSpec]]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("escape", "cancel", "Close"),
        Binding("ctrl+s", "submit", "Run"),
    ]

    def __init__(
        self,
        host_label: str,
        *,
        default_cwd: Optional[str],
        cwd_hint: str,
        rerun_of: Optional[JobInfo] = None,
    ) -> None:
        super().__init__()
        self._host = host_label
        self._default_cwd = default_cwd
        self._cwd_hint = cwd_hint
        self._rerun_of = rerun_of
        self._form = JobForm.from_job(rerun_of) if rerun_of is not None else JobForm()

    def compose(self) -> ComposeResult:
        title = f"Rerun job {self._rerun_of.id}" if self._rerun_of else "New job"
        with VerticalScroll(classes="dialog") as dialog:
            dialog.border_title = f"{title} on {self._host}"
            yield Label("Command (runs as bash -lc on the host)")
            yield Input(self._form.command, placeholder="python train.py --epochs 3", id="command")
            yield Label("Name")
            yield Input(self._form.name, placeholder="shown instead of the command", id="name")
            yield Label("Working directory")
            yield Input(self._form.cwd, placeholder=self._cwd_hint, id="cwd")
            yield Label("Environment")
            yield Input(self._form.env, placeholder="KEY=VALUE OTHER='with spaces'", id="env")
            yield Label("GPUs")
            yield Input(self._form.gpus, placeholder="a count or all; empty: no GPU queue", id="gpus")
            yield Static("", id="form-error", classes="error")
            with Horizontal(classes="buttons"):
                yield Button("Run (Enter)", id="run", variant="primary")
                yield Button("Close (Esc)", id="close")

    def on_mount(self) -> None:
        self.query_one("#command", Input).focus()

    def form(self) -> JobForm:
        values = {name: self.query_one(f"#{name}", Input).value for name in FIELDS}
        return JobForm(**values)

    def action_submit(self) -> None:
        try:
            spec = spec_from_form(
                self.form(), default_cwd=self._default_cwd, rerun_of=self._rerun_of
            )
        except FormError as exc:
            self.query_one("#form-error", Static).update(str(exc))
            if exc.field in FIELDS:
                self.query_one(f"#{exc.field}", Input).focus()
            return
        self.dismiss(spec)

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
