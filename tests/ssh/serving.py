"""A job that serves a folder over HTTP on the test host's 127.0.0.1, declared with
``--port``, for the forwarding tests of the CLI and of the app."""

from __future__ import annotations

import socket
import urllib.request

from tests.sshd import SshClient, SshWorld

MARKER = "marker-file.txt"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port` (binding would not
    say: a port just closed stays in TIME_WAIT a while)."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def try_get(url: str) -> str:
    """The page, or "" while nothing answers there (blocking: off the loop in async tests)."""
    try:
        return get(url)
    except OSError:
        return ""


def serve(client: SshClient, world: SshWorld, port: int, name: str = "web") -> int:
    """Start the serving job on the host; its id. The page lists `MARKER`."""
    folder = world.account.home / f"served-{port}"
    world.account.run("mkdir", "-p", str(folder))
    world.account.run("touch", str(folder / MARKER))
    server = f"python3 -m http.server {port} --bind 127.0.0.1 --directory {folder}"
    run = client.tether(
        "run",
        "-H",
        "gpu",
        "--port",
        str(port),
        "--name",
        name,
        "--",
        "bash",
        "-c",
        f"exec {server}",
        check=True,
    )
    return int(run.stdout)
