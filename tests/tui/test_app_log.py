"""Pilot tests of the log view against a real runner: tail first, earlier output on
scroll-up within a byte budget, follow that pauses and resumes, progress bars,
colours, bad UTF-8, and search."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

from textual.app import App, ComposeResult

from protocol.jobs import JobState
from tests.conftest import UserEnv
from tests.tui.conftest import PY
from tests.tui.pilot_helpers import (
    log_lines,
    make_app,
    screen_text,
    shows,
    type_text,
    until,
    until_connected,
)
from tui.app.host_monitor import HostMonitor
from tui.app.log_lines import LogLines
from tui.app.log_panel import LogPanel


def run_script(env: UserEnv, script: str) -> int:
    out = env.tether("run", "--", PY, "-c", textwrap.dedent(script), check=True)
    return int(out.stdout)


class LogHarness(App[None]):
    """Just the log panel of one job, with a small budget to make trimming visible."""

    def __init__(self, job_id: int, budget_bytes: int) -> None:
        super().__init__()
        self.monitor = HostMonitor("", watch_stats=False)
        self.job_id = job_id
        self.budget_bytes = budget_bytes

    def compose(self) -> ComposeResult:
        yield LogPanel(self.monitor, budget_bytes=self.budget_bytes)

    def on_mount(self) -> None:
        self.monitor.start()

    @property
    def panel(self) -> LogPanel:
        return self.query_one(LogPanel)


def numbers(lines: list[str]) -> list[int]:
    return [int(m.group(1)) for line in lines if (m := re.fullmatch(r"line (\d+)", line))]


async def test_big_log_opens_at_its_tail_and_scrolling_up_reads_earlier_output(
    app_env: UserEnv,
) -> None:
    total = 300_000
    job = run_script(app_env, f"for i in range({total}): print(f'line {{i}}')")
    app_env.tether("logs", "-f", str(job), timeout=60)  # wait until it has all been written
    size = app_env.job_dir(job).joinpath("output.log").stat().st_size
    app = LogHarness(job, budget_bytes=400_000)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: app.monitor.connected)
        app.panel.job_id = job
        panel = app.panel
        await until(pilot, lambda: numbers(log_lines(panel))[-1:] == [total - 1], what="tail")
        window = panel.window
        assert window.start > 0 and window.end == size
        assert window.end - window.start < 100_000  # only the tail was read
        assert "succeeded" in str(panel.status_text())
        panel.lines.focus()
        # Home goes to the top of what is loaded, which reads the output before it.
        for _ in range(12):
            start = window.start
            await pilot.press("home")
            await until(pilot, lambda: window.start < start, what="earlier output loaded")
        held = numbers(window_text(panel))
        assert held == list(range(held[0], held[0] + len(held)))  # contiguous, nothing doubled
        assert window.held_bytes <= 400_000 + 300_000
        # The budget let the far end go: the window no longer reaches the tail.
        assert window.end < size
        assert "reading back" in str(panel.status_text())
        # End jumps back to the newest output, and follows it.
        await pilot.press("end")
        await until(pilot, lambda: numbers(log_lines(panel))[-1:] == [total - 1], what="tail again")
        assert panel.window.end == size and panel.lines.following
        await app.monitor.close()


def window_text(panel: LogPanel) -> list[str]:
    return [line.decode() for line in panel.window.lines]


async def test_follow_pauses_when_scrolled_up_and_resumes_at_the_end(
    app_env: UserEnv, tmp_path: Path
) -> None:
    # The job writes until the test says stop, so a slow app (a loaded machine,
    # coverage) still sees output arrive while it is paused.
    stop = tmp_path / "stop"
    job = run_script(
        app_env,
        f"""
        import os, time
        i = 0
        while not os.path.exists({str(stop)!r}) and i < 20000:
            print(f'line {{i}}', flush=True)
            i += 1
            time.sleep(0.02)
        """,
    )
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: panel.job_id == job and len(numbers(log_lines(panel))) > 5)
        panel.lines.focus()
        # Following: the newest line is the last one on screen.
        await until(pilot, lambda: numbers(log_lines(panel))[-1] > 30, what="output flowing")
        await shows(pilot, app, "following")
        await pilot.press("up", "up", "up")
        assert not panel.lines.following
        await until(pilot, lambda: "paused" in screen_text(app))
        shown = log_lines(panel)
        seen = panel.window.line_count
        await until(
            pilot, lambda: panel.window.line_count > seen + 20, what="more output meanwhile"
        )
        assert log_lines(panel) == shown  # the view stays where the person put it
        await pilot.press("end")
        assert panel.lines.following
        await until(
            pilot,
            lambda: numbers(log_lines(panel))[-1] == numbers(window_text(panel))[-1],
            what="pinned to the newest line again",
        )
        stop.touch()
        await until(pilot, lambda: app.current_monitor.job(job).state is JobState.SUCCEEDED)
        last = len(app_env.job_dir(job).joinpath("output.log").read_bytes().splitlines()) - 1
        await until(pilot, lambda: numbers(log_lines(panel))[-1:] == [last])
        assert numbers(window_text(panel)) == list(range(last + 1))
        await app.action_quit()


async def test_progress_bar_updated_with_carriage_returns_is_one_line(app_env: UserEnv) -> None:
    job = run_script(
        app_env,
        """
        import sys, time
        from tqdm import tqdm
        print('epoch 1', flush=True)
        for _ in tqdm(range(300), file=sys.stdout, mininterval=0, ascii=True, ncols=60):
            time.sleep(0.002)
        print('done', flush=True)
        """,
    )
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: "done" in log_lines(panel), what="the job's last line")
        lines = log_lines(panel)
        assert lines[0] == "epoch 1" and lines[-1] == "done"
        assert len(lines) == 3, lines
        assert "100%" in lines[1] and "300/300" in lines[1]
        raw = app_env.job_dir(job).joinpath("output.log").read_bytes()
        assert raw.count(b"\r") > 100  # the runner kept every update; the view shows one
        await app.action_quit()


async def test_ansi_colours_show_and_invalid_utf8_is_replaced_not_fatal(app_env: UserEnv) -> None:
    run_script(
        app_env,
        r"""
        import sys
        out = sys.stdout.buffer
        out.write(b'\x1b[31mred\x1b[0m plain\n')
        out.write(b'bad \xff\xfe bytes\n')
        out.write(b'\x1b]0;a title\x07tab\there\n')
        """,
    )
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: len(log_lines(panel)) == 3, what="three lines")
        assert log_lines(panel) == ["red plain", "bad \ufffd\ufffd bytes", "tab     here"]
        strip = panel.lines.render_line(0)
        red = next(segment for segment in strip if segment.text.startswith("red"))
        assert red.style is not None and red.style.color is not None
        assert red.style.color.number == 1  # ANSI red: a 256-colour terminal shows it as is
        await until(pilot, lambda: "red plain" in screen_text(app), what="drawn on screen")
        await app.action_quit()


async def test_search_jumps_between_matches_and_reaches_into_earlier_output(
    app_env: UserEnv,
) -> None:
    run_script(
        app_env,
        """
        for i in range(6000):
            print(f'needle {i}' if i in (10, 4500, 5500) else f'hay {i}')
        """,
    )
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: "hay 5999" in log_lines(panel), what="the tail")
        assert panel.window.start > 0  # "needle 10" is not loaded yet
        assert "n New" in screen_text(app).splitlines()[-1]  # the jobs table has the keys
        panel.lines.focus()
        # In the log, n is the next match, with a search or not: the footer says so.
        await until(pilot, lambda: "n Next" in screen_text(app).splitlines()[-1])
        await pilot.press("n")
        await until(pilot, lambda: "no search yet: / searches the log" in screen_text(app))
        assert app.screen.__class__.__name__ != "NewJobScreen"
        await pilot.press("slash")
        await type_text(pilot, "needle")
        await pilot.press("enter")
        await until(pilot, lambda: "needle 5500" in log_lines(panel), what="nearest match above")
        assert not panel.lines.following
        await until(pilot, lambda: "match 2/2+" in screen_text(app), what="which match, of what")
        await pilot.press("N")
        await until(pilot, lambda: "needle 4500" in log_lines(panel))
        await pilot.press("N")  # beyond what is loaded: the search reads earlier output
        await until(pilot, lambda: "needle 10" in log_lines(panel), what="match in earlier output")
        assert panel.window.start == 0
        await until(pilot, lambda: "match 1/3 " in screen_text(app), what="all loaded: no +")
        await pilot.press("n")
        await until(pilot, lambda: "needle 4500" in log_lines(panel))
        await pilot.press("n", "n")  # past the last match: on from the top, said
        await until(
            pilot, lambda: "match 1/3, wrapped to the top" in screen_text(app), what="the wrap"
        )
        assert "needle 10" in log_lines(panel)
        await pilot.press("N")
        await until(pilot, lambda: "match 3/3, wrapped to the bottom" in screen_text(app))
        await pilot.press("slash")
        await type_text(pilot, "absent")
        await pilot.press("enter")
        await until(pilot, lambda: "no earlier match for 'absent'" in screen_text(app))
        await pilot.press("escape")  # clears the search
        assert panel.lines.search is None
        await app.action_quit()


def _strip_text(strip: Any) -> str:
    return "".join(segment.text for segment in strip)


async def test_a_fast_writer_does_not_hold_up_the_keys(app_env: UserEnv) -> None:
    """10,000 lines a second stream in while the person moves around the log."""
    run_script(
        app_env,
        """
        import sys, time
        end = time.time() + 6
        i = 0
        while time.time() < end:
            sys.stdout.write(''.join(f'line {j}\\n' for j in range(i, i + 100)))
            sys.stdout.flush()
            i += 100
            time.sleep(0.01)
        """,
    )
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: panel.window.line_count > 5000, what="a fast stream")
        lines = panel.query_one(LogLines)
        lines.focus()
        await pilot.press("pageup")
        assert not lines.following
        top = lines.first_visible
        await pilot.press("pageup")
        assert lines.first_visible < top  # handled at once, not after the stream
        await pilot.press("end")
        assert lines.following
        await app.action_quit()


async def test_less_keys_move_the_log(app_env: UserEnv) -> None:
    """j and k a line, g and G the top and the end, as in less."""
    job = run_script(app_env, "for i in range(500): print(f'line {i}')")
    app_env.tether("logs", "-f", str(job), timeout=60)
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await until_connected(pilot, app)
        panel = app.current_view.query_one(LogPanel)
        await until(pilot, lambda: numbers(log_lines(panel))[-1:] == [499], what="the tail")
        panel.lines.focus()
        bottom = numbers(log_lines(panel))[-1]
        await pilot.press("k", "k", "k")
        await until(pilot, lambda: numbers(log_lines(panel))[-1] == bottom - 3, what="k: 3 up")
        assert not panel.lines.following
        await pilot.press("j")
        await until(pilot, lambda: numbers(log_lines(panel))[-1] == bottom - 2, what="j: 1 down")
        await pilot.press("g")
        await until(pilot, lambda: numbers(log_lines(panel))[:1] == [0], what="g: the top")
        await pilot.press("G")
        await until(pilot, lambda: numbers(log_lines(panel))[-1:] == [499], what="G: the end")
        assert panel.lines.following
        await app.action_quit()
