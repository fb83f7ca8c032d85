"""`w` wraps long lines in the log (as toggling ``less -S`` does), under Pilot against
a real runner: a long line over several rows with its colours and search marks,
following, scrolling, loading earlier output and resizing with wrap on; and the
window's row bookkeeping against a count from scratch, however the window moves."""

from __future__ import annotations

import itertools
import math
import re
import textwrap
from pathlib import Path
from typing import Any, Sequence

from hypothesis import given
from hypothesis import strategies as st
from textual.strip import Strip

from tests.conftest import UserEnv
from tests.tui.conftest import PY
from tests.tui.pilot_helpers import (
    log_lines,
    make_app,
    screen_text,
    type_text,
    until,
    until_connected,
)
from tui.app.app import TetherApp
from tui.app.log_panel import LogPanel
from tui.app.log_window import LogWindow

#: A line far wider than the screen, of words that say where in it they are.
LONG = " ".join(f"word{i:03d}" for i in range(60))


def run_script(env: UserEnv, script: str) -> int:
    out = env.tether("run", "--", PY, "-c", textwrap.dedent(script), check=True)
    return int(out.stdout)


def strip_text(strip: Strip) -> str:
    return "".join(segment.text for segment in strip)


def screen_strips(panel: LogPanel) -> list[Strip]:
    """The log's rows on screen, as drawn."""
    lines = panel.lines
    return [lines.render_line(y) for y in range(lines.scrollable_content_region.height)]


def screen_rows(panel: LogPanel) -> list[str]:
    """The rows on screen as text, each as wide as the view."""
    return [strip_text(strip) for strip in screen_strips(panel)]


def numbers(rows: Sequence[str], pattern: str) -> list[int]:
    return [int(m.group(1)) for row in rows if (m := re.search(pattern, row))]


async def open_log(pilot: Any, app: TetherApp, line: str = "") -> LogPanel:
    """The highlighted job's log, focused, once `line` is on screen (if given)."""
    await until_connected(pilot, app)
    panel = app.current_view.query_one(LogPanel)
    await until(pilot, lambda: not line or line in log_lines(panel), what=repr(line))
    panel.lines.focus()
    return panel


def shown_rows(panel: LogPanel) -> list[str]:
    """The rows on screen down to the last one drawn on (a short log leaves blanks)."""
    rows = [row.rstrip() for row in screen_rows(panel)]
    while rows and not rows[-1]:
        rows.pop()
    return rows


def long_line_rows(panel: LogPanel) -> list[str]:
    """The rows from the one that starts the long line to the one before `after`,
    each as wide as the view (a row may end in a space)."""
    rows = screen_rows(panel)
    first = next(i for i, row in enumerate(rows) if row.startswith("word000"))
    last = next(i for i, row in enumerate(rows) if row.rstrip() == "after")
    return rows[first:last]


async def test_w_wraps_a_long_line_over_rows_with_its_colours_and_back(
    app_env: UserEnv,
) -> None:
    run_script(
        app_env,
        f"""
        print('before')
        print('\\x1b[31m{LONG}\\x1b[0m')
        print('after')
        """,
    )
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_log(pilot, app, "after")
        width = panel.lines.scrollable_content_region.width
        assert shown_rows(panel)[-3:] == ["before", LONG[:width].rstrip(), "after"]  # cut

        await pilot.press("w")
        await until(pilot, lambda: "wrap on" in screen_text(app), what="the note")
        await until(pilot, lambda: "after" in shown_rows(panel)[-1:], what="the rows")
        width = panel.lines.scrollable_content_region.width
        rows = screen_rows(panel)
        wrapped = long_line_rows(panel)
        assert "".join(wrapped).rstrip() == LONG  # every character, in order, once
        assert len(wrapped) == math.ceil(len(LONG) / width) > 1  # cut at the width
        assert rows[rows.index(wrapped[0]) - 1].rstrip() == "before"
        assert panel.lines.virtual_size.width == 0  # nothing to scroll sideways
        continuation = screen_strips(panel)[rows.index(wrapped[1])]
        colours = {s.style.color.number for s in continuation if s.text.strip() and s.style}
        assert colours == {1}  # the wrapped part keeps the line's ANSI red

        await pilot.resize_terminal(100, 24)  # rows measured again for the new width
        await until(
            pilot,
            lambda: (
                len(long_line_rows(panel))
                == math.ceil(len(LONG) / panel.lines.scrollable_content_region.width)
            ),
            what="rows for the new width",
        )
        assert "".join(long_line_rows(panel)).rstrip() == LONG

        await pilot.press("w")
        await until(pilot, lambda: "wrap off" in screen_text(app), what="the note")
        width = panel.lines.scrollable_content_region.width
        await until(
            pilot,
            lambda: shown_rows(panel)[-3:] == ["before", LONG[:width].rstrip(), "after"],
            what="one row per line again",
        )
        await app.action_quit()


