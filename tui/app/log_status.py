"""The status line under a log: follow state, what needs reading, what is loaded."""

from __future__ import annotations

from typing import Optional

from rich.text import Text

from protocol.jobs import JobInfo
from protocol.units import size
from tui.app.log_window import LogWindow
from tui.job_text import exit_text
from tui.visible import visible


def state_badge(ended: Optional[JobInfo], detached: bool, following: bool) -> Text:
    """The job's end once every byte is shown; else reading back, following or paused."""
    if ended is not None and not detached:
        state = ended.state.value
        style = "green" if state == "succeeded" else "red"
        return Text(f"■ {state} ({exit_text(ended)})", style=style)
    if detached:
        return Text("◆ reading back (End: newest)", style="yellow")
    if following:
        return Text("● following", style="green")
    return Text("‖ paused (End: follow)", style="yellow")


def status_line(
    window: LogWindow,
    log_size: int,
    *,
    badge: Text,
    problem: str,
    search: Optional[str],
    note: str,
) -> Text:
    """One line: the badge, then what needs reading (a problem, the search and its
    outcome), then what part of the log is loaded: the first to go when it is cut."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append_text(badge)
    if problem:
        text.append(f"  {visible(problem)}", style="bold red")
    if search is not None:
        text.append(f"  /{visible(search)}", style="bold")
    if note:
        text.append(f"  {visible(note)}", style="italic")
    held = window.end - window.start
    lines = "line" if window.line_count == 1 else "lines"
    text.append(f"  {window.line_count:,} {lines}", style="dim")
    text.append(f" {size(held)}", style="dim")
    if log_size > held:
        text.append(f" of {size(log_size)}", style="dim")
    if window.start > 0:
        text.append(f"  ↑ {size(window.start)} earlier", style="dim")
    return text
