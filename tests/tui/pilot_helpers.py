"""Driving the app in tests: typing, waiting for what a person would see, reading the screen."""

from __future__ import annotations

import time
from typing import Any, Callable

from textual.pilot import Pilot

from tui.app.app import TetherApp
from tui.app.log_panel import LogPanel


def make_app(hosts: list[str] | None = None, **kwargs: Any) -> TetherApp:
    kwargs.setdefault("remember_hosts", False)
    return TetherApp(hosts if hosts is not None else [""], **kwargs)


async def type_text(pilot: Pilot[Any], text: str) -> None:
    await pilot.press(*("space" if ch == " " else ch for ch in text))


async def until(
    pilot: Pilot[Any], predicate: Callable[[], Any], timeout: float = 30.0, what: str = ""
) -> Any:
    """Let the app run until `predicate()` is truthy (polling, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await pilot.pause(0.05)
    raise AssertionError(f"not within {timeout} s: {what or predicate} (last: {value!r})")


def screen_text(app: TetherApp) -> str:
    """Everything on screen as plain text, row by row (what a person reads)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip) for strip in strips)


def log_lines(panel: LogPanel) -> list[str]:
    """The log lines on screen, as text."""
    return [line.rstrip() for line in panel.lines.render_lines_text()]


async def until_connected(pilot: Pilot[Any], app: TetherApp) -> None:
    await until(pilot, lambda: app.current_monitor.connected, what="the host connected")
    await until(pilot, lambda: app.current_monitor.jobs_known, what="the job table arrived")


async def run_job(pilot: Pilot[Any], app: TetherApp, command: str, **fields: str) -> int:
    """Start a job through the new-job form, with keystrokes; returns its id."""
    before = {j.id for j in app.current_monitor.jobs}
    await pilot.press("n")
    await until(pilot, lambda: app.screen.__class__.__name__ == "NewJobScreen", what="the form")
    await type_text(pilot, command)
    for name, value in fields.items():
        app.screen.query_one(f"#{name}").focus()
        await type_text(pilot, value)
    await pilot.press("enter")
    jobs = await until(
        pilot,
        lambda: [j for j in app.current_monitor.jobs if j.id not in before],
        what=f"the job {command!r} in the table",
    )
    return int(jobs[0].id)


def notices(app: TetherApp) -> str:
    """The text of the notifications on show (toasts wrap, so read them whole)."""
    return "\n".join(n.message for n in app._notifications)


async def shows(pilot: Pilot[Any], app: TetherApp, text: str, timeout: float = 30.0) -> str:
    """Wait until `text` is on screen; returns the screen."""
    return str(
        await until(
            pilot, lambda: text in screen_text(app) and screen_text(app), timeout, what=repr(text)
        )
    )
