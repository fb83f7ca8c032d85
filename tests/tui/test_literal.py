"""Host text inside Textual markup reads exactly as written (job names are commands)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.content import Content

from tui.app.literal import literal
from tui.visible import visible


@pytest.mark.parametrize(
    "text",
    [
        'python3 -c "import time; [print(i, flush=True) or time.sleep(0.1)"',
        "[b]bold?[/b] [red]not red[/] [@click=app.quit]quit[/]",
        "a[1] = b[i:j]; ] [ [[x]]",
        "\x1b]0;title\x07[x]",
    ],
)
def test_markup_shows_the_text_as_written(text: str) -> None:
    assert Content.from_markup(f"job 1: {literal(text)}").plain == f"job 1: {visible(text)}"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]()/@=ab \\:;,.#")), max_size=40))
def test_no_text_is_taken_for_markup(text: str) -> None:
    assert Content.from_markup(literal(text)).plain == visible(text)
