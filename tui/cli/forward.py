"""``tether forward [-H HOST] JOB|:PORT [--local PORT]``: a job's declared ports
(``tether run --port``), or one port, on this machine's 127.0.0.1 until Ctrl-C.

Forwarding needs an SSH connection of its own (the session's opener, never a
keeper: direct-tcpip channels are SSH's, not the runner's). The session
reconnects when the link drops and the listeners stay, so the local URL printed
once keeps working.
"""

from __future__ import annotations

import asyncio
import sys
from typing import List, Optional

from protocol.errors import ErrorCode
from protocol.jobs import JobInfo, JobState
from tui.errors import RemoteError, TetherError
from tui.forward.listener import PortForward
from tui.forward.target import ForwardTarget, check_port
from tui.session import HostSession

_ENDED = {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.LOST}


def _say(text: str) -> None:
    print(f"tether: {text}", file=sys.stderr, flush=True)


async def _ports_of(session: HostSession, host: str, target: ForwardTarget) -> List[int]:
    if target.port_only:
        return [target.number]
    try:
        job: Optional[JobInfo] = await session.get_job(target.number)
    except RemoteError as exc:
        if exc.code is not ErrorCode.NO_SUCH_JOB:
            raise
        job = None
    if job is None:
        where = host or "this machine"
        port = check_port(target.number, f"{target.number} is no job on {where}, and as a port it")
        _say(f"{where} has no job {port}: taking {port} as a port")
        return [port]
    if not job.ports:
        raise TetherError(
            f"job {job.id} declared no ports (tether run --port PORT -- ...); "
            f"forward one port with `tether forward :PORT`"
        )
    if job.state in _ENDED:
        raise TetherError(f"job {job.id} has ended ({job.state.value}): nothing serves its ports")
    return list(job.ports)


async def forward(
    session: HostSession, host: str, target: ForwardTarget, local: Optional[int]
) -> int:
    from tui.remote import SshOpener

    ports = await _ports_of(session, host, target)
    opener = session.opener
    if not isinstance(opener, SshOpener):  # this machine: no SSH, nothing to bring here
        for port in ports:
            print(f"http://127.0.0.1:{port}", flush=True)
        _say("on this machine these are on 127.0.0.1 already: nothing to forward")
        return 0
    forwards: List[PortForward] = []
    try:
        for index, port in enumerate(ports):
            wanted = port if local is None else local + index
            pf = PortForward(host, port, opener.ssh_connection, _say)
            got = await pf.listen(wanted)
            forwards.append(pf)
            if got != wanted:
                _say(f"local port {wanted} is in use: using {got}")
            print(pf.describe(), flush=True)
        _say("forwarding until Ctrl-C")
        await asyncio.Event().wait()
    finally:
        for pf in forwards:
            await pf.close()
    return 0
