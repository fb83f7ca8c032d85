"""``tether signal JOB SIGNAL``: one signal to a running job's whole process group.

The signal is given as a person types it to ``kill``: ``USR1``, ``SIGUSR1``,
``usr1`` or a number. A number is read with this machine's numbering (Python's
`signal` module, as ``kill -10`` here would), and sent as its name, which the
host maps to its own number.
"""

from __future__ import annotations

import signal

from protocol.jobs import JobState
from protocol.signals import signal_name, unknown_signal
from tui.errors import UsageError
from tui.session import HostSession


def signal_argument(text: str) -> str:
    """The name (``USR1``) of the signal `text` gives; `UsageError` with the
    accepted names for any other."""
    name = signal_name(text)
    if name is None and text.strip().isdigit():
        try:
            name = signal_name(signal.Signals(int(text)).name)
        except ValueError:
            name = None
    if name is None:
        raise UsageError(unknown_signal(text))
    return name


async def send_signal(session: HostSession, job_id: int, name: str) -> int:
    """Send it; says which group heard it (and, for a paused job, when it acts)."""
    sent = await session.signal_job(job_id, name)
    job = sent.job
    print(f"sent SIG{sent.signal} to job {job.id} (process group {sent.process_group})")
    if job.state is JobState.PAUSED and sent.signal != "KILL":
        print(f"job {job.id} is paused: it acts on SIG{sent.signal} once resumed (tether resume)")
    return 0
