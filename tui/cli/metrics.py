"""`tether metrics JOB`: what a training job reported, as a table or as JSON lines.

The table grows a column whenever a record brings a new series (a validation
loss that appears at the end of the first epoch) and prints its header again
then, so ``-f`` can stream it without knowing the columns in advance. JSON lines
(``--json``) are one object per record, ``step`` and ``time`` included, for
scripts and ``jq``. Skipped malformed lines are reported once, on stderr, with
the first one's position and reason, so the script's author can fix them.
"""

from __future__ import annotations

import json
import sys
from typing import Dict, List, Optional

from protocol.metrics import MetricRecord, MetricsChunk
from tui.cli.format import shell_exit_code
from tui.cli.output import write_text
from tui.session import HostSession
from tui.visible import visible

#: Narrowest value column: room for ``-1.2345e-05``.
_MIN_WIDTH = 11
_STEP_WIDTH = 8


def record_json(record: MetricRecord) -> Dict[str, object]:
    """A record as the object the job wrote (``NaN`` stays ``NaN``, as Python spells it)."""
    out: Dict[str, object] = {"step": record.step, "time": record.time}
    out.update(record.values)
    return out


def format_value(value: float) -> str:
    return f"{value:.6g}"


class MetricsTable:
    """Turns records into the lines of a table whose columns follow the series seen."""

    def __init__(self) -> None:
        self.columns: List[str] = []
        self.widths: Dict[str, int] = {}
        self._header_printed = False

    def lines(self, records: List[MetricRecord]) -> List[str]:
        out: List[str] = []
        for record in records:
            new = [name for name in record.values if name not in self.widths]
            if new:
                for name in new:
                    self.columns.append(name)
                    self.widths[name] = max(len(visible(name)), _MIN_WIDTH)
                if self._header_printed:
                    out.append("")  # a new series: a fresh header, after a gap
                out.append(self._header())
                self._header_printed = True
            out.append(self._row(record))
        return out

    def _header(self) -> str:
        cells = ["STEP".rjust(_STEP_WIDTH)]
        cells += [visible(name).rjust(self.widths[name]) for name in self.columns]
        return "  ".join(cells)

    def _row(self, record: MetricRecord) -> str:
        step = "-" if record.step is None else str(record.step)
        cells = [step.rjust(_STEP_WIDTH)]
        for name in self.columns:
            value = record.values.get(name)
            text = "" if value is None else format_value(value)
            cells.append(text.rjust(self.widths[name]))
        return "  ".join(cells).rstrip()


class MetricsPrinter:
    """Writes chunks to stdout (off the event loop) and tallies what was skipped."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.table = MetricsTable()
        self.records = 0
        self.malformed = 0
        self.malformed_first: Optional[str] = None

    async def add(self, chunk: MetricsChunk) -> None:
        self.records += len(chunk.records)
        self.malformed += chunk.malformed
        if self.malformed_first is None:
            self.malformed_first = chunk.malformed_first
        if not chunk.records:
            return
        if self.as_json:
            lines = [json.dumps(record_json(r)) for r in chunk.records]
        else:
            lines = self.table.lines(chunk.records)
        write_text("\n".join(lines) + "\n")

    def summary(self, job_id: int) -> Optional[str]:
        """What to tell the person on stderr at the end, if anything."""
        if self.malformed:
            lines = "line" if self.malformed == 1 else "lines"
            return (
                f"skipped {self.malformed} malformed {lines} in job {job_id}'s metrics "
                f"(first: {self.malformed_first})"
            )
        if not self.records:
            return (
                f"job {job_id} has reported no metrics (a script reports them by appending "
                "JSON lines to $TETHER_METRICS, e.g. with runner.report.report)"
            )
        return None


async def metrics(session: HostSession, job_id: int, as_json: bool, follow: bool) -> int:
    """Print what job `job_id` reported; with `follow`, until it ends (then its exit code)."""
    await session.get_job(job_id)  # an unknown job fails here, before any output
    printer = MetricsPrinter(as_json)
    code = 0
    if follow:
        async for message in session.follow_metrics(job_id):
            if isinstance(message, MetricsChunk):
                await printer.add(message)
            else:
                code = shell_exit_code(message.job)
    else:
        offset = 0
        while True:
            chunk = await session.read_metrics(job_id, offset)
            await printer.add(chunk)
            if chunk.next_offset == offset or chunk.next_offset >= chunk.size:
                break
            offset = chunk.next_offset
    summary = printer.summary(job_id)
    if summary is not None:
        print(f"tether: {summary}", file=sys.stderr)
    return code
