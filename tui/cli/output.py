"""Writing a verb's output to stdout, and keeping a host's text from driving the
person's terminal on the way.

Writes happen on the event loop, synchronously. Handing them to a thread
(`asyncio.to_thread`) made Ctrl-C print an asyncio traceback when it landed
mid-write, and cost a thread hop per chunk. A reader that stalls the pipe stalls
the loop too, which the connection's heartbeat tells apart from a dead link
(`tui.rpc`).

While a verb runs, `visible_output` stands guard over ``sys.stdout`` and
``sys.stderr``: any control character in text a verb prints (a job name, an
error from the host, a doctor's probe output) is made visible (`tui.visible`),
newlines aside. The verbs make each host string visible themselves where it
sits in a table (so the columns line up); the guard is there for the line that
forgets. JSON needs nothing: `json.dumps` escapes control characters itself.
Only bytes bypass the guard: a job's log (`LogOutput`, filtered on a terminal),
a JSON listing (`write_json_list`) and the screen clear of `tether top`
(`write_control`).
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from typing import Any, Iterator, Optional, Sequence, TextIO, cast

from tui.visible import TerminalLogFilter, visible_lines


def write_bytes(data: bytes) -> None:
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def write_text(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def write_json_list(items: Sequence[Any]) -> None:
    """A JSON array to stdout: indented for a person at a terminal, one item per
    line to a pipe or a file (as gh does), where `jq` or `grep` reads it and
    10,000 jobs must not wait on the indenting encoder, which is pure Python.
    It passes the guard: `json.dumps` writes ASCII only, every control escaped."""
    if not items:
        text = "[]\n"
    elif sys.stdout.isatty():
        text = json.dumps(list(items), indent=2) + "\n"
    else:
        text = "[\n" + ",\n".join(map(json.dumps, items)) + "\n]\n"
    write_bytes(text.encode("ascii"))


def write_control(sequence: str) -> None:
    """A control sequence tether itself sends (a screen clear), past the guard."""
    write_bytes(sequence.encode("ascii"))


class LogOutput:
    """A job's output to stdout: the exact bytes to a pipe or a file, or with
    ``--raw``; to a terminal, through a `TerminalLogFilter` (colours pass, no other
    escape sequence does). `close` writes what the filter held back at the end."""

    def __init__(self, raw: bool) -> None:
        terminal = sys.stdout.isatty()
        self._filter: Optional[TerminalLogFilter] = (
            TerminalLogFilter() if terminal and not raw else None
        )

    def write(self, data: bytes) -> None:
        write_bytes(data if self._filter is None else self._filter.feed(data))

    def close(self) -> None:
        if self._filter is not None:
            write_bytes(self._filter.flush())


class _VisibleText(io.TextIOBase):
    """A text stream that makes control characters visible before passing text on."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(visible_lines(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def buffer(self) -> io.BufferedIOBase:
        return cast(io.BufferedIOBase, self._stream.buffer)

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding

    @property
    def errors(self) -> Optional[str]:  # type: ignore[override]
        return self._stream.errors


@contextlib.contextmanager
def visible_output() -> Iterator[None]:
    """Guard ``sys.stdout`` and ``sys.stderr`` for as long as a verb runs."""
    out, err = sys.stdout, sys.stderr
    sys.stdout = cast(TextIO, _VisibleText(out))
    sys.stderr = cast(TextIO, _VisibleText(err))
    try:
        yield
    finally:
        sys.stdout, sys.stderr = out, err