async def test_following_with_wrap_keeps_the_newest_line_in_view(
    app_env: UserEnv, tmp_path: Path
) -> None:
    stop = tmp_path / "stop"
    run_script(
        app_env,
        f"""
        import os, time
        i = 0
        while not os.path.exists({str(stop)!r}) and i < 20000:
            print(f'line {{i}} ' + '-' * 150 + f' end {{i}}', flush=True)
            i += 1
            time.sleep(0.02)
        """,
    )
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_log(pilot, app)
        await until(pilot, lambda: panel.window.line_count > 5, what="output flowing")
        await pilot.press("w")

        def newest_shown() -> bool:
            rows = shown_rows(panel)
            newest = int(panel.window.lines[-1].split()[1])
            return bool(rows) and rows[-1].endswith(f" end {newest}")

        seen = panel.window.line_count
        await until(pilot, lambda: panel.window.line_count > seen + 20, what="more output")
        await until(pilot, newest_shown, what="the newest line's end, last on screen")
        assert panel.lines.following

        await pilot.press("k", "k")  # a row up: follow pauses, the view stays put
        assert not panel.lines.following
        shown = screen_rows(panel)
        seen = panel.window.line_count
        await until(pilot, lambda: panel.window.line_count > seen + 20, what="more output")
        assert screen_rows(panel) == shown
        await pilot.press("end")
        assert panel.lines.following
        await until(pilot, newest_shown, what="pinned to the newest line again")
        stop.touch()
        await app.action_quit()


async def test_search_brings_a_match_in_a_wrapped_tail_into_view(app_env: UserEnv) -> None:
    run_script(
        app_env,
        """
        print('a' * 3000 + ' needle at the end')
        for i in range(200):
            print(f'short {i}')
        """,
    )
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_log(pilot, app, "short 199")
        await pilot.press("w")
        await until(pilot, lambda: "short 199" in shown_rows(panel), what="following, wrapped")
        assert "needle" not in "".join(screen_rows(panel))
        await pilot.press("slash")
        await type_text(pilot, "needle")
        await pilot.press("enter")
        await until(pilot, lambda: "match 1/1" in screen_text(app), what="the match")
        # The match is 38 rows into its line (it may straddle two rows): on screen,
        # highlighted in the wrapped rows.
        await until(
            pilot,
            lambda: "a needle at the end" in "".join(screen_rows(panel)),
            what="the match on screen",
        )
        marked = "".join(
            segment.text
            for strip in screen_strips(panel)
            for segment in strip
            if segment.style is not None and segment.style.reverse
        )
        assert marked == "needle"
        await app.action_quit()


