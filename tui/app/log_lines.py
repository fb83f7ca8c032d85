"""`LogLines`: draws the lines of a `LogWindow`, only the ones on screen.

It knows nothing of jobs or sessions. Its parent fills the window and calls
`sync`; it says what the person did with messages: scrolled near the top of what
is loaded (`NearTop`: load earlier output), near the bottom (`NearBottom`), and
whether the view is pinned to the end (`FollowChanged`: follow pauses when the
person scrolls up and resumes at the bottom, like ``less +F``).

Rendered lines are cached by their byte offset in the log and their content, so a
window that slides keeps its cache and a line still being written is redrawn.

`w` wraps long lines (as toggling ``less -S`` does): a line then takes as many
rows as its width needs, the scroll position counts rows instead of lines, and
the window keeps each line's rows (`LogWindow.measure_rows`) so that following
measures only the new lines. Without wrap, long lines scroll sideways.
"""

from __future__ import annotations

import bisect
from typing import Optional, Sequence

from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.app.log_text import Query, row_counts, styled_line, wrap_offsets, wrapped_rows
from tui.app.log_window import LogWindow

#: Rows from an edge of the loaded lines at which more are asked for.
EDGE_ROWS = 20
_MATCH = Style(reverse=True)
_CURRENT_MATCH = Style(reverse=True, bold=True, color="yellow")


