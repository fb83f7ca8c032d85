"""The words a job gives Slurm (``--partition``, ``--time``, ``--mem``, ...), checked
the same way on both sides: the CLI refuses a bad one as a usage error before
anything is sent, and the runner again before it writes a batch script."""

from __future__ import annotations

import re
from typing import Optional

#: Slurm's time formats: minutes, minutes:seconds, hours:minutes:seconds, days-hours,
#: days-hours:minutes, days-hours:minutes:seconds; or no limit.
_TIME = re.compile(r"^(\d+(:\d{1,2}){0,2}|\d+-\d+(:\d{1,2}){0,2}|infinite|unlimited)$", re.I)
#: A memory size: a number with an optional unit (Slurm's default unit is megabytes).
_MEMORY = re.compile(r"^\d+[KMGT]?$", re.I)
#: A partition, account or QOS name.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


def slurm_word_problem(flag: str, value: str) -> Optional[str]:
    """Why `value` cannot be Slurm's ``--flag`` (``partition``, ``account``,
    ``qos``, ``time`` or ``mem``), in one sentence; None when it can."""
    if flag in ("partition", "account", "qos"):
        return None if _NAME.match(value) else f"--{flag} {value!r} is not a Slurm {flag} name"
    if flag == "time" and not _TIME.match(value):
        return (
            f"--time {value!r} is not a Slurm time: use minutes (30), "
            "hours:minutes:seconds (4:00:00) or days-hours:minutes:seconds (1-00:00:00)"
        )
    if flag == "mem" and not _MEMORY.match(value):
        return f"--mem {value!r} is not a memory size: use a number and a unit, like 64G or 512M"
    return None
