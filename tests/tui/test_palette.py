"""The command palette is derived from the key bindings, so it cannot miss one."""

from __future__ import annotations

from textual.binding import Binding

from tui.app.app import TetherApp
from tui.app.commands import Command, palette_commands
from tui.app.host_view import HostView


def test_every_described_key_of_the_app_and_a_host_is_a_palette_command() -> None:
    for owner in (TetherApp, HostView):
        keyed = [b for b in owner.BINDINGS if isinstance(b, Binding) and b.description]
        assert all(isinstance(b, Command) and b.title for b in keyed), owner
        commands = list(palette_commands(owner.BINDINGS, owner))
        assert [c.title for c in commands] == [b.title for b in keyed if isinstance(b, Command)]
        assert all(c.help.endswith(")") for c in commands)
    titles = [c.title for c in palette_commands(TetherApp.BINDINGS, TetherApp)]
    assert titles[:2] == ["New job", "Cancel job"]