class LogLines(ScrollView, can_focus=True):
    BINDINGS = [
        Binding("n", "next_match", "Next", tooltip="Next (later) match of the search"),
        Binding("N", "previous_match", "Previous", tooltip="Previous (earlier) match"),
        Binding("g", "scroll_home", show=False),
        Binding("G", "scroll_end", show=False),
        Binding("j", "scroll_down", show=False),  # as in less
        Binding("k", "scroll_up", show=False),
        Binding(
            "w", "toggle_wrap", "Wrap", tooltip="Wrap long lines, or cut them (scroll sideways)"
        ),
    ]

    class NearTop(Message):
        """The view is near the first loaded line: load earlier output if there is some."""

    class NearBottom(Message):
        """The view is near the last loaded line."""

    class JumpToEnd(Message):
        """End (or G) was pressed: the person wants the newest output, followed."""

    class FollowChanged(Message):
        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    class WrapChanged(Message):
        """`w` turned wrapping long lines on or off."""

        def __init__(self, wrap: bool) -> None:
            super().__init__()
            self.wrap = wrap

    class SearchStep(Message):
        """`n` or `N` was pressed with a search active."""

        def __init__(self, forward: bool) -> None:
            super().__init__()
            self.forward = forward

    def __init__(self, window: LogWindow, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self.window = window
        self.following = True
        self.search: Optional[Query] = None
        #: Byte offset of the line holding the current search match.
        self.match_offset: Optional[int] = None
        #: Each line's rows on screen, cached by (offset, content, query, current
        #: match, wrap width): one strip, or one per row when wrapped.
        self._cache: LRUCache[tuple[int, bytes, int, bool, int], tuple[Strip, ...]] = LRUCache(2048)
        self._query_generation = 0
        self._width = 0
        self._adjusting = False
        self.wrap = False
        #: The width lines are wrapped at (0: not wrapped).
        self._wrap_width = 0
        #: Rows of lines too long for one row, by (content hash, length, width): a
        #: toggle or a resize back to a width seen before measures none again. Not
        #: keyed by the bytes, which would keep lines let go of alive.
        self._tall_rows: LRUCache[tuple[int, int, int], int] = LRUCache(4096)
        #: The window's first row at the last sync, to see rows come and go above.
        self._origin = 0

    # -- what the parent calls --------------------------------------------------------

    def sync(self, *, scroll_end: bool) -> None:
        """Take in the window's new size; pin the view to the end when following."""
        lines = self.window.lines
        if lines:
            self._width = max(self._width, *map(len, lines[-256:]))
        self._origin = self.window.row_origin
        with self._programmatic():
            width = 0 if self.wrap else min(self._width, 4096)
            self.virtual_size = Size(width, self.window.row_count)
            if scroll_end and self.following:
                self.move_to(self.max_scroll_y)
        self.refresh()

    # A scrollbar that comes or goes (a first long line, wrap toggled) or a new size
    # moves the end once laid out, after `sync` pinned the view: pin it again then.

    def watch_show_horizontal_scrollbar(self) -> None:
        self._stay_at_end()

    def watch_show_vertical_scrollbar(self) -> None:
        self._stay_at_end()

    def _stay_at_end(self) -> None:
        if self.following and self.scroll_y != self.max_scroll_y:
            with self._programmatic():
                self.move_to(self.max_scroll_y)

    def shift(self, lines: int) -> None:
        """Lines were added (positive) or removed (negative) above the view: keep
        the same lines on screen (wrapped, by the rows the window's first row moved)."""
        rows = self._origin - self.window.row_origin if self.wrap else lines
        if not rows:
            return
        self.sync(scroll_end=False)
        with self._programmatic():
            self.move_to(max(0, self.scroll_y + rows))
        self.refresh()

    def reset(self) -> None:
        self._cache.clear()
        self._width = 0
        self._origin = self.window.row_origin
        self.match_offset = None
        self.set_following(True)
        with self._programmatic():
            self.virtual_size = Size(0, 0)
            self.scroll_to(x=0, y=0, animate=False, immediate=True, force=True)
        self.refresh()

    def set_search(self, query: Optional[Query]) -> None:
        self.search = query
        self._query_generation += 1
        self.match_offset = None
        self.refresh_bindings()
        self.refresh()

    def show_line(self, index: int, offset: int) -> None:
        """Put line `index` (at byte `offset`) in the middle of the view as the match."""
        self.match_offset = offset
        self.set_following(False)
        with self._programmatic():
            row = self.window.row_of(index) + self._match_row(index)
            self.move_to(max(0, row - self.scrollable_content_region.height // 2))
        self.refresh()

    def _match_row(self, index: int) -> int:
        """Which of line `index`'s rows holds its first match (0 unless wrapped)."""
        if not self._wrap_width or self.search is None:
            return 0
        plain = styled_line(self.window.lines[index]).plain
        columns = self.search.find_all(plain)
        if not columns:
            return 0
        return bisect.bisect_right(wrap_offsets(plain, self._wrap_width), columns[0])

    def set_following(self, following: bool) -> None:
        if following != self.following:
            self.following = following
            self.post_message(self.FollowChanged(following))

    @property
    def first_visible(self) -> int:
        """The line at the top of the view (its index in the window)."""
        return self.window.line_at_row(int(self.scroll_y))[0]

    @property
    def last_visible(self) -> int:
        """The line at the bottom of the view (unwrapped, it may be past the last)."""
        bottom = int(self.scroll_y) + max(0, self.scrollable_content_region.height - 1)
        return self.window.line_at_row(bottom)[0]

    # -- wrapping -------------------------------------------------------------------------

    def action_toggle_wrap(self) -> None:
        self.set_wrap(not self.wrap)
        self.post_message(self.WrapChanged(self.wrap))

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines, or cut them, keeping the top line of the view in place."""
        self.wrap = wrap
        self.set_class(wrap, "-wrap")
        self._rewrap(self._width_to_wrap() if wrap else 0)

    def on_resize(self) -> None:
        if self.wrap and self.region.width and self._width_to_wrap() != self._wrap_width:
            self._rewrap(self._width_to_wrap())
        self._stay_at_end()

    def _width_to_wrap(self) -> int:
        """The view's width less its scrollbar, which is always there when wrapped
        (``.-wrap``): a width that changed when the scrollbar came or went would
        change the rows, which could bring or take away the scrollbar."""
        content = self.region.shrink(self.styles.gutter).width
        return max(1, content - self.styles.scrollbar_size_vertical)

    def _rewrap(self, width: int) -> None:
        """Measure every line's rows at `width` (0: no wrap) and keep the view on
        the line it showed, or at the end when following."""
        index, part = self.window.line_at_row(int(self.scroll_y))
        self._wrap_width = width
        self.window.measure_rows(self._measure if width else None)
        self.sync(scroll_end=True)
        with self._programmatic():
            if width:
                self.scroll_to(x=0, animate=False, immediate=True, force=True)
            if not self.following:
                last_row = self.window.row_of(index + 1) - 1
                self.move_to(max(0, min(self.window.row_of(index) + part, last_row)))
        self.refresh()

    def _measure(self, lines: Sequence[bytes]) -> list[int]:
        return row_counts(lines, self._wrap_width, self._rows_of_tall_line)

    def _rows_of_tall_line(self, line: bytes, width: int) -> int:
        key = (hash(line), len(line), width)
        rows = self._tall_rows.get(key)
        if rows is None:
            rows = self._tall_rows[key] = wrapped_rows(line, width)
        return rows

    # -- scrolling ------------------------------------------------------------------------

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._adjusting:
            return
        at_end = new_value >= self.max_scroll_y
        if at_end:
            self.set_following(True)
        elif new_value < old_value:
            self.set_following(False)
        if new_value <= EDGE_ROWS:
            self.post_message(self.NearTop())
        if new_value >= self.max_scroll_y - EDGE_ROWS:
            self.post_message(self.NearBottom())

    # Scrolling is never animated here: over a slow link or in tmux an animation is
    # only more frames to send, and every frame of it would re-trigger loading.

    def action_scroll_up(self) -> None:
        self.move_to(self.scroll_y - 1)

    def action_scroll_down(self) -> None:
        self.move_to(self.scroll_y + 1)

    def action_page_up(self) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        self.move_to(self.scroll_y - page)

    def action_page_down(self) -> None:
        page = max(1, self.scrollable_content_region.height - 1)
        self.move_to(self.scroll_y + page)

    def action_scroll_home(self) -> None:
        self.set_following(False)
        self.move_to(0)
        self.post_message(self.NearTop())

    def action_scroll_end(self) -> None:
        self.move_to(self.max_scroll_y)
        self.set_following(True)
        self.post_message(self.JumpToEnd())

    def action_next_match(self) -> None:
        self.post_message(self.SearchStep(forward=True))

    def action_previous_match(self) -> None:
        self.post_message(self.SearchStep(forward=False))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> Optional[bool]:
        # n and N mean the next and previous match here, with a search or not, so
        # the footer's n never changes meaning under the person's eyes (before a
        # search they say how to start one); the app's n (New) is the jobs table's.
        return True

    def move_to(self, y: float) -> None:
        """Scroll to row `y` now, without animation."""
        self.scroll_to(y=y, animate=False, immediate=True, force=True)

    def _programmatic(self) -> _Adjusting:
        return _Adjusting(self)

    # -- drawing --------------------------------------------------------------------------

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        if row >= self.window.row_count:
            return Strip.blank(width, style)
        index, part = self.window.line_at_row(row)
        strips = self._line_strips(index, style)
        strip = strips[part] if part < len(strips) else Strip.blank(0)
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, y)

    def _line_strips(self, index: int, style: Style) -> tuple[Strip, ...]:
        """Line `index` drawn: one strip, or one per row when wrapped (colours and
        search marks cut with the text, so a wrapped part keeps them)."""
        offset = self.window.starts[index]
        line = self.window.lines[index]
        current = offset == self.match_offset
        key = (offset, line, self._query_generation, current, self._wrap_width)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        text = styled_line(line)
        text.stylize_before(style)
        if self.search is not None:
            self.search.highlight(text, _CURRENT_MATCH if current else _MATCH)
        wrap = self._wrap_width
        parts = text.divide(wrap_offsets(text.plain, wrap)) if wrap else [text]
        console = self.app.console
        strips = tuple(Strip(list(part.render(console)), part.cell_len) for part in parts)
        if not wrap:
            self._width = max(self._width, strips[0].cell_length)
        self._cache[key] = strips
        return strips

    def render_lines_text(self) -> list[str]:
        """The plain text of the lines on screen, as a person reads them."""
        start = self.first_visible
        end = min(len(self.window.lines), self.last_visible + 1)
        return [styled_line(line).plain for line in self.window.lines[start:end]]


class _Adjusting:
    """Marks scroll changes made by the code, not the person, so they do not
    pause or resume follow."""

    def __init__(self, lines: LogLines) -> None:
        self._lines = lines
        self._outer = False

    def __enter__(self) -> None:
        self._outer = self._lines._adjusting
        self._lines._adjusting = True

    def __exit__(self, *exc: object) -> None:
        self._lines._adjusting = self._outer
