"""What a host's text may do to the person's terminal: nothing but be read.

Every string that comes from a host (job names, commands, working directories,
reasons, error texts, status fields) is shown through `visible` (or
`visible_lines` where a message may span lines), in the CLI and in the app
alike; a job's output printed by ``tether logs`` to a terminal goes through a
`TerminalLogFilter`. The app's log view has its own filter (`tui.app.log_text`),
which keeps colours for Rich to draw.

The convention, everywhere: a control character is written as Python writes it
in a string literal, so ESC reads ``\\x1b``, BEL ``\\x07``, a newline ``\\n``,
DEL ``\\x7f``, the C1 CSI ``\\x9b``, a right-to-left override ``\\u202e``; an
undecodable byte ``0x9b`` from a log also reads ``\\x9b``. Nothing that
reaches the terminal can then start an escape sequence, and the person sees
what was there.

Below both the app and the CLI (it imports only `protocol.jobs`, which holds the
same rule for job names), so neither imports the other for it.
"""

from __future__ import annotations

import codecs
import re

from protocol.jobs import printable

#: Longest kept sequence (a colour, a cursor move) a log may send, ESC included; a
#: longer one is neutralised, so the filter never holds more than this back.
MAX_SGR_CHARS = 64


def visible(text: str) -> str:
    """`text` on one line with every control character made visible (see the
    module's convention): for a table cell, a title, a label."""
    return printable(text)


def visible_lines(text: str) -> str:
    """`text` with every control character made visible except the newline: for a
    message that may span lines (an error, a notification)."""
    if text.isprintable():
        return text
    return "\n".join(printable(line) for line in text.split("\n"))


# -- a job's output to a terminal ----------------------------------------------------

#: What a log may not send to a terminal: C0 controls other than tab, newline,
#: carriage return and backspace; DEL; C1 controls; and undecodable bytes
#: 0x80-0x9f (surrogate-escaped), which an 8-bit terminal reads as C1.
_NEUTRALISED = re.compile("[\x00-\x07\x0b\x0c\x0e-\x1f\x7f-\x9f\udc80-\udc9f]")
_SGR_PARAMS = f"[0-9;:]{{0,{MAX_SGR_CHARS - 3}}}"
#: Kept: colours (SGR, ``m``), and what progress bars draw with (tqdm, rich): the
#: cursor up, down, sideways or to a column (``A``-``G``) and erasing in the line
#: (``K``). None of these reaches outside the lines the job is drawing.
_SGR = re.compile("\x1b\\[" + _SGR_PARAMS + "[mA-GK]")
#: The start of a kept sequence that a chunk boundary cut: held for the next chunk.
_SGR_CUT = re.compile("\x1b(?:\\[" + _SGR_PARAMS + ")?\\Z")


def _placeholder(char: str) -> str:
    code = ord(char)
    if 0xDC80 <= code <= 0xDC9F:  # an undecodable byte 0x80-0x9f
        return f"\\x{code - 0xDC00:02x}"
    return printable(char)


class TerminalLogFilter:
    """A job's output made safe for a terminal, chunk by chunk.

    Colours (SGR: ``ESC [ digits ; : m``), the cursor moves and line erases that
    progress bars draw with (``ESC [ n A``-``G``, ``ESC [ n K``), tab, newline,
    carriage return and backspace pass, so progress bars and coloured logs look
    as they should; every other control character, ESC of any other sequence
    included, is made visible
    (``\\x1b]52;c;...\\x07``): OSC titles and clipboard writes, DCS, APC, PM, SOS,
    the alternate screen, cursor saves, clears and any other CSI then reach the
    terminal as text and do nothing. Text is decoded as UTF-8 with undecodable
    bytes kept exactly (``surrogateescape``), except 0x80-0x9f.

    Split-proof and bounded: a chunk may end anywhere, inside a UTF-8 character
    or an escape sequence, and the output is the same as for the whole at once;
    between chunks at most `MAX_SGR_CHARS` characters (a cut colour sequence) and
    3 bytes (a cut character) are held. An unterminated OSC is never held: its
    ESC is made visible at once and its body flows as text.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
        self._held = ""

    @property
    def held(self) -> int:
        """Characters held back for the next chunk (never more than `MAX_SGR_CHARS`)."""
        return len(self._held)

    def feed(self, data: bytes) -> bytes:
        """The safe bytes for `data`, as far as they are known."""
        return self._filter(self._held + self._decoder.decode(data), final=False)

    def flush(self) -> bytes:
        """The rest, at the end of the output: a held sequence is made visible."""
        return self._filter(self._held + self._decoder.decode(b"", final=True), final=True)

    def _filter(self, text: str, *, final: bool) -> bytes:
        self._held = ""
        out = []
        pos = 0
        while True:
            found = _NEUTRALISED.search(text, pos)
            if found is None:
                out.append(text[pos:])
                break
            start = found.start()
            out.append(text[pos:start])
            if text[start] == "\x1b":
                colour = _SGR.match(text, start)
                if colour is not None:
                    out.append(colour.group())
                    pos = colour.end()
                    continue
                if not final and _SGR_CUT.match(text, start):
                    self._held = text[start:]
                    break
            out.append(_placeholder(text[start]))
            pos = start + 1
        return "".join(out).encode("utf-8", "surrogateescape")
