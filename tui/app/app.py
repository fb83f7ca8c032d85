"""`TetherApp`: the hosts bar, one `HostView` per host, the footer, and the actions.

The app composes and dispatches; what each part shows lives in its own module.
It owns one `HostMonitor` per host (and so every session and background task),
and closes them all when it quits. Actions work on the host on screen and the
job highlighted in its table; each one is a key (footer, help screen) and a
command in the palette (Ctrl+P).
"""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence

from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer

from protocol.jobs import JobInfo, JobSpec, JobState
from protocol.signals import nothing_to_signal
from protocol.units import duration, plural, size
from tui.app.collector import EVERY_S as COLLECT_EVERY_S
from tui.app.collector import CollectorPacing
from tui.app.commands import Command, palette_commands
from tui.app.desktop_notice import terminal_notice
from tui.app.host_bar import HostBar
from tui.app.host_list import HostListError, forget_host, remember_host, ssh_config_aliases
from tui.app.host_monitor import HostChange, HostKeyQuestion, HostMonitor, SessionFactory
from tui.app.host_view import HostView
from tui.app.jobs_table import JobsTable
from tui.app.log_lines import LogLines
from tui.app.log_panel import LogPanel
from tui.app.metrics_panel import MetricsPanel
from tui.app.screens.add_host import AddHostScreen
from tui.app.screens.confirm import ConfirmScreen
from tui.app.screens.describe import DescribeScreen
from tui.app.screens.help import HelpScreen, Section, binding_rows
from tui.app.screens.host_key import HostKeyScreen
from tui.app.screens.host_picker import HostPickerScreen
from tui.app.screens.log_screen import LogScreen
from tui.app.screens.new_job import NewJobScreen
from tui.app.screens.pull import PullScreen
from tui.app.screens.signal_picker import SignalPickerScreen
from tui.app.shell import shell_beside_app
from tui.config import ConfigError, load_config
from tui.errors import TetherError
from tui.hosts import is_local, make_app_session
from tui.shell.on_host import find_job
from tui.sync.progress import OnProgress
from tui.sync.pull import PullResult, default_pull_dir, pull_outputs
from tui.visible import visible, visible_lines

_HERE = Path(__file__).resolve().parent

#: Keys that move around, inherited from Textual's widgets (shown in the help).
MOVEMENT_KEYS = [
    ("↑ / ↓", "move in the jobs table, scroll the log"),
    ("PgUp / PgDn", "scroll the log a page (up pauses follow)"),
    ("Home / g", "top of the loaded log (loads earlier output)"),
    ("End / G", "bottom of the log: follow again"),
    ("Tab", "move between the jobs table, the log and the metrics"),
    ("Enter", "on a job: its log full screen"),
    ("Ctrl+P", "command palette: every action by name"),
]


