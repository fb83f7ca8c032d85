"""`tether signal JOB SIGNAL`, end to end: a real runner, a real job that traps
USR1, real signals to its whole process group, and the sentences that refuse what
cannot be sent."""

from __future__ import annotations

import json
import os
import re
import socket
import time

from protocol.codec import FrameDecoder, encode
from protocol.limits import JOB_SIGNALS
from protocol.messages import Hello, Welcome
from protocol.signals import SignalJob, SignalSent
from protocol.version import PROTOCOL_VERSION
from tests.conftest import UserEnv, wait_for
from tests.runner.test_daemon import _connect, _recv

#: Says it is ready once its trap is set, says so on every USR1, never ends itself.
TRAPS_USR1 = 'trap "echo got usr1" USR1; echo ready; while true; do sleep 0.1; done'


def _job(env: UserEnv, job_id: int) -> dict:
    listed = json.loads(env.tether("ls", "--all", "--json", check=True).stdout)
    (job,) = [j for j in listed if j["id"] == job_id]
    return job  # type: ignore[no-any-return]


def _log(env: UserEnv, job_id: int) -> str:
    return env.tether("logs", str(job_id), check=True).stdout.decode()


def _trapping_job(env: UserEnv) -> int:
    job = int(env.tether("run", "--", "bash", "-c", TRAPS_USR1, check=True).stdout)
    wait_for(lambda: "ready" in _log(env, job), timeout=30, interval=0.1)
    return job


def _refusal(env: UserEnv, *args: str) -> tuple[int, str]:
    """The exit status and the whole of stderr, which must be one line."""
    result = env.tether("signal", *args)
    err = result.stderr.decode()
    assert err.count("\n") == 1, f"not one line: {err!r}"
    assert result.stdout == b""
    return result.returncode, err.strip()


def test_usr1_reaches_a_job_that_traps_it_however_it_is_spelled_and_kill_ends_it(
    local_runner: UserEnv,
) -> None:
    env = local_runner
    job = _trapping_job(env)
    out = env.tether("signal", str(job), "USR1", check=True).stdout.decode()
    match = re.fullmatch(rf"sent SIGUSR1 to job {job} \(process group (\d+)\)\n", out)
    assert match, out
    group = int(match.group(1))
    assert group > 1 and os.getpgid(group) == group  # the job's first process leads it
    wait_for(lambda: _log(env, job).count("got usr1") == 1, timeout=10, interval=0.1)

    # SIGUSR1, usr1, this machine's number for it, and HOST:ID all say the same.
    for spelling in ("SIGUSR1", "usr1", "10", "localhost:"):
        ref, name = (
            (f"localhost:{job}", "USR1") if spelling == "localhost:" else (str(job), spelling)
        )
        said = env.tether("signal", ref, name, check=True).stdout.decode()
        assert said == f"sent SIGUSR1 to job {job} (process group {group})\n"
    wait_for(lambda: _log(env, job).count("got usr1") == 5, timeout=10, interval=0.1)
    assert _job(env, job)["state"] == "running"  # it heard them all and goes on

    # A paused job hears it once resumed (KILL excepted), and is told so.
    env.tether("pause", str(job), check=True)
    out = env.tether("signal", str(job), "USR1", check=True).stdout.decode()
    assert out.splitlines()[1] == (
        f"job {job} is paused: it acts on SIGUSR1 once resumed (tether resume)"
    )
    time.sleep(0.5)
    assert _log(env, job).count("got usr1") == 5
    env.tether("resume", str(job), check=True)
    wait_for(lambda: _log(env, job).count("got usr1") == 6, timeout=10, interval=0.1)

    out = env.tether("signal", str(job), "KILL", check=True).stdout.decode()
    assert out == f"sent SIGKILL to job {job} (process group {group})\n"
    ended = wait_for(
        lambda: (j := _job(env, job))["state"] != "running" and j, timeout=15, interval=0.1
    )
    assert ended["state"] == "failed" and ended["signal"] == "SIGKILL", ended
    code, err = _refusal(env, str(job), "USR1")
    assert (code, err) == (1, f"tether: job {job} has ended (failed): nothing to signal")


def test_signal_refuses_what_it_cannot_send_in_one_sentence(local_runner: UserEnv) -> None:
    env = local_runner
    code, err = _refusal(env, "1", "FOO")
    assert code == 2 and err.startswith("tether signal: unknown signal 'FOO': give TERM, INT")
    assert all(name in err for name in JOB_SIGNALS)
    code, err = _refusal(env, "1", "STOP")
    assert code == 2 and "tether pause stops a job" in err
    code, err = _refusal(env, "1", "99")  # not a signal of this machine at all
    assert code == 2 and err.startswith("tether signal: unknown signal '99'")

    assert _refusal(env, "999", "USR1") == (1, "tether: no job 999 on this runner")
    done = int(env.tether("run", "--", "true", check=True).stdout)
    wait_for(lambda: _job(env, done)["state"] == "succeeded", timeout=15, interval=0.1)
    assert _refusal(env, str(done), "TERM") == (
        1,
        f"tether: job {done} has ended (succeeded): nothing to signal",
    )
    env.tether("queue", "pause", check=True)
    queued = int(env.tether("run", "--", "true", check=True).stdout)
    assert _refusal(env, str(queued), "KILL") == (
        1,
        f"tether: job {queued} is queued: nothing to signal",
    )
    env.tether("queue", "resume", check=True)


def _ask(sock: socket.socket, decoder: FrameDecoder, request: SignalJob) -> object:
    sock.sendall(encode(request))
    return _recv(sock, decoder)


def test_a_signal_asked_again_with_its_key_is_sent_once(local_runner: UserEnv) -> None:
    """A client that lost the answer asks again with the same key: the job must
    not hear it twice (a second USR1 could be a second checkpoint)."""
    env = local_runner
    job = _trapping_job(env)
    sock, decoder = _connect(env), FrameDecoder()
    try:
        sock.sendall(encode(Hello(protocol=PROTOCOL_VERSION, client_version="t")))
        assert isinstance(_recv(sock, decoder), Welcome)
        first = _ask(sock, decoder, SignalJob(id=1, job_id=job, signal="USR1", key="k1"))
        again = _ask(sock, decoder, SignalJob(id=2, job_id=job, signal="USR1", key="k1"))
        assert isinstance(first, SignalSent) and isinstance(again, SignalSent)
        assert (again.signal, again.process_group) == (first.signal, first.process_group)
        wait_for(lambda: "got usr1" in _log(env, job), timeout=10, interval=0.1)
        other = _ask(sock, decoder, SignalJob(id=3, job_id=job, signal="USR1", key="k2"))
        assert isinstance(other, SignalSent)
        wait_for(lambda: _log(env, job).count("got usr1") == 2, timeout=10, interval=0.1)
    finally:
        sock.close()
    assert _log(env, job).count("got usr1") == 2
    env.tether("cancel", str(job), check=True)
