"""`tether ls`'s table into a pipe: one row per job, long names cut with …"""

from __future__ import annotations

import re

from protocol.jobs import JobInfo, JobState
from tui.cli.format import NAME_WIDTH, jobs_table


def test_a_long_name_is_cut_with_an_ellipsis_and_a_multiline_command_stays_on_its_row() -> None:
    job = JobInfo(
        id=3,
        name="a very long name that goes on and on and on",
        state=JobState.SUCCEEDED,
        argv=["sh", "-c", 'echo "two\nlines"'],
        cwd="/",
        created_at=0,
        started_at=0,
        finished_at=1,
        exit_code=0,
    )
    lines = jobs_table([job]).splitlines()
    assert len(lines) == 2  # the header and one row
    name = re.split(r"\s{2,}", lines[1])[1]
    assert name == "a very long name that g…" and len(name) == NAME_WIDTH
    assert lines[1].endswith("""sh -c 'echo "two\\nlines"'""")
