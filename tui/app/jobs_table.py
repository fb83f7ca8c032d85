"""`JobsTable`: a host's jobs, newest first or by any column (`order`, its column's
header marked ▼/▲), with coloured states, filters, marks, and the columns the
person chose (`tui.app.job_columns`).

Its parent sets `jobs`, `state_filter`, `text_filter`, `order`, `shown_columns`,
`usage` and `now` (attributes down); the table
keeps the highlighted job across updates and says which job is highlighted with
`JobHighlighted` (messages up).
"""

from __future__ import annotations

from typing import Dict, List, Optional, Set, Tuple

from rich.text import Text
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable

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


def _fit(text: Text, width: int) -> Text:
    if text.cell_len <= width:
        return text
    fitted = text.copy()
    fitted.truncate(width, overflow="ellipsis")
    return fitted


def passes(job: JobInfo, state_filter: Optional[str]) -> bool:
    if state_filter is None:
        return True
    if state_filter == "active":
        return job.state.is_active
    return job.state.value == state_filter


def matches(job: JobInfo, text: str) -> bool:
    """`/`'s filter: every word of `text` is in the job's id, name, command, state,
    group or labels (any case), so ``train run`` finds the running training jobs."""
    labels = " ".join(f"{key}={value}" for key, value in job.labels.items())
    words = (str(job.id), job.name, command_line(job), job.state.value, job.group or "", labels)
    haystack = " ".join(words).casefold()
    return all(word in haystack for word in text.casefold().split())


class JobsTable(DataTable[Text]):
    jobs: reactive[List[JobInfo]] = reactive(list, always_update=True)
    state_filter: reactive[Optional[str]] = reactive(None)
    # Times and usage redraw only the cells they change (`_refresh_cells`), not the
    # whole table: they are set every second, a job running or not.
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

    def __init__(self, *, id: Optional[str] = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self._shown: List[JobInfo] = []
        self._selected_id: Optional[int] = None
        self._marked: Set[int] = set()

    def on_mount(self) -> None:
        self._add_columns()
        self._rebuild()

    def _add_columns(self) -> None:
        for label, key in zip(self._labels(), self.shown_columns):
            self.add_column(label, key=key)

    def _labels(self) -> List[str]:
        """The headers, the sorted column's marked with its direction."""
        order = self.order
        return [
            BY_KEY[key].label + (order.arrow if key == order.column else "")
            for key in self.shown_columns
        ]

    def _facts(self) -> Facts:
        return Facts(self.now, self.usage, frozenset(self._marked))

    @property
    def selected_job(self) -> Optional[JobInfo]:
        return next((j for j in self._shown if j.id == self._selected_id), None)

    @property
    def shown_jobs(self) -> List[JobInfo]:
        return list(self._shown)

    @property
    def marked_jobs(self) -> List[JobInfo]:
        """The jobs marked with space, in the table's order (hidden ones included:
        a filter changes what is seen, not what was chosen)."""
        marked = [j for j in self.jobs if j.id in self._marked]
        return self.order.apply(marked, self._facts())

    def toggle_mark(self) -> None:
        """Mark the highlighted job, or unmark it, and move to the next row (as in
        mc and htop, so that space space space marks a run of jobs)."""
        job = self.selected_job
        if job is None:
            return
        self._marked ^= {job.id}
        row = self.cursor_row
        self._rebuild()
        if row + 1 < len(self._shown):
            self.move_cursor(row=row + 1, animate=False)

    def clear_marks(self) -> None:
        if self._marked:
            self._marked.clear()
            self._rebuild()

    def select_job(self, job_id: int) -> None:
        """Highlight `job_id` now if it is shown, else as soon as it is (a job just
        submitted may reach the table after this call)."""
        self._selected_id = job_id
        for row, job in enumerate(self._shown):
            if job.id == job_id:
                self.move_cursor(row=row)
                return

    def watch_jobs(self) -> None:
        self._rebuild()

    def watch_state_filter(self) -> None:
        self._rebuild()

    def watch_order(self) -> None:
        self._rebuild()

    def watch_text_filter(self) -> None:
        self._rebuild()

    def watch_shown_columns(self) -> None:
        if self.columns:
            self.clear(columns=True)
            self._add_columns()
            self._rebuild()

    def watch_now(self) -> None:
        self._refresh_cells(("age", "runtime"))

    def watch_usage(self) -> None:
        self._refresh_cells(("cpu", "mem", "gmem"))

    def _refresh_cells(self, keys: Tuple[str, ...]) -> None:
        """Redraw the cells of `keys` that change without a rebuild (times, usage),
        of the active jobs only: an ended job's are redrawn with the next rebuild.
        Their columns keep room for it (`min_width`)."""
        columns = [BY_KEY[key] for key in keys if key in self.shown_columns]
        if not columns or not self.columns:
            return
        facts = self._facts()
        for job in self._shown:
            if job.state.is_active:
                for column in columns:
                    self.update_cell(str(job.id), column.key, column.cell(job, facts))

    def on_resize(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        if not self.columns:
            return  # before on_mount: it rebuilds then
        keep = self._selected_id
        self._marked &= {j.id for j in self.jobs}  # a job gone from the host is no choice
        shown = [
            j for j in self.jobs if passes(j, self.state_filter) and matches(j, self.text_filter)
        ]
        facts = self._facts()  # once a rebuild, not once a row
        self._shown = self.order.apply(shown, facts)
        rows = [self._cells(job, facts) for job in self._shown]
        widths = self._widths(rows)
        self.clear()
        # Widths set here, not left to the table's measuring: that measures after the
        # rows are drawn and never narrows a column whose widest row has gone.
        for column, label, width in zip(self.ordered_columns, self._labels(), widths):
            column.label = Text(label)
            column.width = width
            column.auto_width = False
        name = self.shown_columns.index(_NAME)
        for job, cells in zip(self._shown, rows):
            cells[name] = _fit(cells[name], widths[name])
            self.add_row(*cells, key=str(job.id))
        row = next((i for i, j in enumerate(self._shown) if j.id == keep), 0)
        if self._shown:
            self.move_cursor(row=row, animate=False)
        self._announce()

    def _cells(self, job: JobInfo, facts: Facts) -> List[Text]:
        return [BY_KEY[key].cell(job, facts) for key in self.shown_columns]

    def _widths(self, rows: List[List[Text]]) -> List[int]:
        """Each column as wide as its header and content (and its `min_width`); NAME
        gets what is left, and names are cut to it (with …) so the columns after it
        stay on screen."""
        widths = [
            max([len(label), BY_KEY[key].min_width, *(row[i].cell_len for row in rows)])
            for i, (label, key) in enumerate(zip(self._labels(), self.shown_columns))
        ]
        name = self.shown_columns.index(_NAME)
        padding = 2 * self.cell_padding * len(widths)
        scrollbar = self.scrollbar_size_vertical if len(rows) >= self.size.height - 1 else 0
        others = sum(widths) - widths[name]
        left = self.size.width - others - padding - scrollbar
        widths[name] = max(len("NAME"), min(widths[name], left))
        return widths

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        # The row under the cursor now, not when the event was posted: a rebuild
        # posts one for row 0 before the cursor returns to the job it was on.
        self._announce()

    def _announce(self) -> None:
        row = self.cursor_row
        job = self._shown[row] if 0 <= row < len(self._shown) else None
        if job is not None:
            self._selected_id = job.id
        self.post_message(self.JobHighlighted(job))
