"""The part of a job's log the app holds: one contiguous byte range, split into lines.

A log can be far larger than memory, so the app never holds all of it. It holds a
*window* ``[start, end)`` of the file, indexed by line, and grows it at either
edge: backwards when the person scrolls up (`prepend`), forwards while following
(`append`). When the window is over its byte budget the caller trims lines from
the edge the person is not looking at. Every line keeps its absolute byte offset,
which keys the rendered-line cache and search positions, so lines keep their
identity while the window slides.

A line is stored as the bytes a terminal would end up showing: only what follows
its last carriage return (a tqdm bar rewritten ten thousand times is one short
line, not ten thousand) and at most `MAX_LINE_BYTES` of it. Pure data, no I/O.

When long lines are wrapped, a line takes several screen rows. Given a `RowMeasure`
the window keeps where each line's rows begin, updated only where lines change
(new output measures the new lines, not the million before them), so the view
maps a screen row to its line with one bisect. Without one, a line is a row.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence, Tuple

#: Longest line kept, in bytes; the rest of a longer line is not shown.
MAX_LINE_BYTES = 64 * 1024


def visible_part(line: bytes) -> bytes:
    """What a terminal shows of `line`: the text after its last ``\\r``, capped.

    Trailing ``\\r`` (the first half of ``\\r\\n``, or a tqdm update still in
    flight) does not blank the line: the segment before stays on show, and one
    ``\\r`` is kept so that the next bytes appended replace it, as on a terminal.
    Strip it for display with `shown_text`.
    """
    body = line.rstrip(b"\r")
    trailing = len(body) != len(line)
    cut = body.rfind(b"\r")
    if cut >= 0:
        body = body[cut + 1 :]
    body = body[:MAX_LINE_BYTES]
    return body + b"\r" if trailing else body


#: The rows each of the lines given takes on screen (one call per change, not per line).
RowMeasure = Callable[[Sequence[bytes]], list[int]]


def shown_text(line: bytes) -> bytes:
    """A stored line as it is drawn: without the pending ``\\r`` `visible_part` keeps."""
    return line.rstrip(b"\r")


@dataclass
class LogWindow:
    """Lines of one log between byte `start` and byte `end`."""

    start: int = 0
    end: int = 0
    #: Each line's visible bytes, without its newline.
    lines: list[bytes] = field(default_factory=list)
    #: Each line's absolute byte offset in the log.
    starts: list[int] = field(default_factory=list)
    #: The last line has no newline yet, so bytes appended extend it.
    tail_open: bool = False
    #: The first line began before `start` (one line longer than a loaded chunk).
    head_partial: bool = False
    #: Bytes of line text held, the measure the caller's budget is in.
    held_bytes: int = 0
    #: How tall lines are on screen; None: every line is one row (`measure_rows`).
    measure: Optional[RowMeasure] = None
    #: With `measure`: the row each line begins at, in rows that never renumber
    #: (dropping lines does not move the others; earlier lines go below zero).
    row_starts: list[int] = field(default_factory=list)
    #: With `measure`: the row just after the last line.
    row_end: int = 0

    @property
    def line_count(self) -> int:
        return len(self.lines)

    # -- rows on screen -------------------------------------------------------------------

    def measure_rows(self, measure: Optional[RowMeasure]) -> None:
        """Count rows with `measure` from now on (None: a line is a row), measuring
        every line held once (a wrap toggled or a new width)."""
        self.measure = measure
        self.row_starts = []
        self.row_end = 0
        if measure is not None:
            self._measure_from(0)

    @property
    def row_origin(self) -> int:
        """The row the first line begins at: it moves by the rows added or dropped
        above, which is how the view keeps its place when the window slides."""
        if self.measure is None:
            return 0
        return self.row_starts[0] if self.row_starts else self.row_end

    @property
    def row_count(self) -> int:
        return self.row_end - self.row_origin if self.measure is not None else len(self.lines)

    def row_of(self, index: int) -> int:
        """The first row of line `index` (`line_count`: the row after the last)."""
        if self.measure is None:
            return index
        if index >= len(self.row_starts):
            return self.row_end - self.row_origin
        return self.row_starts[max(0, index)] - self.row_origin

    def line_at_row(self, row: int) -> Tuple[int, int]:
        """(the line shown on `row`, which of its rows that is); past the last
        row, the last line."""
        if self.measure is None:
            return row, 0
        absolute = self.row_origin + max(0, row)
        index = max(0, bisect.bisect_right(self.row_starts, absolute) - 1)
        begins = self.row_starts[index] if self.row_starts else self.row_end
        return index, absolute - begins

    def _measure_from(self, index: int) -> None:
        """Lines from `index` on are new or changed: count their rows."""
        if self.measure is None:
            return
        begins = self.row_starts[index] if index < len(self.row_starts) else self.row_end
        rows = list(itertools.accumulate(self.measure(self.lines[index:]), initial=begins))
        self.row_end = rows.pop()
        self.row_starts[index:] = rows

    def _measure_until(self, count: int, replaced: int) -> None:
        """The first `count` lines are new or changed and stand where the first
        `replaced` measured lines stood: count their rows, ending where those did."""
        if self.measure is None:
            return
        ends = self.row_starts[replaced] if replaced < len(self.row_starts) else self.row_end
        heights = self.measure(self.lines[:count])
        rows = list(itertools.accumulate(heights, initial=ends - sum(heights)))
        rows.pop()
        self.row_starts[:replaced] = rows

    def reset(self, offset: int) -> None:
        """Empty the window and place it at `offset`, which should start a line."""
        self.start = self.end = offset
        self.lines = []
        self.starts = []
        self.tail_open = False
        self.head_partial = False
        self.held_bytes = 0
        self.row_starts = []
        self.row_end = 0

    def append(self, data: bytes, offset: int) -> int:
        """Add bytes read at `offset`, which must be `end`; returns the number of
        new lines (a last line that only grew adds none)."""
        changed = len(self.lines) - 1 if self.tail_open and self.lines else len(self.lines)
        added = self._append(data, offset)
        self._measure_from(changed)
        return added

    def _append(self, data: bytes, offset: int) -> int:
        if offset != self.end:
            raise ValueError(f"append at byte {offset}, but the window ends at {self.end}")
        if not data:
            return 0
        before = len(self.lines)
        pieces = data.split(b"\n")
        position = offset
        last_index = len(pieces) - 1
        for index, piece in enumerate(pieces):
            if index == 0 and self.tail_open:
                self._set_line(-1, visible_part(self.lines[-1] + piece))
            elif not (index == last_index and not piece):
                self._insert(len(self.lines), piece, position)
            position += len(piece) + 1
        self.tail_open = bool(pieces[-1])
        self.end = offset + len(data)
        return len(self.lines) - before

    def prepend(self, data: bytes, offset: int) -> int:
        """Add the bytes just before `start`, read at `offset`; returns the new lines.

        Unless `offset` is 0 the first piece of `data` may be the end of a line
        that began earlier: it is dropped here and read again with the chunk
        before, so every line held is whole, except a line longer than a chunk.
        """
        held = len(self.lines)
        added = self._prepend(data, offset)
        # The first line held before may have grown at its front: measured again.
        self._measure_until(added + min(held, 1), min(held, 1))
        return added

    def _prepend(self, data: bytes, offset: int) -> int:
        if offset + len(data) != self.start:
            raise ValueError(
                f"prepend of {len(data)} bytes at {offset} does not end at {self.start}"
            )
        if not data:
            return 0
        pieces = data.split(b"\n")
        continues_head = pieces.pop()
        added = 0
        if continues_head and self.lines:
            self._set_line(0, visible_part(continues_head + self.lines[0]))
            self.starts[0] = self.start - len(continues_head)
        elif continues_head:
            self._insert(0, continues_head, self.start - len(continues_head))
            self.tail_open = True
            added += 1
        if not pieces:
            self.start = offset
            self.head_partial = offset > 0
            return added
        keep_partial = offset > 0 and len(pieces) == 1
        if offset > 0 and not keep_partial:
            dropped = pieces.pop(0)
            offset += len(dropped) + 1
        shown = [visible_part(piece) for piece in pieces]
        positions = []
        position = offset
        for piece in pieces:
            positions.append(position)
            position += len(piece) + 1
        self.lines[:0] = shown
        self.starts[:0] = positions
        self.held_bytes += sum(len(line) for line in shown)
        self.start = offset
        self.head_partial = keep_partial
        return added + len(pieces)

    def drop_head(self, count: int) -> None:
        """Forget the first `count` lines; the window then starts at the next one."""
        count = min(count, len(self.lines))
        if count <= 0:
            return
        self.held_bytes -= sum(len(line) for line in self.lines[:count])
        del self.lines[:count]
        del self.starts[:count]
        del self.row_starts[:count]
        self.head_partial = False
        self.start = self.starts[0] if self.starts else self.end
        if not self.lines:
            self.tail_open = False

    def drop_tail(self, count: int) -> None:
        """Forget the last `count` lines; the window then ends where they began."""
        count = min(count, len(self.lines))
        if count <= 0:
            return
        self.held_bytes -= sum(len(line) for line in self.lines[-count:])
        self.end = self.starts[-count]
        if self.row_starts:
            self.row_end = self.row_starts[-count]
            del self.row_starts[-count:]
        del self.lines[-count:]
        del self.starts[-count:]
        self.tail_open = False

    def lines_over(self, budget: int) -> int:
        """About how many lines must go from one edge to bring the window within
        `budget` bytes (lines are alike in size, on average)."""
        if self.held_bytes <= budget or not self.lines:
            return 0
        average = max(1, self.held_bytes // len(self.lines))
        return min(len(self.lines), (self.held_bytes - budget) // average + 1)

    def index_of_offset(self, offset: int) -> int:
        """The index of the line holding byte `offset`, clamped to the window."""
        return max(0, bisect.bisect_right(self.starts, offset) - 1)

    def _insert(self, index: int, raw: bytes, position: int) -> None:
        shown = visible_part(raw)
        self.lines.insert(index, shown)
        self.starts.insert(index, position)
        self.held_bytes += len(shown)

    def _set_line(self, index: int, shown: bytes) -> None:
        self.held_bytes += len(shown) - len(self.lines[index])
        self.lines[index] = shown
