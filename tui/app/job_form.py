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
from typing import Dict, Optional

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

    @classmethod
    def from_job(cls, job: JobInfo) -> JobForm:
        """The fields that run `job` again with the same settings."""
        return cls(
            command=command_line(job),
            name=job.name,
            cwd=job.cwd,
            env=" ".join(f"{k}={shlex.quote(v)}" for k, v in job.env.items()),
            gpus=job.gpus_requested or "",
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
    try:
        return JobSpec(
            argv=argv,
            name=form.name.strip() or None,
            cwd=form.cwd.strip() or default_cwd,
            env=parse_env(form.env),
            gpus=gpus,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else "command"
        message = str(first["msg"]).removeprefix("Value error, ")
        if field == "gpus":
            message = f"GPUs takes a count or 'all' (or nothing), not {gpus!r}"
        raise FormError({"argv": "command"}.get(field, field), message) from exc
