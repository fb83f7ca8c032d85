"""`LogPanel`: the selected job's log, loaded from its host one window at a time.

Opening a log asks the runner where the last screenfuls start (``tail_offset``)
and follows from there, so a 100 GB log opens as fast as a small one. Scrolling
up reads the bytes just before the window (``read_log`` by offset); the window
has a byte budget, and when it is full the far edge is let go. While the person
reads old output the window may stop at a point before the end ("detached"):
scrolling down reads forward again, and End jumps back to the tail and follows.

New output is taken in as it arrives but drawn at most `FLUSH_S` apart, so a job
writing 10,000 lines a second costs a few redraws a second, not 10,000, and keys
are answered in between. A dropped link is the session's business: the follow
resumes from its offset, nothing lost and nothing twice; a host that went
offline resumes the follow when the monitor reports it connected again.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Optional, Tuple

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.reactive import reactive
from textual.widgets import Input, Static
from textual.worker import Worker, WorkerState

from protocol.jobs import JobInfo
from protocol.limits import MAX_LOG_CHUNK_BYTES
from protocol.messages import LogChunk
from protocol.units import known_at, size
from tui.app.host_monitor import HostChange, HostMonitor
from tui.app.log_lines import EDGE_ROWS, LogLines
from tui.app.log_status import state_badge, status_line
from tui.app.log_text import Query, find_line, match_rank
from tui.app.log_window import LogWindow
from tui.errors import ConnectError, TetherError
from tui.log_save import save_log
from tui.mirror.host import tail_offset
from tui.session import HostSession
from tui.sync.pull import default_pull_dir
from tui.visible import visible, visible_lines

#: Lines shown when a log is opened (a few screenfuls; more load on scroll-up).
OPEN_TAIL_LINES = 2000
#: Bytes read per step when scrolling into earlier or later output.
STEP_BYTES = MAX_LOG_CHUNK_BYTES
#: Bytes of log text held at most (lines beyond it at the far edge are let go).
DEFAULT_BUDGET_BYTES = 32 * 1024 * 1024
#: Seconds between redraws while output streams in.
FLUSH_S = 1 / 20
#: How far back a search reads, past what is loaded, before it gives up.
SEARCH_READ_LIMIT_BYTES = 64 * 1024 * 1024

_FOLLOW_GROUP = "log-follow"
_LOAD_GROUP = "log-load"
_SEARCH_GROUP = "log-search"


class LogPanel(Vertical):
    BINDINGS = [
        Binding(
            "slash",
            "search",
            "Search",
            tooltip="Search the log (loads earlier output)",
            priority=True,  # taken at once: the keys typed after it are the search's
        ),
        Binding("escape", "clear_search", "Clear search", show=False),
        Binding(
            "ctrl+s",
            "save_log",
            "Save",
            show=False,
            tooltip="Save the whole log to ./tether-out/HOST/JOB.log",
        ),
    ]

    job_id: reactive[Optional[int]] = reactive(None)

    def __init__(
        self,
        monitor: HostMonitor,
        *,
        budget_bytes: int = DEFAULT_BUDGET_BYTES,
        id: Optional[str] = None,
        classes: Optional[str] = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self.monitor = monitor
        self.budget_bytes = budget_bytes
        self.window = LogWindow()
        #: The log's size as last reported by the runner.
        self.log_size = 0
        #: The job, once the runner said it ended and every byte was sent.
        self.ended: Optional[JobInfo] = None
        #: The window stops before the end of the log: new output is not taken in.
        self.detached = False
        self.problem = ""
        self.note = ""
        self._flush_pending = False
        self._loading = False
        self._generation = monitor.generation
        #: The attempt whose log is shown (a retried job's; None: the latest).
        self.attempt: Optional[int] = None

    def compose(self) -> ComposeResult:
        yield LogLines(self.window, id="log-lines")
        yield Static(id="log-status")
        yield Input(placeholder="search the log; Enter finds, Esc closes", id="log-search")

    @property
    def lines(self) -> LogLines:
        return self.query_one(LogLines)

    def on_mount(self) -> None:
        self.query_one("#log-search", Input).display = False
        self.monitor.listeners.append(self._on_host_change)
        self._show_status()

    def on_unmount(self) -> None:
        if self._on_host_change in self.monitor.listeners:
            self.monitor.listeners.remove(self._on_host_change)

    # -- which job ------------------------------------------------------------------------

    def watch_job_id(self, old: Optional[int], new: Optional[int]) -> None:
        if old != new:
            self.reopen()

    def reopen(self) -> None:
        """Show the current job's log from its tail, following it."""
        self.workers.cancel_group(self, _FOLLOW_GROUP)
        self.workers.cancel_group(self, _LOAD_GROUP)
        self._loading = False
        self.window.reset(0)
        self.log_size = 0
        self.ended = None
        self.detached = False
        self.problem = ""
        self.note = ""
        job = self.monitor.job(self.job_id) if self.job_id is not None else None
        # Pinned: a retried job's next attempt writes a new log from byte 0, and a
        # follow resumed by offset must not carry on in it (`_on_host_change`).
        self.attempt = job.attempt if job is not None else None
        if self.children:
            self.lines.reset()
            self.lines.set_search(self.lines.search)
        if self.job_id is not None:
            self._follow(self.job_id, at_tail=True)
        self._show_status()

    def _on_host_change(self, change: HostChange) -> None:
        if change is HostChange.JOBS:
            self._next_attempt()
            return
        if change is not HostChange.LINK or self.monitor.generation == self._generation:
            return
        self._generation = self.monitor.generation
        follow_running = any(w.group == _FOLLOW_GROUP and not w.is_finished for w in self.workers)
        if self.job_id is not None and self.ended is None and not follow_running:
            self.problem = ""
            if self.window.end == 0 and not self.window.lines:
                self.reopen()
            elif not self.detached:
                self._follow(self.job_id, at_tail=False)

    def _next_attempt(self) -> None:
        """A retried job started its next attempt (``--retry``): show that one's log."""
        job = self.monitor.job(self.job_id) if self.job_id is not None else None
        if job is not None and self.attempt is not None and job.attempt > self.attempt:
            self.reopen()
            self.note = f"attempt {job.attempt} of {job.attempts}"

    def _session(self) -> HostSession:
        session = self.monitor.session
        if session is None:
            raise ConnectError(f"{self.monitor.label} is not connected")
        return session

    # -- following ------------------------------------------------------------------------

    @work(group=_FOLLOW_GROUP, exclusive=True, exit_on_error=False)
    async def _follow(self, job_id: int, at_tail: bool) -> None:
        try:
            session = self._session()
            if at_tail and not self.monitor.connected and await self._from_mirror(job_id):
                at_tail = False  # shown from the mirror; the follow goes on from its end
            if at_tail:
                tail = await session.tail_offset(job_id, OPEN_TAIL_LINES, self.attempt)
                self.window.reset(tail.offset)
                self.log_size = tail.size
            follow = session.follow_log(job_id, self.window.end, attempt=self.attempt)
            keeper = self.monitor.mirror_keeper
            async for message in follow:
                if isinstance(message, LogChunk):
                    self._take(message)
                    if keeper is not None:  # so that it need not read this log too
                        keeper.panel_at(job_id, message.offset + len(message.data))
                    if self.detached:
                        return
                else:
                    self.ended = message.job
                    self._schedule_flush()
                    return
        except TetherError as exc:
            self.problem = str(exc)
            self._schedule_flush()
        finally:
            if self.monitor.mirror_keeper is not None:
                self.monitor.mirror_keeper.panel_left(job_id)

    async def _from_mirror(self, job_id: int) -> bool:
        """Show the tail of the mirror's copy of the log (the host cannot be
        reached now); False when the mirror holds none."""
        mirror = self.monitor.mirror
        if mirror is None:
            return False

        def tail() -> Tuple[int, bytes, Optional[float]]:
            with mirror.locked(shared=True):
                log = mirror.log(job_id)
                start = tail_offset(log, OPEN_TAIL_LINES)
                return (
                    start,
                    log.read_at(start, log.prefix().size - start),
                    mirror.written_at(job_id),
                )

        start, data, written = await asyncio.to_thread(tail)
        if not data or written is None:
            return False
        self.window.reset(start)
        self.window.append(data, start)
        self.log_size = start + len(data)
        self.note = f"from the mirror, as of {known_at(written, time.time())}"
        self._schedule_flush()
        return True

    def _take(self, chunk: LogChunk) -> None:
        self.log_size = max(self.log_size, chunk.size, chunk.offset + len(chunk.data))
        self.window.append(chunk.data, chunk.offset)
        excess = self.window.lines_over(self.budget_bytes)
        if excess:
            if self.lines.following:
                self.window.drop_head(excess)
            else:
                self.window.drop_tail(excess)
                self.detached = True
        self._schedule_flush()

    def _schedule_flush(self) -> None:
        if not self._flush_pending:
            self._flush_pending = True
            self.set_timer(FLUSH_S, self._flush)

    def _flush(self) -> None:
        self._flush_pending = False
        if self.children:
            self.lines.sync(scroll_end=True)
            self._show_status()

    # -- earlier and later output -----------------------------------------------------------

    @on(LogLines.NearTop)
    def _near_top(self) -> None:
        if self.window.start > 0 and not self._loading and self.job_id is not None:
            self._loading = True
            job_id = self.job_id
            self._load_earlier(job_id)

    @on(LogLines.NearBottom)
    def _near_bottom(self) -> None:
        if self.detached and not self._loading and self.job_id is not None:
            self._loading = True
            job_id = self.job_id
            self._load_later(job_id)

    @on(LogLines.JumpToEnd)
    def _jump_to_end(self) -> None:
        if self.detached:
            self.reopen()

    @on(LogLines.FollowChanged)
    def _follow_changed(self) -> None:
        self._show_status()

    @on(LogLines.WrapChanged)
    def _wrap_changed(self, event: LogLines.WrapChanged) -> None:
        self.note = "wrap on" if event.wrap else "wrap off"
        self._show_status()

    @work(group=_LOAD_GROUP, exit_on_error=False)
    async def _load_earlier(self, job_id: int) -> None:
        try:
            await self._read_earlier(job_id)
        except TetherError as exc:
            self.note = f"cannot load earlier output: {exc}"
        finally:
            self._loading = False
            self._show_status()
        if self.window.start > 0 and self.lines.first_visible <= EDGE_ROWS:
            self._near_top()

    async def _read_earlier(self, job_id: int) -> int:
        """Read one step of output before the window; returns the lines added."""
        start = self.window.start
        begin = max(0, start - STEP_BYTES)
        chunk = await self._session().read_log(job_id, begin, start - begin, self.attempt)
        if self.job_id != job_id or self.window.start != start:
            return 0
        added = self.window.prepend(chunk.data[: start - begin], begin)
        excess = self.window.lines_over(self.budget_bytes)
        if excess:
            self.window.drop_tail(excess)
            self._detach()
        self.lines.shift(added)
        return added

    @work(group=_LOAD_GROUP, exit_on_error=False)
    async def _load_later(self, job_id: int) -> None:
        try:
            end = self.window.end
            chunk = await self._session().read_log(job_id, end, STEP_BYTES, self.attempt)
            if self.job_id != job_id or self.window.end != end:
                return
            self.log_size = max(self.log_size, chunk.size)
            self.window.append(chunk.data, end)
            excess = self.window.lines_over(self.budget_bytes)
            if excess:
                self.window.drop_head(excess)
                self.lines.shift(-excess)
            self.lines.sync(scroll_end=False)
            if self.window.end >= chunk.size:
                self.detached = False
                self._follow(job_id, at_tail=False)
        except TetherError as exc:
            self.note = f"cannot load later output: {exc}"
        finally:
            self._loading = False
            self._show_status()

    def _detach(self) -> None:
        self.detached = True
        self.workers.cancel_group(self, _FOLLOW_GROUP)

    # -- search ---------------------------------------------------------------------------

    def action_search(self) -> None:
        search = self.query_one("#log-search", Input)
        search.display = True
        self.screen.set_focus(search)  # now: the keys typed after `/` are the search's

    def check_action(self, action: str, parameters: tuple[object, ...]) -> Optional[bool]:
        if action == "search":
            return self.app.focused is self.lines  # in the search field, `/` is typed
        if action == "clear_search":
            # Esc is the screen's too (close, go back): take it only when there is
            # a search to close or clear.
            search_open = self.query_one("#log-search", Input).display
            return search_open or self.lines.search is not None
        return True

    def action_save_log(self) -> None:
        job_id = self.job_id
        if job_id is None:
            self.notify("no log to save: pick a job first", severity="warning")
            return
        dest = default_pull_dir(self.monitor.label, job_id).with_name(f"{job_id}.log")
        self._save(job_id, dest.absolute())

    @work(group="log-save", exclusive=True)
    async def _save(self, job_id: int, dest: Path) -> None:
        try:
            saved = await save_log(self.monitor.connected_session(), job_id, dest)
        except TetherError as exc:
            self.notify(
                visible_lines(str(exc)),
                title=f"log of job {job_id} not saved",
                severity="error",
                markup=False,
            )
            return
        self.notify(f"saved {size(saved)} to {visible(str(dest))}", timeout=6, markup=False)

    def action_clear_search(self) -> None:
        search = self.query_one("#log-search", Input)
        if search.display:
            search.display = False
            self.screen.set_focus(self.lines)
        elif self.lines.search is not None:
            self.lines.set_search(None)
            self.note = ""
            self._show_status()

    @on(Input.Submitted, "#log-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        event.input.display = False
        self.screen.set_focus(self.lines)  # now: keys typed next are the log's
        if not event.value:
            self.lines.set_search(None)
            return
        self.lines.set_search(Query(event.value))
        self._step(forward=False, start=self.lines.last_visible)

    @on(LogLines.SearchStep)
    def _search_step(self, event: LogLines.SearchStep) -> None:
        current = self._match_index()
        if event.forward:
            start = (current + 1) if current is not None else self.lines.first_visible
        else:
            start = (current - 1) if current is not None else self.lines.last_visible
        self._step(forward=event.forward, start=start)

    def _match_index(self) -> Optional[int]:
        offset = self.lines.match_offset
        if offset is None or not self.window.starts:
            return None
        index = self.window.index_of_offset(offset)
        return index if self.window.starts[index] == offset else None

    @work(group=_SEARCH_GROUP, exclusive=True, exit_on_error=False)
    async def _step(self, *, forward: bool, start: int) -> None:
        """Find the next match from line `start`, reading earlier output when the
        loaded lines have none above. The loaded lines are searched in a thread (a
        full window is tens of MB), over a copy, since following goes on meanwhile."""
        query = self.lines.search
        if query is None:
            self.note = "no search yet: / searches the log (n and N then step through it)"
            self._show_status()
            return
        lines, starts = list(self.window.lines), list(self.window.starts)
        found = await asyncio.to_thread(find_line, lines, query, forward, start)
        wrapped = ""
        if found is None and lines and (forward or self.window.start == 0):
            # As less and vim do, on from the other end of what is loaded, saying so.
            again = 0 if forward else len(lines) - 1
            found = await asyncio.to_thread(find_line, lines, query, forward, again)
            wrapped = ", wrapped to the top" if forward else ", wrapped to the bottom"
        if found is not None:
            rank = await asyncio.to_thread(match_rank, lines, query, found)
            self._show_match(starts[found], rank, wrapped)
        elif not forward and self.window.start > 0 and self.job_id is not None:
            self.note = "searching earlier output…"
            self._show_status()
            await self._search_earlier(self.job_id, query)
        else:
            self.note = f"no {'later' if forward else 'earlier'} match for {query.text!r}"
            self._show_status()

    async def _search_earlier(self, job_id: int, query: Query) -> None:
        read = 0
        try:
            while self.window.start > 0 and read < SEARCH_READ_LIMIT_BYTES:
                before = self.window.start
                added = await self._read_earlier(job_id)
                read += before - self.window.start
                found = find_line(self.window.lines[:added], query, False, added - 1)
                if found is not None:
                    lines = list(self.window.lines)
                    rank = await asyncio.to_thread(match_rank, lines, query, found)
                    self._show_match(self.window.starts[found], rank)
                    return
            where = "in the log" if self.window.start == 0 else f"in the last {size(read)}"
            self.note = f"no earlier match for {query.text!r} {where}"
        except TetherError as exc:
            self.note = f"search stopped: {exc}"
        finally:
            self._show_status()

    def _show_match(self, offset: int, rank: Tuple[int, int], wrapped: str = "") -> None:
        """Show the line at byte `offset` as the match, if it is still loaded, and
        which match it is among the loaded lines (``match 3/17``; ``+`` when
        earlier output is not loaded, and may hold more)."""
        index = self.window.index_of_offset(offset)
        if not self.window.starts or self.window.starts[index] != offset:
            return
        more = "+" if self.window.start > 0 else ""
        self.note = f"match {rank[0]}/{rank[1]}{more}{wrapped}"
        self.lines.show_line(index, offset)
        self._show_status()

    def _query_text(self) -> str:
        return self.lines.search.text if self.lines.search is not None else ""

    # -- the status line --------------------------------------------------------------------

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR and event.worker.error is not None:
            self.problem = f"log view error: {event.worker.error}"
            self._show_status()

    def _show_status(self) -> None:
        # Composed children are there from before the mount event ends.
        if self.children:
            self.query_one("#log-status", Static).update(self.status_text())

    def status_text(self) -> Text:
        """The line under the log (see `tui.app.log_status`)."""
        if self.job_id is None:
            return Text("no job selected", style="dim")
        search = self.lines.search
        return status_line(
            self.window,
            self.log_size,
            badge=state_badge(self.ended, self.detached, self.lines.following),
            problem=self.problem,
            search=search.text if search is not None else None,
            note=self.note,
        )
