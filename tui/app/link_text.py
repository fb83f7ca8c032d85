"""How a host's link state reads on screen, short (host bar) and long (host line).

Times come from the caller's clock, so a screen (and a snapshot test) can freeze
them; nothing here reads the time itself.
"""

from __future__ import annotations

from typing import Optional

from rich.text import Text

from protocol.units import duration
from tui.session import SessionState
from tui.visible import visible

LINK_STYLES = {
    "connected": "green",
    "connecting": "yellow",
    "reconnecting": "yellow",
    "offline": "bold red",
    "closed": "dim",
}
LINK_GLYPHS = {
    "connected": "●",
    "connecting": "◌",
    "reconnecting": "◐",
    "offline": "✕",
    "closed": "·",
}


def link_badge(label: str, state: SessionState, now: float) -> Text:
    """``● gpu1`` / ``◐ gpu1 3·4s``: the host bar's view of one host."""
    style = LINK_STYLES.get(state.kind, "")
    text = Text(f"{LINK_GLYPHS.get(state.kind, '?')} ", style=style)
    text.append(visible(label))
    if state.kind == "reconnecting":
        text.append(f" #{state.attempt} {_wait(state, now)}", style=style)
    elif state.kind == "offline":
        text.append(" offline", style=style)
    return text


def link_line(state: SessionState, now: float, stale_for: Optional[float]) -> Text:
    """The link in full: what is happening, how old the data on show is, and why
    (the reason last: it is the longest part and the one a narrow screen cuts)."""
    style = LINK_STYLES.get(state.kind, "")
    if state.kind == "reconnecting":
        text = Text(
            f"reconnecting (attempt {state.attempt}, next try in {_wait(state, now)})", style=style
        )
    elif state.kind == "offline":
        text = Text("offline", style=style)
    elif state.kind == "connecting":
        text = Text("connecting…", style=style)
    else:
        text = Text(state.kind, style=style)
    if stale_for is not None:
        text.append(f" [stale {duration(stale_for)}]", style="bold yellow")
    if state.reason and state.kind in ("reconnecting", "offline", "connecting"):
        text.append(f": {visible(state.reason)}", style="red" if state.kind == "offline" else "dim")
    return text


def _wait(state: SessionState, now: float) -> str:
    if state.next_try_at is None:
        return "now"
    return duration(round(state.next_try_at - now))
