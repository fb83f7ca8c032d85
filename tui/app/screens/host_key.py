"""`HostKeyScreen`: first contact with a host whose key nobody vouched for yet.

Shows the fingerprint the server offered, as ``ssh`` does, so the person can
compare it with what the host's admin says. Accepting writes the key to
``~/.ssh/known_hosts``; refusing leaves the host offline with the reason.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from tui.app.host_monitor import HostKeyQuestion
from tui.app.literal import literal


class HostKeyScreen(ModalScreen[bool]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("a", "answer(True)", "Accept"),
        Binding("r,escape", "answer(False)", "Refuse"),
    ]

    def __init__(self, question: HostKeyQuestion) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        q = self.question
        with Vertical(classes="dialog") as dialog:
            host = literal(q.host)
            dialog.border_title = f"Unknown host key: {host}"
            yield Static(
                f"The authenticity of {host} cannot be established: its key is not in "
                "~/.ssh/known_hosts. Compare the fingerprint with the one the host's "
                "administrator gave you before accepting.",
                classes="question",
            )
            yield Static(f"Its {literal(q.algorithm)} key fingerprint is:")
            yield Static(q.fingerprint, classes="fingerprint")
            with Horizontal(classes="buttons"):
                yield Button(
                    "Accept and remember (a)", id="accept", variant="warning", compact=True
                )
                yield Button("Refuse (r)", id="refuse", compact=True)

    def on_mount(self) -> None:
        self.query_one("#refuse", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "accept")

    def action_answer(self, accept: bool) -> None:
        self.dismiss(accept)
