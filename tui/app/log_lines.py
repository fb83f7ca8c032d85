"""`LogLines`: draws the lines of a `LogWindow`, only the ones on screen.

It knows nothing of jobs or sessions. Its parent fills the window and calls
`sync`; it says what the person did with messages: scrolled near the top of what
is loaded (`NearTop`: load earlier output), near the bottom (`NearBottom`), and
whether the view is pinned to the end (`FollowChanged`: follow pauses when the
person scrolls up and resumes at the bottom, like ``less +F``).

Rendered lines are cached by their byte offset in the log and their content, so a
window that slides keeps its cache and a line still being written is redrawn.
"""

from __future__ import annotations

from typing import Optional

from rich.style import Style
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.app.log_text import Query, styled_line
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
        self._cache: LRUCache[tuple[int, bytes, int, bool], Strip] = LRUCache(2048)
        self._query_generation = 0
        self._width = 0
        self._adjusting = False

    # -- what the parent calls --------------------------------------------------------

    def sync(self, *, scroll_end: bool) -> None:
        """Take in the window's new size; pin the view to the end when following."""
        lines = self.window.lines
        if lines:
            self._width = max(self._width, *map(len, lines[-256:]))
        with self._programmatic():
            self.virtual_size = Size(min(self._width, 4096), len(lines))
            if scroll_end and self.following:
                self.move_to(self.max_scroll_y)
        self.refresh()

    def shift(self, lines: int) -> None:
        """Lines were added (positive) or removed (negative) above the view: keep
        the same lines on screen."""
        if not lines:
            return
        self.sync(scroll_end=False)
        with self._programmatic():
            self.move_to(max(0, self.scroll_y + lines))
        self.refresh()

    def reset(self) -> None:
        self._cache.clear()
        self._width = 0
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
            target = max(0, index - self.scrollable_content_region.height // 2)
            self.move_to(target)
        self.refresh()

    def set_following(self, following: bool) -> None:
        if following != self.following:
            self.following = following
            self.post_message(self.FollowChanged(following))

    @property
    def first_visible(self) -> int:
        return int(self.scroll_y)

    @property
    def last_visible(self) -> int:
        return int(self.scroll_y) + max(0, self.scrollable_content_region.height - 1)

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
        index = scroll_y + y
        width = self.scrollable_content_region.width
        style = self.rich_style
        window = self.window
        if index >= len(window.lines):
            return Strip.blank(width, style)
        strip = self._line_strip(index, style)
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, y)

    def _line_strip(self, index: int, style: Style) -> Strip:
        offset = self.window.starts[index]
        line = self.window.lines[index]
        current = offset == self.match_offset
        key = (offset, line, self._query_generation, current)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        text = styled_line(line)
        text.stylize_before(style)
        if self.search is not None:
            self.search.highlight(text, _CURRENT_MATCH if current else _MATCH)
        segments = list(text.render(self.app.console))
        strip = Strip(segments, text.cell_len)
        self._width = max(self._width, strip.cell_length)
        self._cache[key] = strip
        return strip

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
