"""Client and runner of different versions meeting in the handshake: a clear word, no hang."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from protocol.codec import FrameDecoder, encode
from protocol.messages import Error, Hello
from protocol.version import PROTOCOL_VERSION, __version__
from tests.conftest import UserEnv


def test_an_older_client_meeting_a_newer_runner_is_told_to_upgrade_itself(
    user_env: UserEnv, old_client: Callable[[str], Path]
) -> None:
    tomorrow = old_client("9.9.9")
    started = subprocess.run(
        [sys.executable, "-m", "runner", "serve", "--daemon"],
        env={**user_env.env, "PYTHONPATH": str(tomorrow)},
        capture_output=True,
        timeout=60,
        cwd=user_env.home,
    )
    assert started.returncode == 0, started.stderr
    done = user_env.tether("ls", timeout=60)
    assert done.returncode == 1
    assert done.stderr.decode().strip() == (
        f"tether: local: the runner there is tether 9.9.9, newer than this tether {__version__}: "
        f"upgrade tether on this machine (e.g. `pip install -U tether`) to use that host"
    )


def test_a_client_of_an_older_protocol_hears_which_side_to_upgrade(local_runner: UserEnv) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(local_runner.socket))
        sock.sendall(encode(Hello(protocol=PROTOCOL_VERSION - 1, client_version="0.0.1")))
        decoder = FrameDecoder()
        reply = None
        while reply is None:
            decoder.feed(sock.recv(65536))
            reply = decoder.next_message()
    assert isinstance(reply, Error)
    assert reply.message.endswith(": upgrade tether on this machine")
    assert f"this runner (tether {__version__})" in reply.message