async def test_earlier_output_loads_above_a_wrapped_view_without_moving_it(
    app_env: UserEnv,
) -> None:
    job = run_script(app_env, "for i in range(20000): print(f'line {i} ' + '.' * 120)")
    app_env.tether("logs", "-f", str(job), timeout=60)
    app = make_app(watch_stats=False)
    async with app.run_test(size=(80, 24)) as pilot:
        panel = await open_log(pilot, app, "line 19999 " + "." * 120)
        await pilot.press("w")
        await until(pilot, lambda: "wrap on" in screen_text(app))
        window = panel.window
        start, first = window.start, int(window.lines[0].split()[1])
        assert start > 0
        await pilot.press("home")
        await until(pilot, lambda: window.start < start, what="earlier output loaded")
        # The view stayed on the line it showed: the rows read above pushed it down.
        await until(
            pilot,
            lambda: numbers(screen_rows(panel), r"^line (\d+) ")[:1] == [first],
            what=f"line {first} still at the top",
        )
        assert window.row_count > 2 * window.line_count - 2  # each line is two rows
        await pilot.press("G")
        await until(pilot, lambda: "line 19999 " + "." * 120 in log_lines(panel))
        assert panel.lines.following
        await app.action_quit()


def measure(lines: Sequence[bytes]) -> list[int]:
    return [1 + len(line) // 3 for line in lines]


def counted_afresh(window: LogWindow) -> list[int]:
    return list(itertools.accumulate(measure(window.lines), initial=window.row_origin))


@given(st.binary(max_size=600).map(lambda b: b.replace(b"\r", b"")), st.data())
def test_rows_kept_as_the_window_moves_match_a_count_from_scratch(
    data: bytes, draw: st.DataObject
) -> None:
    """Open in the middle, then follow, read back and trim in any order: the rows
    each line begins at always agree with measuring every line again."""
    window = LogWindow()
    middle = draw.draw(st.integers(0, len(data)))
    window.reset(middle)
    window.measure_rows(measure)
    for _ in range(draw.draw(st.integers(1, 12))):
        step = draw.draw(st.sampled_from(["append", "prepend", "drop_head", "drop_tail"]))
        size = draw.draw(st.integers(0, 90))
        if step == "append" and window.end < len(data):
            window.append(data[window.end : window.end + size], window.end)
        elif step == "prepend" and window.start > 0:
            begin = max(0, window.start - size)
            window.prepend(data[begin : window.start], begin)
        elif step == "drop_head":
            window.drop_head(size % 4)
        elif step == "drop_tail":
            window.drop_tail(size % 4)
        assert [*window.row_starts, window.row_end] == counted_afresh(window)
        for index in range(window.line_count):
            row = window.row_of(index)
            assert window.line_at_row(row) == (index, 0)
            assert window.line_at_row(window.row_of(index + 1) - 1)[0] == index


def test_a_line_still_being_written_is_measured_again_as_it_grows() -> None:
    window = LogWindow()
    window.measure_rows(measure)
    window.append(b"first\nsecond", 0)
    assert window.row_count == 2 + 3
    window.append(b" line, longer now", 12)  # no newline yet: the same line grew
    assert window.line_count == 2
    assert [*window.row_starts, window.row_end] == counted_afresh(window)
    assert window.row_count == 2 + 1 + len(b"second line, longer now") // 3


def test_a_line_read_back_at_its_front_is_measured_again() -> None:
    """Opened mid-line, the first line is partial; reading back makes it whole and
    taller, and the lines below keep their rows."""
    data = b"top\n" + b"x" * 30 + b"\nnext\n"
    window = LogWindow()
    window.reset(20)
    window.measure_rows(measure)
    window.append(data[20:], 20)
    below = window.row_starts[1]
    window.prepend(data[10:20], 10)
    window.prepend(data[:10], 0)
    assert window.lines == [b"top", b"x" * 30, b"next"]
    assert [*window.row_starts, window.row_end] == counted_afresh(window)
    assert window.row_starts[2] == below and window.row_of(2) == 2 + 11


def test_without_a_measure_every_line_is_one_row() -> None:
    window = LogWindow()
    window.measure_rows(measure)
    window.append(b"a" * 20 + b"\nb\n", 0)
    assert (window.row_count, window.row_of(1), window.line_at_row(2)) == (8, 7, (0, 2))
    window.measure_rows(None)
    assert (window.row_count, window.row_of(1), window.line_at_row(1)) == (2, 1, (1, 0))
    assert window.row_starts == []
