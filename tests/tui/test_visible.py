"""What a host's text may do to the terminal: `visible` for names and messages,
`TerminalLogFilter` for a job's output printed by ``tether logs`` to a terminal."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol.jobs import JobSpec
from tui.visible import MAX_SGR_CHARS, TerminalLogFilter, visible, visible_lines

#: Escape sequences a log must not be able to send to a terminal, and what each
#: must read as instead.
HOSTILE = {
    "osc 0 title (BEL)": (b"\x1b]0;pwned\x07", b"\\x1b]0;pwned\\x07"),
    "osc 2 title (ST)": (b"\x1b]2;pwned\x1b\\", b"\\x1b]2;pwned\\x1b\\"),
    "osc 52 clipboard": (b"\x1b]52;c;aGVsbG8=\x07", b"\\x1b]52;c;aGVsbG8=\\x07"),
    "osc 8 hyperlink": (b"\x1b]8;;http://x\x1b\\", b"\\x1b]8;;http://x\\x1b\\"),
    "dcs": (b"\x1bP+q544e\x1b\\", b"\\x1bP+q544e\\x1b\\"),
    "apc": (b"\x1b_Gf=100;AAAA\x1b\\", b"\\x1b_Gf=100;AAAA\\x1b\\"),
    "pm": (b"\x1b^secret\x1b\\", b"\\x1b^secret\\x1b\\"),
    "sos": (b"\x1bXsecret\x1b\\", b"\\x1bXsecret\\x1b\\"),
    "alt screen": (b"\x1b[?1049h", b"\\x1b[?1049h"),
    "cursor save (DEC)": (b"\x1b7", b"\\x1b7"),
    "cursor restore (DEC)": (b"\x1b8", b"\\x1b8"),
    "cursor save (CSI)": (b"\x1b[s", b"\\x1b[s"),
    "cursor restore (CSI)": (b"\x1b[u", b"\\x1b[u"),
    "clear screen": (b"\x1b[2J", b"\\x1b[2J"),
    "cursor home": (b"\x1b[H", b"\\x1b[H"),
    "modifyOtherKeys (CSI > m)": (b"\x1b[>4;2m", b"\\x1b[>4;2m"),
    "c1 csi (utf-8)": ("\x9b2J".encode(), b"\\x9b2J"),
    "c1 osc (utf-8)": ("\x9d0;pwned\x9c".encode(), b"\\x9d0;pwned\\x9c"),
    "c1 csi (raw byte)": (b"\x9b2J", b"\\x9b2J"),
    "bell": (b"\x07", b"\\x07"),
    "del": (b"\x7f", b"\\x7f"),
    "reset (RIS)": (b"\x1bc", b"\\x1bc"),
}

#: What passes untouched: colours, and the controls progress bars use.
KEPT = [
    b"\x1b[31mred\x1b[0m",
    b"\x1b[1;38;5;208mbold orange\x1b[m",
    b"\x1b[38:2::255:0:0mtruecolour\x1b[0m",
    b"epoch 1 [=====>    ]\r",
    # tqdm's nested bars and rich's live progress redraw with these.
    b" 50%|#####     | 5/10\x1b[A\r\x1b[K 60%|######    | 6/10\x1b[1B",
    b"\x1b[2K\x1b[1G\x1b[3A\x1b[10C\x1b[2D\x1b[E\x1b[F",
    b"a\tb\nc\bd",
    "caf\u00e9 \u2588\u2588 \U0001f680 \u0100".encode(),
    b"\xff\xfe not utf-8 \xe9",
]


def run_filter(*chunks: bytes) -> bytes:
    f = TerminalLogFilter()
    return b"".join(f.feed(c) for c in chunks) + f.flush()


@pytest.mark.parametrize("name", list(HOSTILE))
def test_log_filter_shows_each_hostile_sequence_as_text(name: str) -> None:
    payload, shown = HOSTILE[name]
    out = run_filter(b"before " + payload + b" after")
    assert out == b"before " + shown + b" after"
    assert b"\x1b" not in out


@pytest.mark.parametrize("name", list(HOSTILE))
def test_log_filter_gives_the_same_output_at_every_split_of_each_sequence(name: str) -> None:
    payload, _ = HOSTILE[name]
    data = b"x\x1b[32mok\x1b[0m" + payload + b"y"
    whole = run_filter(data)
    for cut in range(len(data) + 1):
        assert run_filter(data[:cut], data[cut:]) == whole, cut
    assert run_filter(*(data[i : i + 1] for i in range(len(data)))) == whole


@pytest.mark.parametrize("data", KEPT)
def test_log_filter_passes_colours_and_progress_controls_exactly(data: bytes) -> None:
    assert run_filter(data) == data
    for cut in range(len(data) + 1):
        assert run_filter(data[:cut], data[cut:]) == data


def test_log_filter_never_holds_an_unterminated_osc() -> None:
    f = TerminalLogFilter()
    out = f.feed(b"\x1b]52;c;") + b"".join(f.feed(b"A" * 4096) for _ in range(256))
    assert f.held == 0
    assert out.startswith(b"\\x1b]52;c;AAAA") and len(out) == 7 + 3 + 4096 * 256
    assert b"\x1b" not in out + f.flush()


def test_log_filter_neutralises_a_colour_sequence_longer_than_its_cap() -> None:
    f = TerminalLogFilter()
    out = f.feed(b"\x1b[" + b"1;" * MAX_SGR_CHARS)
    assert f.held == 0 and out.startswith(b"\\x1b[1;")
    assert f.feed(b"m") == b"m"


def test_log_filter_flush_shows_a_cut_sequence_at_the_end() -> None:
    f = TerminalLogFilter()
    assert f.feed(b"tail \x1b[3") == b"tail "
    assert f.held == 3
    assert f.flush() == b"\\x1b[3"


# -- properties ----------------------------------------------------------------------

_KEPT_SEQUENCE = re.compile(rb"\x1b\[[0-9;:]*[mA-GK]")
_pieces = st.sampled_from(
    [p for p, _ in HOSTILE.values()]
    + KEPT
    + [b"\x1b", b"\x1b[", b"\x1b]", b"\x07", b"\x9b", b"\xc2", b"\x1b\\", b"m", b"1;"]
)
_logs = st.lists(st.one_of(_pieces, st.binary(max_size=40)), max_size=30).map(b"".join)


@st.composite
def _chunked(draw: st.DrawFn) -> list[bytes]:
    data = draw(_logs)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


@settings(max_examples=400, deadline=None)
@given(_chunked())
def test_log_filter_never_emits_escape_except_in_a_kept_sequence(chunks: list[bytes]) -> None:
    f = TerminalLogFilter()
    out = b""
    for chunk in chunks:
        out += f.feed(chunk)
        assert f.held <= MAX_SGR_CHARS
    out += f.flush()
    assert b"\x1b" not in _KEPT_SEQUENCE.sub(b"", out)
    assert out == run_filter(b"".join(chunks))  # chunking never changes the output
    text = out.decode("utf-8", "surrogateescape")
    assert not re.search("[\x80-\x9f\udc80-\udc9f]", text)  # no C1, raw or encoded


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=200), max_size=50))
def test_log_filter_never_holds_more_than_its_cap(chunks: list[bytes]) -> None:
    f = TerminalLogFilter()
    for chunk in chunks:
        f.feed(b"\x1b[" + chunk)
        assert f.held <= MAX_SGR_CHARS


@given(st.text())
def test_visible_text_has_no_control_characters(text: str) -> None:
    shown = visible(text)
    assert shown.isprintable()
    assert text.isprintable() == (shown == text)
    assert "\n" not in shown and "\x1b" not in shown


@given(st.text())
def test_visible_lines_keeps_only_newlines(text: str) -> None:
    shown = visible_lines(text)
    assert all(line.isprintable() for line in shown.split("\n"))
    assert shown.count("\n") == text.count("\n")


def test_visible_names_each_control_character_as_python_writes_it() -> None:
    assert visible("a\x1b]0;t\x07b") == "a\\x1b]0;t\\x07b"
    assert visible("tab\there\nnl\x7f\x9b\u202e") == "tab\\there\\nnl\\x7f\\x9b\\u202e"
    assert visible("plain ✓ café") == "plain ✓ café"
    assert visible_lines("one\x1b[2J\ntwo") == "one\\x1b[2J\ntwo"


def test_a_job_name_from_its_command_passes_the_name_rule() -> None:
    from runner.jobs.table import default_job_name

    name = default_job_name(["bash", "-lc", "echo \x1b]0;pwned\x07 \x1b]52;c;aGk=\x07"])
    assert name == "echo \\x1b]0;pwned\\x07 \\x1b]52;c;aGk=\\x07"
    JobSpec(argv=["true"], name=name)  # what --name must be, it is
    long = default_job_name(["python", "\x1b" * 100])
    assert len(long) == 60 and long.isprintable()
    with pytest.raises(ValueError):
        JobSpec(argv=["true"], name="x\x1b]0;t\x07")


async def test_the_app_jobs_table_shows_a_raw_name_from_an_old_runner_as_text() -> None:
    from textual.app import App, ComposeResult

    from protocol.jobs import JobInfo, JobState
    from tui.app.jobs_table import JobsTable

    job = JobInfo(
        id=3, name="n\x1b]0;pwned\x07", state=JobState.RUNNING, argv=["x"], cwd="/", created_at=0
    )

    class TableApp(App[None]):
        def compose(self) -> ComposeResult:
            yield JobsTable(id="jobs")

    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        app.query_one(JobsTable).jobs = [job]
        await pilot.pause()
        screen = "".join(
            segment.text for strip in app.screen._compositor.render_strips() for segment in strip
        )
    assert "\x1b" not in screen and "\x07" not in screen
    assert "n\\x1b]0;pwned\\x07" in screen
