"""From the new-job form's fields to a `JobSpec`, and from a job back to the fields.

A command typed in the form is a shell line: it runs as ``bash -lc LINE`` on the
host, exactly as it would after ``ssh host``. Rerunning a job whose command was
not changed keeps its original argv, so a job started with ``tether run -- a b``
reruns as ``a b`` and not as a shell line. Every bad field is one sentence that
says what to type instead.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from pydantic import ValidationError

from protocol.jobs import JobInfo, JobSpec
from tui.errors import TetherError
from tui.job_text import command_line


class FormError(TetherError):
    """A field of the new-job form cannot be used as typed; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class JobForm:
    command: str = ""
    name: str = ""
    cwd: str = ""
    env: str = ""
    gpus: str = ""
    after: str = ""
    priority: str = ""

    @classmethod
    def from_job(cls, job: JobInfo) -> JobForm:
        """The fields that run `job` again with the same settings."""
        return cls(
            command=command_line(job),
            name=job.name,
            cwd=job.cwd,
            env=" ".join(f"{k}={shlex.quote(v)}" for k, v in job.env.items()),
            gpus=job.gpus_requested or "",
            priority=str(job.priority) if job.priority else "",
        )


def parse_env(text: str) -> Dict[str, str]:
    """``KEY=VALUE KEY2='a b'`` (shell quoting) into a dict."""
    try:
        words = shlex.split(text)
    except ValueError as exc:
        raise FormError("env", f"environment: {exc}; close the quote or remove it") from exc
    env: Dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise FormError("env", f"environment takes KEY=VALUE pairs, got {word!r}")
        env[key] = value
    return env


def parse_after(text: str) -> Tuple[List[int], bool]:
    """``3,4`` (start once they succeeded) or ``any 3 4`` (once they ended, however):
    the job ids and whether any end will do."""
    words = text.replace(",", " ").split()
    after_any = bool(words) and words[0].lower() in ("any", "any:")
    ids = words[1:] if after_any else words
    if after_any and not ids:
        raise FormError("after", "after: name the jobs too, e.g. any 3,4")
    bad = next((word for word in ids if not word.isdigit() or int(word) < 1), None)
    if bad is not None:
        raise FormError("after", f"after takes job ids like 3,4 (or any 3,4), not {bad!r}")
    return sorted({int(word) for word in ids}), after_any


def parse_priority(text: str) -> int:
    value = text.strip()
    try:
        return int(value) if value else 0
    except ValueError:
        raise FormError(
            "priority", f"priority takes a whole number (higher starts first), not {value!r}"
        ) from None


def spec_from_form(
    form: JobForm, *, default_cwd: Optional[str], rerun_of: Optional[JobInfo] = None
) -> JobSpec:
    """The spec to submit; raises `FormError` naming the first field that is wrong."""
    line = form.command.strip()
    if not line:
        raise FormError("command", "type a command to run, e.g. python train.py --epochs 3")
    if rerun_of is not None and line == command_line(rerun_of):
        argv = list(rerun_of.argv)
    else:
        argv = ["bash", "-lc", line]
    gpus = form.gpus.strip() or None
    after, after_any = parse_after(form.after)
    try:
        return JobSpec(
            argv=argv,
            name=form.name.strip() or None,
            cwd=form.cwd.strip() or default_cwd,
            env=parse_env(form.env),
            gpus=gpus,
            after=after,
            after_any=after_any,
            priority=parse_priority(form.priority),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "command"
        message = str(first["msg"]).removeprefix("Value error, ")
        if field == "gpus":
            message = f"GPUs takes a count or 'all' (or nothing), not {gpus!r}"
        raise FormError({"argv": "command"}.get(field, field), message) from exc
