"""`Command`: a key binding that is also a command in the palette (Ctrl+P).

The palette is derived from the bindings (`palette_commands`), not kept as a
second list beside them: a key gets its palette entry by being declared a
`Command`, with the name people search for (``New job``) next to the footer's
short word (``New``). The help text is the binding's tooltip, which the footer
and the help screen show too, so all three say the same thing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from textual.app import SystemCommand
from textual.binding import Binding, BindingType

from tui.app.screens.help import key_label


@dataclass(frozen=True)
class Command(Binding):
    #: The command's name in the palette, which its search matches.
    title: str = ""


def palette_commands(
    bindings: Iterable[BindingType],
    target: object,
    offered: Callable[[str], bool] = lambda action: True,
) -> Iterator[SystemCommand]:
    """One palette entry per `Command` in `bindings` whose action is `offered`,
    running ``target.action_NAME``."""
    for binding in bindings:
        if isinstance(binding, Command) and offered(binding.action):
            what = binding.tooltip or binding.description
            callback = getattr(target, f"action_{binding.action}")
            yield SystemCommand(binding.title, f"{what} ({key_label(binding.key)})", callback)
