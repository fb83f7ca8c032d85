"""Turning one stored log line (raw bytes) into what the screen shows, and searching it.

Job output is whatever a program wrote: ANSI colours (kept), cursor movement and
terminal titles (dropped, they would fight the app for the screen), control bytes
(shown as a replacement mark, never sent to the terminal) and bytes that are not
UTF-8 (shown as U+FFFD, never an exception).
"""

from __future__ import annotations

import itertools
import re
from typing import Callable, Iterable, Optional, Sequence, Tuple

from rich.cells import chop_cells
from rich.style import Style
from rich.text import Text

from tui.app.log_window import shown_text

#: OSC sequences (titles, hyperlinks), ended by BEL or ST: rich does not parse the BEL form.
_OSC = re.compile(r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?")
#: Every escape sequence, for the plain text search looks at.
_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
#: Control characters other than ESC (needed by the ANSI decoder) and tab.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1a\x1c-\x1f\x7f\x80-\x9f]")
TAB_SIZE = 8


def decode(line: bytes) -> str:
    return shown_text(line).decode("utf-8", errors="replace")


def styled_line(line: bytes) -> Text:
    """The line with its colours, ready to crop into a strip."""
    text = decode(line)
    if "\x1b" in text:
        text = _OSC.sub("", text)
    text = _CONTROL.sub("\ufffd", text)
    if "\t" in text:
        text = text.expandtabs(TAB_SIZE)
    if "\x1b" not in text:
        return Text(text, no_wrap=True, end="")
    styled = Text.from_ansi(text, no_wrap=True, end="")
    # Whatever the decoder left unparsed must not reach the terminal.
    if "\x1b" in styled.plain:
        styled = Text(styled.plain.replace("\x1b", "\ufffd"), no_wrap=True, end="")
    return styled


def plain_line(line: bytes) -> str:
    """The characters a person sees, without any escape sequence (what search reads)."""
    text = decode(line)
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    return text.expandtabs(TAB_SIZE) if "\t" in text else text


def wrap_offsets(plain: str, width: int) -> list[int]:
    """Where in `plain` each row after the first begins, wrapped at `width` cells.

    Cut anywhere, not at spaces (as ``less`` and terminals do: log lines are data,
    and no character is lost); a wide character that would straddle the edge
    starts the next row.
    """
    rows = chop_cells(plain, max(1, width))
    return list(itertools.accumulate(len(row) for row in rows[:-1]))


def wrapped_rows(line: bytes, width: int) -> int:
    """The rows a stored line takes wrapped at `width` (styling it to know)."""
    return len(wrap_offsets(styled_line(line).plain, width)) + 1


def row_counts(
    lines: Iterable[bytes], width: int, tall: Callable[[bytes, int], int] = wrapped_rows
) -> list[int]:
    """The rows each line takes wrapped at `width`, without styling most of them.

    A line of no more bytes than `width`, and no tab, fits one row: no character
    shows wider than its UTF-8 bytes (wide ones are 3 or 4 bytes for 2 cells, escape
    sequences show nothing). Only the others are measured, by `tall` (the caller
    may put a cache in front of `wrapped_rows`); this keeps a wrapped log followed
    at 10,000 lines a second cheap.
    """
    return [1 if len(line) <= width and b"\t" not in line else tall(line, width) for line in lines]


class Query:
    """A search as typed: case-insensitive unless it has a capital letter (smartcase)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.ignore_case = text == text.lower()
        self._needle = text.lower() if self.ignore_case else text

    def find_all(self, haystack: str) -> list[int]:
        """Start columns of every match in `haystack`."""
        if not self.text:
            return []
        target = haystack.lower() if self.ignore_case else haystack
        found = []
        index = target.find(self._needle)
        while index >= 0:
            found.append(index)
            index = target.find(self._needle, index + max(1, len(self._needle)))
        return found

    def matches(self, line: bytes) -> bool:
        return bool(self.text) and self._needle in (
            plain_line(line).lower() if self.ignore_case else plain_line(line)
        )

    def highlight(self, text: Text, style: Style) -> None:
        """Mark every match in `text` (a rendered line) with `style`."""
        for column in self.find_all(text.plain):
            text.stylize(style, column, column + len(self.text))


def find_line(lines: Sequence[bytes], query: Query, forward: bool, start: int) -> Optional[int]:
    """The index of the first line matching `query` from `start` on (or back)."""
    if not lines:
        return None
    if forward:
        indexes: Iterable[int] = range(max(0, start), len(lines))
    else:
        indexes = range(min(start, len(lines) - 1), -1, -1)
    return next((i for i in indexes if query.matches(lines[i])), None)


def match_rank(lines: Sequence[bytes], query: Query, index: int) -> Tuple[int, int]:
    """(which match line `index` is, counting from 1; how many lines match)."""
    rank = total = 0
    for i, line in enumerate(lines):
        if query.matches(line):
            total += 1
            if i <= index:
                rank = total
    return rank, total
