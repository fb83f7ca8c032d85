"""A desktop notification asked of the terminal (a job ended on some host while
the person looks elsewhere), the way terminals take one: OSC 9 (iTerm2, kitty,
WezTerm, Ghostty, Windows Terminal), OSC 777 (foot, rxvt, VTE terminals such as
GNOME Terminal), else the bell, which every terminal and tmux turn into an alert.

Which one is read from the environment the terminal sets; inside tmux the outer
terminal is unknown unless ``LC_TERMINAL`` names it (iTerm2 sets it), and the
sequence goes through tmux's passthrough (shown where ``allow-passthrough`` is
on, ignored elsewhere: the bell goes with it, so nothing is lost).

`notify` in ``config.toml`` (``[app] notify = "desktop" | "bell" | "off"``)
chooses; the app's own notice on screen is shown in every case.
"""

from __future__ import annotations

import re
from typing import Mapping

BELL = "\a"
_OSC9_PROGRAMS = ("iTerm.app", "WezTerm", "ghostty")
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f;]")


def _clean(text: str) -> str:
    """No control character can end the sequence early, no ``;`` split its fields."""
    return _UNSAFE.sub(" ", text)[:200]


def _osc9(env: Mapping[str, str]) -> bool:
    return (
        env.get("TERM_PROGRAM") in _OSC9_PROGRAMS
        or "KITTY_WINDOW_ID" in env
        or "WT_SESSION" in env
        or env.get("LC_TERMINAL") == "iTerm2"
    )


def _osc777(env: Mapping[str, str]) -> bool:
    term = env.get("TERM", "")
    return term.startswith(("foot", "rxvt")) or "VTE_VERSION" in env


def terminal_notice(title: str, body: str, env: Mapping[str, str], mode: str = "desktop") -> str:
    """What to write to the terminal for a notification (``""`` when `mode` is off)."""
    if mode == "off":
        return ""
    if mode == "bell":
        return BELL
    title, body = _clean(title), _clean(body)
    if _osc9(env):
        sequence = f"\x1b]9;{title}: {body}\x1b\\"
    elif _osc777(env) and "TMUX" not in env:
        sequence = f"\x1b]777;notify;{title};{body}\x1b\\"
    else:
        return BELL
    if "TMUX" in env:  # tmux's passthrough: ESC doubled inside, the bell beside it
        sequence = "\x1bPtmux;" + sequence.replace("\x1b", "\x1b\x1b") + "\x1b\\" + BELL
    return sequence