class TetherApp(App[int]):
    # Absolute, so that a subclass defined elsewhere (a test's) finds them too.
    CSS_PATH = [
        _HERE / name
        for name in ("app.tcss", "host_view.tcss", "log_panel.tcss", "metrics_panel.tcss")
    ]
    TITLE = "tether"
    BINDINGS = [
        Command("n", "new_job", "New", tooltip="Start a job on this host", title="New job"),
        Command(
            "c", "cancel_job", "Cancel", tooltip="Cancel the highlighted job", title="Cancel job"
        ),
        Command(
            "r", "rerun_job", "Rerun", tooltip="Run the highlighted job again", title="Rerun job"
        ),
        Command(
            "z",
            "pause_job",
            "Pause",
            show=False,
            tooltip="Pause the highlighted running job (SIGSTOP; its GPUs stay held), or resume it",
            title="Pause or resume job",
        ),
        # K as htop's k, which here scrolls the log up (j/k, as in less).
        Command(
            "K",
            "signal_job",
            "Signal",
            show=False,
            tooltip="Signal the highlighted running job: TERM, KILL, USR1…",
            title="Send a signal to job",
        ),
        Command(
            "p",
            "pull_job",
            "Pull",
            tooltip="Copy the highlighted job's new and changed files here",
            title="Pull job outputs",
        ),
        Command(
            "f",
            "full_log",
            "Log",
            tooltip="The highlighted job's log, full screen",
            title="Full-screen log",
        ),
        Command(
            "d",
            "describe_job",
            "Describe",
            show=False,
            tooltip="Everything about the highlighted job: command, environment, GPUs, times",
            title="Describe job",
        ),
        Command(
            "S",
            "open_shell",
            "Shell",
            show=False,
            tooltip="A shell on this host, where the highlighted job runs",
            title="Shell on the host",
        ),
        Command(
            "h", "switch_host", "Host", tooltip="Switch to another open host", title="Switch host"
        ),
        Command(
            "a",
            "add_host",
            "Add host",
            show=False,
            tooltip="Open another host (SSH aliases offered)",
            title="Add host",
        ),
        Command(
            "R",
            "retry_host",
            "Reconnect",
            show=False,
            tooltip="Try this host again now",
            title="Reconnect now",
        ),
        Command("question_mark", "help", "Help", tooltip="Help: every key", title="Help"),
        Command("q", "quit", "Quit", tooltip="Quit; jobs keep running", title="Quit"),
        # Priority, as in the new-job form: focus moves when Tab is typed, so the keys
        # typed after it in one burst go where it moved (`/` then searches the log).
        Binding("tab", "focus_next", show=False, priority=True),
        Binding("shift+tab", "focus_previous", show=False, priority=True),
    ]

    def __init__(
        self,
        hosts: Sequence[str],
        *,
        clock: Callable[[], float] = time.time,
        session_factory: SessionFactory = make_app_session,
        watch_stats: bool = True,
        remember_hosts: bool = True,
        local_cwd: Optional[str] = None,
        readonly: bool = False,
    ) -> None:
        super().__init__()
        #: Watching only (`tether --readonly`, as k9s and nvitop have): nothing that
        #: starts or stops a job on a host is offered, in keys, footer or palette.
        self.readonly = readonly
        self.clock = clock
        self._factory = session_factory
        self._watch_stats = watch_stats
        self._remember = remember_hosts
        self._local_cwd = local_cwd or os.getcwd()
        self._ids = itertools.count()
        self.monitors: List[HostMonitor] = []
        for host in hosts:
            if not any(_same_host(host, m.host) for m in self.monitors):
                self.monitors.append(self._new_monitor(host))
        # Kept by reference: a query from the app searches only the screen on top,
        # and a dialog may be on top when a host changes.
        self.host_bar = HostBar(self.clock, id="host-bar")
        self.views: Dict[str, HostView] = {
            m.host: HostView(m, self.clock, id=f"host-{next(self._ids)}") for m in self.monitors
        }
        self.switcher = ContentSwitcher(initial=self.views[self.monitors[0].host].id, id="hosts")
        self.startup_notes: List[str] = []
        self._collector = CollectorPacing()
        self._notify_mode = "desktop"
        try:
            self._notify_mode = load_config().app.notify
        except ConfigError as exc:
            self.startup_notes.append(str(exc))

    def _new_monitor(self, host: str) -> HostMonitor:
        monitor = HostMonitor(
            host, session_factory=self._factory, clock=self.clock, watch_stats=self._watch_stats
        )
        monitor.ask_host_key = self._ask_host_key
        monitor.on_job_ended = lambda job: self._job_ended(monitor, job)
        monitor.on_job_stalled = lambda job: self._job_stalled(monitor, job)
        monitor.on_notice = lambda text: self.notify(
            visible_lines(text), title=monitor.label, severity="warning", timeout=6, markup=False
        )
        return monitor

    # -- composing --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield self.host_bar
        with self.switcher:
            yield from self.views.values()
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        bar = self.host_bar
        bar.current = self.monitors[0].host
        bar.set_hosts(self.monitors)
        for monitor in self.monitors:
            monitor.background = monitor.host != bar.current  # before its streams open
            self._start(monitor)
        self.set_interval(1.0, bar.refresh_tabs)
        self.set_interval(COLLECT_EVERY_S, self._collector.settle)
        self.current_view.table.focus()
        for note in self.startup_notes:
            self.notify(visible_lines(note), severity="warning", timeout=10, markup=False)

    def _start(self, monitor: HostMonitor) -> None:
        monitor.listeners.append(self._monitor_changed)
        monitor.start()

    def _monitor_changed(self, change: HostChange) -> None:
        if change is HostChange.LINK:
            self.host_bar.refresh_tabs()
        elif change is HostChange.JOBS:
            self._collector.jobs_held(sum(len(m.jobs) for m in self.monitors))

    # -- where actions apply ------------------------------------------------------------------

    @property
    def current_view(self) -> HostView:
        current = self.switcher.current
        return next(v for v in self.views.values() if v.id == current)

    @property
    def current_monitor(self) -> HostMonitor:
        return self.current_view.monitor

    def _selected(self, verb: str) -> Optional[JobInfo]:
        job = self.current_view.selected_job
        if job is None:
            self.notify(f"no job to {verb}: pick one in the jobs table first", severity="warning")
        return job

    # -- jobs ---------------------------------------------------------------------------------

    def action_new_job(self) -> None:
        self._open_form(None)

    def action_rerun_job(self) -> None:
        job = self._selected("rerun")
        if job is None:
            return
        if job.snapshot is None:
            self._open_form(job)  # edit, then run: the host holds the code
            return
        monitor = self.current_monitor

        def answered(yes: Optional[bool]) -> None:
            if yes:
                self.run_worker(self._rerun(monitor, job), group="actions")

        files, nbytes = job.snapshot.files, size(job.snapshot.bytes)
        self.push_screen(
            ConfirmScreen(
                "Rerun job",
                f"Run job {job.id} ({visible(job.name)}) again on {visible(monitor.label)}, "
                f"in a fresh copy of its snapshot ({plural(files, 'file')}, {nbytes})? Local edits "
                "made since are not in it: `tether run --sync` sends a new one.",
                yes="Rerun",
            ),
            answered,
        )

    async def _rerun(self, monitor: HostMonitor, job: JobInfo) -> None:
        try:
            again = await monitor.connected_session().rerun(job.id)
        except TetherError as exc:
            self._failed(f"job {job.id} not rerun", exc)
            return
        self._started(monitor, again)

    def _started(self, monitor: HostMonitor, job: JobInfo) -> None:
        monitor.note_job(job)
        view = self.views.get(monitor.host)
        if view is not None:
            view.table.select_job(job.id)
        self.notify(f"job {job.id} started: {visible(job.name)}", timeout=4, markup=False)

    def action_pull_job(self) -> None:
        job = self._selected("pull")
        if job is None:
            return
        monitor = self.current_monitor
        host = "local" if is_local(monitor.host) else monitor.host
        dest = Path(self._local_cwd) / default_pull_dir(host, job.id)

        async def pull(on_progress: OnProgress) -> PullResult:
            session = monitor.connected_session()
            return await pull_outputs(session, job.id, [], dest, on_progress=on_progress)

        title = f"Pull job {job.id} from {visible(monitor.label)}"
        self.push_screen(PullScreen(title, visible(str(dest)), pull))

    def _open_form(self, rerun_of: Optional[JobInfo]) -> None:
        monitor = self.current_monitor
        local = is_local(monitor.host)

        async def submit(spec: JobSpec) -> JobInfo:
            return await monitor.connected_session().submit(spec)

        def started(job: Optional[JobInfo]) -> None:
            if job is not None:
                self._started(monitor, job)

        screen = NewJobScreen(
            monitor.label,
            default_cwd=self._local_cwd if local else None,
            cwd_hint=self._local_cwd if local else "your home directory on the host",
            submit=submit,
            rerun_of=rerun_of,
        )
        self.push_screen(screen, started)

    def action_cancel_job(self) -> None:
        if self.current_view.table.marked_jobs:
            self._cancel_marked()
            return
        job = self._selected("cancel")
        if job is None:
            return
        if not job.state.is_active:
            self.notify(f"job {job.id} has already ended ({job.state.value})", severity="warning")
            return
        monitor = self.current_monitor

        def answered(yes: Optional[bool]) -> None:
            if yes:
                self.run_worker(self._cancel(monitor, job), group="actions")

        self.push_screen(
            ConfirmScreen(
                "Cancel job",
                f"Cancel job {job.id} ({visible(job.name)}) on {visible(monitor.label)}? "
                "It gets SIGTERM, "
                "then SIGKILL if it has not stopped after the grace period.",
                yes="Cancel job",
            ),
            answered,
        )

    def action_pause_job(self) -> None:
        """Pause a running job, resume a paused one: no question asked, as either
        is undone by the same key."""
        job = self._selected("pause")
        if job is None:
            return
        if job.state not in (JobState.RUNNING, JobState.PAUSED):
            now = (
                f"is {job.state.value}" if job.state.is_active else f"has ended ({job.state.value})"
            )
            self.notify(f"job {job.id} {now}: only a running job can be paused", severity="warning")
            return
        self.run_worker(
            self._pause(self.current_monitor, job, job.state is JobState.RUNNING),
            group="actions",
        )

    async def _pause(self, monitor: HostMonitor, job: JobInfo, pause: bool) -> None:
        verb = "paused" if pause else "resumed"
        try:
            changed = await monitor.connected_session().pause_job(job.id, pause)
        except TetherError as exc:
            self._failed(f"job {job.id} not {verb}", exc)
            return
        held = f"; its GPUs ({','.join(map(str, changed.gpus))}) stay held" if pause else ""
        self.notify(f"job {changed.id} {verb}{held if changed.gpus else ''}", timeout=4)

    def action_signal_job(self) -> None:
        """A signal for the highlighted job, picked from a list as in htop's kill
        menu; a job that is not running is said so, and nothing opens."""
        job = self._selected("signal")
        if job is None:
            return
        refused = nothing_to_signal(job.id, job.state)
        if refused is not None:
            self.notify(refused, severity="warning")
            return
        monitor = self.current_monitor

        def picked(name: Optional[str]) -> None:
            if name is not None:
                self.run_worker(self._signal(monitor, job, name), group="actions")

        about = f"Job {job.id} ({visible(job.name)}) on {visible(monitor.label)}: its processes get"
        self.push_screen(SignalPickerScreen(f"Signal job {job.id}", about), picked)

    async def _signal(self, monitor: HostMonitor, job: JobInfo, name: str) -> None:
        try:
            sent = await monitor.connected_session().signal_job(job.id, name)
        except TetherError as exc:
            self._failed(f"job {job.id} not signalled", exc)
            return
        group = sent.process_group
        self.notify(f"sent SIG{sent.signal} to job {job.id} (process group {group})", timeout=4)

    def _cancel_marked(self) -> None:
        """Cancel every marked job that is still active, after one question."""
        view, monitor = self.current_view, self.current_monitor
        marked = view.table.marked_jobs
        active = [job for job in marked if job.state.is_active]
        if not active:
            self.notify(
                f"the {plural(len(marked), 'marked job')} have all ended: nothing to cancel",
                severity="warning",
            )
            return
        ids = ", ".join(str(job.id) for job in active)
        ended = len(marked) - len(active)
        skipped = f" ({plural(ended, 'marked job')} ended already)" if ended else ""

        def answered(yes: Optional[bool]) -> None:
            if yes:
                view.table.clear_marks()
                self.run_worker(self._cancel_all(monitor, active), group="actions")

        self.push_screen(
            ConfirmScreen(
                "Cancel marked jobs",
                f"Cancel {plural(len(active), 'job')} on {visible(monitor.label)}: {ids}?"
                f"{skipped} Each gets SIGTERM, then SIGKILL if it has not stopped after "
                "the grace period.",
                yes=f"Cancel {plural(len(active), 'job')}",
            ),
            answered,
        )

    async def _cancel_all(self, monitor: HostMonitor, jobs: List[JobInfo]) -> None:
        """One at a time, each failure said on its own; a summary when all went."""
        done = 0
        for job in jobs:
            done += await self._cancel(monitor, job, quiet=True)
        if done:
            self.notify(f"cancelled {plural(done, 'job')}", timeout=4)

    async def _cancel(self, monitor: HostMonitor, job: JobInfo, *, quiet: bool = False) -> bool:
        try:
            session = monitor.session
            if session is None:
                raise TetherError(f"{monitor.label} is not connected")
            ended = await session.cancel(job.id)
        except TetherError as exc:
            self._failed(f"job {job.id} not cancelled", exc)
            return False
        if not quiet:
            self.notify(f"job {ended.id} {ended.state.value}", timeout=4)
        return True

    def _job_ended(self, monitor: HostMonitor, job: JobInfo) -> None:
        """A job on an open host ended: said on screen, and to the desktop as the
        settings say (`tui.app.desktop_notice`), for the person looking elsewhere."""
        how = job.state.value
        if job.state is JobState.FAILED and job.exit_code is not None:
            how += f" (exit {job.exit_code})"
        body = f"job {job.id} ({job.name}) {how}"
        severity: SeverityLevel = "warning"  # cancelled: someone chose it
        if job.state is JobState.SUCCEEDED:
            severity = "information"
        elif job.state in (JobState.FAILED, JobState.LOST):
            severity = "error"
        label = monitor.label
        self.notify(visible(body), title=visible(label), severity=severity, markup=False)
        sequence = terminal_notice(f"tether: {label}", body, os.environ, self._notify_mode)
        self.tell_terminal(sequence)

    def _job_stalled(self, monitor: HostMonitor, job: JobInfo) -> None:
        """A running job went quiet (no output, no metric for its ``--stall-after``):
        told like an end, since a hung job holds its GPUs for nothing."""
        quiet = duration(job.stall_after or 0)
        body = f"job {job.id} ({job.name}) stalled: no output or metric for {quiet}"
        label = monitor.label
        self.notify(visible(body), title=visible(label), severity="warning", markup=False)
        self.tell_terminal(terminal_notice(f"tether: {label}", body, os.environ, self._notify_mode))

    def tell_terminal(self, sequence: str) -> None:
        """Write `sequence` to the terminal, as `App.bell` writes its bell (nothing
        when headless or empty)."""
        if sequence and not self.is_headless and self._driver is not None:
            self._driver.write(sequence)

    def _failed(self, title: str, exc: TetherError) -> None:
        """An action that did not happen, and why, until the person has read it."""
        self.notify(
            visible_lines(str(exc)), title=title, severity="error", timeout=10, markup=False
        )

    def action_full_log(self) -> None:
        job = self._selected("show")
        if job is not None:
            self.push_screen(LogScreen(self.current_monitor, job))

    def action_describe_job(self) -> None:
        job = self._selected("describe")
        if job is None:
            return
        monitor = self.current_monitor

        def then(log_of: Optional[JobInfo]) -> None:
            if log_of is not None:
                self.push_screen(LogScreen(monitor, log_of))

        self.push_screen(DescribeScreen(monitor, job), then)

    def action_open_shell(self) -> None:
        monitor, job = self.current_monitor, self.current_view.selected_job
        self.run_worker(self._shell(monitor, job), group="shell", exclusive=True)

    async def _shell(self, monitor: HostMonitor, job: Optional[JobInfo]) -> None:
        """The shell, in the job's place as the runner knows it now (a queued job may
        have been given its GPUs since the table was drawn)."""
        try:
            session = monitor.connected_session()
            fresh = await find_job(session, job.id) if job is not None else None
            status = await shell_beside_app(self, session, fresh)
        except TetherError as exc:
            self._failed(f"no shell on {visible(monitor.label)}", exc)
            return
        self.notify(f"shell on {visible(monitor.label)} exited {status}", timeout=4, markup=False)

    def on_jobs_table_job_selected(self, event: JobsTable.JobSelected) -> None:
        self.action_full_log()

    # -- hosts --------------------------------------------------------------------------------

    def action_switch_host(self) -> None:
        def picked(host: Optional[str]) -> None:
            if host is not None:
                self.show_host(host)

        picker = HostPickerScreen(
            self.monitors, self.current_monitor.host, self.clock, forget=self.ask_forget_host
        )
        self.push_screen(picker, picked)

    def ask_forget_host(self, host: str) -> None:
        """Close `host` and take it off the remembered list, once the person says yes."""
        monitor = next((m for m in self.monitors if m.host == host), None)
        if monitor is None:
            return

        def answered(yes: Optional[bool]) -> None:
            if yes:
                self.run_worker(self.close_and_forget(monitor), group="actions")

        self.push_screen(
            ConfirmScreen(
                "Forget host",
                f"Close {visible(monitor.label)} and forget it? Its jobs keep running "
                "there; `a` adds it again.",
                yes="Forget",
            ),
            answered,
        )

    async def close_and_forget(self, monitor: HostMonitor) -> None:
        host = monitor.host
        self.monitors = [m for m in self.monitors if m is not monitor]
        view = self.views.pop(host)
        if self.switcher.current == view.id:
            self.show_host(self.monitors[0].host)
        self.host_bar.set_hosts(self.monitors)
        await view.remove()
        await monitor.close()
        try:
            await asyncio.to_thread(forget_host, host)
        except (HostListError, OSError) as exc:
            self.notify(
                visible_lines(f"{host} is closed but still remembered: {exc}"),
                severity="warning",
                markup=False,
            )
            return
        self.notify(f"forgot {visible(host)}", timeout=4, markup=False)

    def on_host_bar_picked(self, event: HostBar.Picked) -> None:
        self.show_host(event.host)

    def show_host(self, host: str) -> None:
        view = self.views.get(host)
        if view is None:
            return
        self.switcher.current = view.id
        for monitor in self.monitors:  # stats at full rate for the host on screen only
            monitor.set_background(monitor.host != host)
        view.catch_up()
        bar = self.host_bar
        bar.current = host
        bar.refresh_tabs()
        self.current_view.table.focus()

    def action_add_host(self) -> None:
        self.run_worker(self._add_host_dialog(), group="actions")

    async def _add_host_dialog(self) -> None:
        aliases = await asyncio.to_thread(ssh_config_aliases)

        def chosen(host: Optional[str]) -> None:
            if host is not None:
                self.add_host(host)

        self.push_screen(AddHostScreen(aliases, [m.host for m in self.monitors]), chosen)

    def add_host(self, host: str) -> None:
        """Open `host` beside the others, switch to it, and remember it for next time."""
        monitor = self._new_monitor(host)
        self.monitors.append(monitor)
        view = HostView(monitor, self.clock, id=f"host-{next(self._ids)}")
        self.views[host] = view
        self.switcher.mount(view)
        self.host_bar.set_hosts(self.monitors)
        self._start(monitor)
        self.call_after_refresh(self.show_host, host)
        if self._remember:
            try:
                remember_host(host)
            except (HostListError, OSError) as exc:
                self.notify(
                    visible_lines(f"{host} is open but not remembered: {exc}"),
                    severity="warning",
                    markup=False,
                )

    def action_retry_host(self) -> None:
        self.current_monitor.retry_now()

    async def _ask_host_key(self, question: HostKeyQuestion) -> bool:
        answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

        def answered(accepted: Optional[bool]) -> None:
            if not answer.done():
                answer.set_result(bool(accepted))

        self.push_screen(HostKeyScreen(question), answered)
        return await answer

    # -- help, palette, quit ----------------------------------------------------------------

    def help_sections(self) -> List[Section]:
        return [
            ("Anywhere", binding_rows(self.BINDINGS)),
            ("On a host", binding_rows(HostView.BINDINGS)),
            ("In the log", binding_rows([*LogPanel.BINDINGS, *LogLines.BINDINGS])),
            ("In the metrics", binding_rows(MetricsPanel.BINDINGS)),
            ("Moving around", MOVEMENT_KEYS),
        ]

    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.help_sections()))

    @property
    def _withheld(self) -> frozenset[str]:
        return CHANGES_A_HOST if self.readonly else frozenset()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> Optional[bool]:
        return action not in self._withheld

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """The palette: every `Command` of the app and of the host on screen."""
        yield from palette_commands(self.BINDINGS, self, lambda a: a not in self._withheld)
        yield from palette_commands(HostView.BINDINGS, self.current_view)

    async def action_quit(self) -> None:
        await self.close_monitors()
        self.exit(0)

    async def on_unmount(self) -> None:
        # However the app ends (q, Ctrl+Q, an error), its sessions and tasks end with it.
        await self.close_monitors()
        self._collector.close()

    async def close_monitors(self) -> None:
        monitors, self.monitors = self.monitors, []
        await asyncio.gather(*(m.close() for m in monitors), return_exceptions=True)


#: The app's actions that start or stop jobs: not offered with ``--readonly``.
CHANGES_A_HOST = frozenset({"new_job", "cancel_job", "rerun_job", "pause_job", "signal_job"})


def _same_host(a: str, b: str) -> bool:
    return a == b or (is_local(a) and is_local(b))
