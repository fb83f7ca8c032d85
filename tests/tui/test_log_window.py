"""The log window: lines and their offsets stay right however the bytes arrive."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from tui.app.log_text import Query, plain_line, styled_line
from tui.app.log_window import MAX_LINE_BYTES, LogWindow, shown_text, visible_part


def shown(window: LogWindow) -> list[str]:
    return [shown_text(line).decode("utf-8", "replace") for line in window.lines]


def expected_lines(data: bytes, start: int = 0) -> tuple[list[bytes], list[int]]:
    """Lines and offsets of data[start:], computed the obvious way."""
    lines, starts = [], []
    position = start
    for piece in data[start:].split(b"\n"):
        lines.append(piece)
        starts.append(position)
        position += len(piece) + 1
    if lines and lines[-1] == b"":
        lines.pop()
        starts.pop()
    return [visible_part(line) for line in lines], starts


def test_tqdm_bar_rewritten_with_carriage_returns_is_one_line_showing_the_latest() -> None:
    window = LogWindow()
    window.append(b"epoch 1\n", 0)
    offset = 8
    for pct in (0, 25, 50, 75, 100):
        chunk = b"\r%3d%%|bar|" % pct
        window.append(chunk, offset)
        offset += len(chunk)
        assert shown(window)[-1] == f"{pct:3d}%|bar|"
    window.append(b"\n", offset)
    assert shown(window) == ["epoch 1", "100%|bar|"]
    assert window.line_count == 2


def test_carriage_return_split_across_chunks_still_replaces_the_line() -> None:
    window = LogWindow()
    window.append(b"10%\r", 0)
    assert shown(window) == ["10%"]
    window.append(b"20%", 4)
    assert shown(window) == ["20%"]


def test_crlf_line_ends_show_no_carriage_return() -> None:
    window = LogWindow()
    window.append(b"one\r\ntwo\r\n", 0)
    assert shown(window) == ["one", "two"]


@given(st.binary(max_size=400).map(lambda b: b.replace(b"\r", b"")), st.data())
def test_appending_in_any_pieces_gives_the_same_lines_and_offsets(
    data: bytes, draw: st.DataObject
) -> None:
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=8)))
    window = LogWindow()
    previous = 0
    for cut in [*cuts, len(data)]:
        window.append(data[previous:cut], previous)
        previous = cut
    lines, starts = expected_lines(data)
    assert window.lines == lines
    assert window.starts == starts
    assert window.end == len(data)


@given(st.binary(max_size=400).map(lambda b: b.replace(b"\r", b"") + b"\n"), st.data())
def test_loading_backwards_in_any_steps_gives_the_lines_loading_forwards_does(
    data: bytes, draw: st.DataObject
) -> None:
    """Open at a line start near the end, then prepend chunks of any size down to 0."""
    line_starts = [0] + [i + 1 for i, b in enumerate(data[:-1]) if b == 0x0A]
    open_at = draw.draw(st.sampled_from(line_starts))
    window = LogWindow()
    window.reset(open_at)
    window.append(data[open_at:], open_at)
    while window.start > 0:
        step = draw.draw(st.integers(1, 64))
        begin = max(0, window.start - step)
        window.prepend(data[begin : window.start], begin)
    lines, starts = expected_lines(data)
    assert window.lines == lines
    assert window.starts == starts
    assert not window.head_partial


def test_a_line_longer_than_a_chunk_is_loaded_back_whole() -> None:
    data = b"short\n" + b"x" * 1000 + b"\nlast\n"
    window = LogWindow()
    tail = data.rindex(b"last")
    window.reset(tail)
    window.append(data[tail:], tail)
    while window.start > 0:
        begin = max(0, window.start - 100)
        window.prepend(data[begin : window.start], begin)
    assert shown(window) == ["short", "x" * 1000, "last"]


def test_trimming_either_edge_keeps_offsets_and_moves_the_window() -> None:
    window = LogWindow()
    window.append(b"a\nbb\nccc\ndddd\n", 0)
    window.drop_head(1)
    assert (window.start, window.lines[0], window.starts[0]) == (2, b"bb", 2)
    window.drop_tail(1)
    assert (window.end, shown(window)) == (9, ["bb", "ccc"])
    assert window.held_bytes == 5
    window.append(b"dddd\n", 9)
    assert shown(window) == ["bb", "ccc", "dddd"]


def test_budget_asks_for_enough_lines_to_fit() -> None:
    window = LogWindow()
    window.append(b"".join(b"%09d\n" % i for i in range(1000)), 0)
    over = window.lines_over(5000)
    window.drop_head(over)
    assert window.held_bytes <= 5000
    assert shown(window)[-1] == "000000999"


def test_very_long_lines_are_capped() -> None:
    window = LogWindow()
    window.append(b"y" * (MAX_LINE_BYTES * 3) + b"\n", 0)
    assert len(window.lines[0]) == MAX_LINE_BYTES
    assert window.end == MAX_LINE_BYTES * 3 + 1


def test_ansi_colours_are_kept_and_other_escapes_dropped() -> None:
    text = styled_line(b"\x1b[31mred\x1b[0m \x1b]8;;http://x\x07link\x1b]8;;\x07\x1b[2K done")
    assert text.plain == "red link done"
    assert any("red" in str(span.style) or "color(1)" in str(span.style) for span in text.spans)


def test_invalid_utf8_and_control_bytes_become_replacement_marks() -> None:
    text = styled_line(b"bad \xff\xfe utf8 \x07bell\x08")
    assert "\ufffd" in text.plain
    assert "\x07" not in text.plain and "\x08" not in text.plain
    assert plain_line(b"caf\xc3\xa9 \xff") == "café \ufffd"


def test_search_is_smartcase_and_ignores_colour_codes() -> None:
    assert Query("error").matches(b"\x1b[31mERROR\x1b[0m: disk full")
    assert not Query("Error").matches(b"ERROR: disk full")
    assert Query("Error").find_all("Error, Error") == [0, 7]
