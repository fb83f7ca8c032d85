"""What a client does about a runner of another version (see `protocol.version`).

Below the RPC layer, which checks the version at the handshake, and the
installer, which decides whether to replace the runner.

An older runner is replaced by this client's own version, without asking: the
runner is per user, installs in seconds and its jobs survive the swap. A newer
runner is left alone, since another client put it there on purpose; this
client says plainly that it is the one to upgrade, instead of failing later on
a message it does not know.
"""

from __future__ import annotations

from protocol.version import __version__, is_newer


def runner_is_newer(runner_version: str) -> bool:
    return is_newer(runner_version, __version__)


def runner_too_new_message(host: str, runner_version: str) -> str:
    return (
        f"{host}: the runner there is tether {runner_version}, newer than this tether "
        f"{__version__}: upgrade tether on this machine (e.g. `pip install -U tether`) "
        f"to use that host"
    )
