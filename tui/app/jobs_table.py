"""`JobsTable`: a host's jobs, newest first or by any column (`order`, its column's
header marked ▼/▲), with coloured states, filters, marks, and the columns the
person chose (`tui.app.job_columns`).

Its parent sets `jobs`, `state_filter`, `text_filter`, `order`, `shown_columns`,
`usage` and `now` (attributes down); the table keeps the highlighted job across
updates and says which job is highlighted with `JobHighlighted`, and which was
chosen (Enter, or a click on the highlighted row) with `JobSelected` (messages up).

Only the rows on screen are drawn. A queue of 10,000 jobs is one filter and one
sort when it changes, and about fifteen rows of cells a frame; the columns are as
wide as what is on screen (and their header), NAME taking what is left.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Dict, List, Optional, Set, Tuple

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from protocol.jobs import JobInfo, JobState
from protocol.stats import JobUsage
from tui.app.job_columns import BY_KEY, DEFAULT_KEYS, Facts
from tui.app.job_sort import JobOrder
from tui.job_text import command_line

#: What `s` cycles through: every job, the active ones, then each state alone.
STATE_FILTERS: List[Optional[str]] = [
    None,
    "active",
    *(state.value for state in JobState),
]

_NAME = "name"  # the column that gives way
#: Spaces either side of each cell.
_PADDING = 1


def passes(job: JobInfo, state_filter: Optional[str]) -> bool:
    if state_filter is None:
        return True
    if state_filter == "active":
        return job.state.is_active
    return job.state.value == state_filter


def haystack(job: JobInfo) -> str:
    """What `/` looks in: the job's id, name, command, state, group and labels."""
    labels = " ".join(f"{key}={value}" for key, value in job.labels.items())
    words = (str(job.id), job.name, command_line(job), job.state.value, job.group or "", labels)
    return " ".join(words).casefold()


def matches(job: JobInfo, text: str) -> bool:
    """`/`'s filter: every word of `text` is in the job's id, name, command, state,
    group or labels (any case), so ``train run`` finds the running training jobs."""
    return _matches(haystack(job), text)


def _matches(hay: str, text: str) -> bool:
    return all(word in hay for word in text.casefold().split())


def _fit(text: Text, width: int) -> Text:
    """`text` in exactly `width` cells: cut with … when longer, padded on the side
    its justification says when shorter."""
    if text.cell_len > width:
        text = text.copy()
        text.truncate(width, overflow="ellipsis")
    room = width - text.cell_len
    if room <= 0:
        return text
    if text.justify == "right":
        return Text(" " * room) + text
    padded = text.copy()
    padded.pad_right(room)
    return padded


@dataclass
class _Row:
    """A job's cells as last made, and its row as last drawn (`look`: the widths
    and styles it was drawn with)."""

    job: JobInfo
    state: object
    cells: List[Text]
    look: object = None
    strip: Optional[Strip] = None


#: Rows kept drawn; past this the cache starts again (a person scrolling through
#: 10,000 jobs does not keep them all).
_ROWS_KEPT = 2000


