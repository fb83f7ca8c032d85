"""Host text inside Textual markup (titles, labels), shown exactly as written."""

from __future__ import annotations

from tui.visible import visible


def literal(text: str) -> str:
    """`text` with its control characters made visible and every ``[`` escaped,
    for a string Textual reads as markup. Textual's own `escape` leaves a ``[``
    it does not take for a tag, yet its parser still reads some of those
    (``[print(i, flush=True)`` came out as ``[print(i, flush=True]``)."""
    return visible(text).replace("[", "\\[")