class JobsTable(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    JobsTable {
        height: auto;
        max-height: 100%;
        background: $surface;
        color: $foreground;
        overflow-x: hidden;
        &:focus {
            background-tint: $foreground 5%;
            & > .jobs-table--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
        }
        & > .jobs-table--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .jobs-table--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .jobs-table--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    COMPONENT_CLASSES: ClassVar[Set[str]] = {"jobs-table--header", "jobs-table--cursor"}
    BINDINGS: ClassVar[List[BindingType]] = [
        Binding("enter", "select_cursor", "Select", show=False),
        Binding("up", "cursor_up", "Cursor up", show=False),
        Binding("down", "cursor_down", "Cursor down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,ctrl+home", "first_row", "First", show=False),
        Binding("end,ctrl+end", "last_row", "Last", show=False),
    ]

    jobs: reactive[List[JobInfo]] = reactive(list, always_update=True)
    state_filter: reactive[Optional[str]] = reactive(None)
    # Times and usage redraw the rows on screen, nothing else: they are set every
    # second, a job running or not.
    now: reactive[float] = reactive(0.0, repaint=False)
    order: reactive[JobOrder] = reactive(JobOrder)
    text_filter: reactive[str] = reactive("")
    shown_columns: reactive[Tuple[str, ...]] = reactive(DEFAULT_KEYS)
    #: The host's latest usage by job (its stats), for the CPU, MEM and GMEM columns.
    usage: reactive[Dict[int, JobUsage]] = reactive(dict, always_update=True, repaint=False)

    class JobHighlighted(Message):
        """The highlighted job changed (None: the table is empty)."""

        def __init__(self, job: Optional[JobInfo]) -> None:
            super().__init__()
            self.job = job

    class JobSelected(Message):
        """The person chose the highlighted job (Enter, or a click on it)."""

        def __init__(self, job: JobInfo) -> None:
            super().__init__()
            self.job = job

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id)
        self._shown: List[JobInfo] = []
        self._selected_id: Optional[int] = None
        self._marked: Set[int] = set()
        self.cursor_row = 0
        #: `haystack` of each job, while the job is the same object.
        self._hay: Dict[int, Tuple[JobInfo, str]] = {}
        #: Rows drawn lately, by job id (`_row`).
        self._rows: Dict[int, _Row] = {}
        #: The rows on screen, drawn: (first row, width, height) -> strips.
        self._frame: Optional[Tuple[Tuple[int, int, int], List[Strip]]] = None

    # -- what is shown --------------------------------------------------------------

    def _facts(self) -> Facts:
        return Facts(self.now, self.usage, frozenset(self._marked))

    @property
    def selected_job(self) -> Optional[JobInfo]:
        row = self.cursor_row
        job = self._shown[row] if 0 <= row < len(self._shown) else None
        return job if job is not None and job.id == self._selected_id else None

    @property
    def shown_jobs(self) -> List[JobInfo]:
        return list(self._shown)

    @property
    def marked_jobs(self) -> List[JobInfo]:
        """The jobs marked with space, in the table's order (hidden ones included:
        a filter changes what is seen, not what was chosen)."""
        if not self._marked:
            return []
        marked = [j for j in self.jobs if j.id in self._marked]
        return self.order.apply(marked, self._facts())

    def toggle_mark(self) -> None:
        """Mark the highlighted job, or unmark it, and move to the next row (as in
        mc and htop, so that space space space marks a run of jobs)."""
        job = self.selected_job
        if job is None:
            return
        self._marked ^= {job.id}
        self._redraw()
        self.move_cursor(row=self.cursor_row + 1)

    def clear_marks(self) -> None:
        if self._marked:
            self._marked.clear()
            self._redraw()

    def select_job(self, job_id: int) -> None:
        """Highlight `job_id` now if it is shown, else as soon as it is (a job just
        submitted may reach the table after this call)."""
        for row, job in enumerate(self._shown):
            if job.id == job_id:
                self.move_cursor(row=row)
                return
        self._selected_id = job_id  # highlighted by the rebuild that brings it

    def watch_jobs(self) -> None:
        self._rebuild()

    def watch_state_filter(self) -> None:
        self._rebuild()

    def watch_order(self) -> None:
        self._rebuild()

    def watch_text_filter(self) -> None:
        self._rebuild()

    def watch_shown_columns(self) -> None:
        self._redraw()

    def watch_now(self) -> None:
        self._redraw_times(("age", "runtime"))

    def watch_usage(self) -> None:
        self._redraw_times(("cpu", "mem", "gmem"))

    def _redraw_times(self, keys: Tuple[str, ...]) -> None:
        """Redraw for a new time or usage only where it shows: one of `keys` is a
        column and an active job is on screen."""
        if not any(key in self.shown_columns for key in keys):
            return
        first, count = self._visible_rows()
        if any(job.state.is_active for job in self._shown[first : first + count]):
            self._redraw()

    def _rebuild(self) -> None:
        """Filter and order the jobs again, keeping the highlighted job."""
        keep = self._selected_id
        jobs = self.jobs
        if self._marked:  # a job gone from the host is no choice
            self._marked &= {j.id for j in jobs}
        text, state = self.text_filter, self.state_filter  # reactives: read once
        shown = jobs if state is None else [j for j in jobs if passes(j, state)]
        if text.strip():
            shown = [j for j in shown if _matches(self._haystack(j), text)]
        self._shown = self.order.apply(shown, self._facts())
        row = next((i for i, j in enumerate(self._shown) if j.id == keep), 0)
        self._set_rows(len(self._shown))
        self._redraw()
        self.move_cursor(row=row, announce=True)

    def _set_rows(self, count: int) -> None:
        """The table's scrollable height: a row per job, and the header. Set
        without laying out the whole screen when the table is full before and
        after, as a long queue is: then neither its size nor its scrollbar can
        change, and a layout of the app costs about 50 ms, once per submit."""
        size = Size(0, count + 1)
        height = self.container_size.height
        full = self.virtual_size.height > height and size.height > height
        scroll_update = getattr(self, "_scroll_update", None)  # Textual's own, private
        if full and scroll_update is not None:
            self.set_reactive(JobsTable.virtual_size, size)
            scroll_update(size)
        else:
            self.virtual_size = size

    def _haystack(self, job: JobInfo) -> str:
        held = self._hay.get(job.id)
        if held is not None and held[0] is job:
            return held[1]
        hay = haystack(job)
        self._hay[job.id] = (job, hay)
        return hay

    # -- the cursor -----------------------------------------------------------------

    def move_cursor(self, row: int, announce: bool = False) -> None:
        """Highlight row `row` (kept within the table) and bring it on screen."""
        row = max(0, min(row, len(self._shown) - 1))
        before = self._selected_id
        self.cursor_row = row
        job = self._shown[row] if self._shown else None
        self._selected_id = job.id if job is not None else self._selected_id
        first, count = self._visible_rows()
        if row < first:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif count > 0 and row >= first + count:
            self.scroll_to(y=row - count + 1, animate=False, immediate=True)
        self._redraw()
        if announce or (job is not None and job.id != before) or job is None:
            self.post_message(self.JobHighlighted(job))

    def _visible_rows(self) -> Tuple[int, int]:
        """The first row on screen and how many rows fit below the header."""
        return int(self.scroll_offset.y), max(0, self.scrollable_content_region.height - 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_cursor(self.cursor_row - max(1, self._visible_rows()[1]))

    def action_page_down(self) -> None:
        self.move_cursor(self.cursor_row + max(1, self._visible_rows()[1]))

    def action_first_row(self) -> None:
        self.move_cursor(0)

    def action_last_row(self) -> None:
        self.move_cursor(len(self._shown) - 1)

    def action_select_cursor(self) -> None:
        job = self.selected_job
        if job is not None:
            self.post_message(self.JobSelected(job))

    def on_click(self, event: events.Click) -> None:
        if event.y < 1:
            return  # the header
        row = int(self.scroll_offset.y) + event.y - 1
        if row >= len(self._shown):
            return
        if row == self.cursor_row:
            self.action_select_cursor()
        else:
            self.move_cursor(row)

    # -- drawing ------------------------------------------------------------------

    def _redraw(self) -> None:
        self._frame = None
        self.refresh()

    def on_resize(self) -> None:
        self._redraw()

    def render_line(self, y: int) -> Strip:
        strips = self._drawn()
        return strips[y] if y < len(strips) else Strip.blank(self.size.width, self.rich_style)

    def _drawn(self) -> List[Strip]:
        """The header and the rows on screen, drawn once a frame."""
        first, count = self._visible_rows()
        width = self.scrollable_content_region.width
        key = (first, width, count)
        if self._frame is not None and self._frame[0] == key:
            return self._frame[1]
        facts = self._facts()
        jobs = self._shown[first : first + count]
        if len(self._rows) > _ROWS_KEPT:
            self._rows.clear()
        rows = [self._row(job, facts) for job in jobs]
        labels = self._labels()
        widths = self._widths(labels, [row.cells for row in rows], width)
        base = self.rich_style
        header = base + self.get_component_rich_style("jobs-table--header")
        cursor = base + self.get_component_rich_style("jobs-table--cursor")
        strips = [self._strip([Text(label) for label in labels], widths, width, header)]
        look = (tuple(widths), width, cursor, base)
        for index, row in enumerate(rows):
            on_cursor = first + index == self.cursor_row
            if row.strip is None or row.look != (look, on_cursor):
                style = cursor if on_cursor else base
                row.strip = self._strip(row.cells, widths, width, style, on_cursor)
                row.look = (look, on_cursor)
            strips.append(row.strip)
        self._frame = (key, strips)
        return strips

    def _row(self, job: JobInfo, facts: Facts) -> _Row:
        """Job `job`'s cells, made again only when what they show can differ: the
        job changed (a new object), its mark, or, for an active job, the time or
        usage."""
        keys = self.shown_columns
        state = (
            keys,
            job.id in facts.marked,
            (facts.now, id(facts.usage)) if job.state.is_active else None,
        )
        row = self._rows.get(job.id)
        if row is None or row.job is not job or row.state != state:
            row = _Row(job, state, [BY_KEY[k].cell(job, facts) for k in keys])
            self._rows[job.id] = row
        return row

    def _labels(self) -> List[str]:
        """The headers, the sorted column's marked with its direction."""
        order = self.order
        return [
            BY_KEY[key].label + (order.arrow if key == order.column else "")
            for key in self.shown_columns
        ]

    def _widths(self, labels: List[str], rows: List[List[Text]], width: int) -> List[int]:
        """Each column as wide as its header and what is on screen (and its
        `min_width`); NAME gets what is left, and names are cut to it (with …) so
        the columns after it stay on screen."""
        keys = self.shown_columns
        widths = [
            max([len(label), BY_KEY[key].min_width, *(row[i].cell_len for row in rows)])
            for i, (label, key) in enumerate(zip(labels, keys))
        ]
        name = keys.index(_NAME)
        others = sum(widths) - widths[name]
        left = width - others - 2 * _PADDING * len(widths)
        widths[name] = max(len("NAME"), min(widths[name], left))
        return widths

    def _strip(
        self, cells: List[Text], widths: List[int], width: int, style: Style, over: bool = False
    ) -> Strip:
        """One row in `style`: each cell's own colours show through it, unless
        `over` (the cursor's row reads as one bar)."""
        line = Text(no_wrap=True, overflow="crop", end="")
        pad = " " * _PADDING
        for cell, cell_width in zip(cells, widths):
            line.append(pad)
            line.append_text(_fit(cell, cell_width))
            line.append(pad)
        segments = [
            Segment(s.text, (s.style + style if over else style + s.style) if s.style else style)
            for s in line.render(self.app.console)
        ]
        return Strip(segments).adjust_cell_length(width, style)
