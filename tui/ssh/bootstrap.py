"""Finding and starting the runner on a host: the one command tether sends to sshd.

The command is a fixed POSIX ``sh`` script. Everything that varies (mode, version,
the configured runner path) travels as positional arguments, each passed through
`shlex.quote`, so no host name, path or setting can change what the script does.
It is a single line inside single quotes, so that whatever login shell the
account has (bash, zsh, fish, tcsh) hands it to ``sh`` unchanged.

The runner is looked for, in this order:

1. where automatic installation puts it, ``~/INSTALL_ROOT/VERSION/bin/tether-runner``
   (`protocol.host_layout`: the root is spliced into the script, a constant);
2. ``tether-runner`` on the PATH, as sshd's shell sets it and then as a login
   shell (which reads ``~/.profile`` and the like) sets it;
3. the path given for the host in tether's config (``[hosts.NAME] runner``).

In ``start`` mode the script starts the runner when it is not running (``serve
--daemon`` is harmless when it is) and prints its ``status --json``, which names
the socket to forward. In ``bridge`` mode it replaces itself with ``RUNNER
bridge``, whose stdin and stdout then carry the protocol.

A socket is forwarded to only once a second, tiny script (`socket_check_command`:
``id -u`` and ``ls -ldn``, no Python) has shown that it and its directory belong
to the account and that no one else can enter the directory: on a shared host a
socket path in /tmp can have been planted by another account, and a route
remembered from yesterday can point at a directory that is someone else's today.
"""

from __future__ import annotations

import json
import posixpath
import shlex
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from protocol.host_layout import INSTALL_ROOT, LAUNCHER
from protocol.version import PROTOCOL_VERSION, __version__
from tui.errors import ConnectError, IncompatibleRunner
from tui.ssh.errors import RunnerMissing

MARK = "tether-bootstrap:"
#: Exit status of the bridge-mode script when no runner was found.
MISSING_EXIT = 127

_SCRIPT = (
    " ".join(
        line.strip()
        for line in """
    mode=$1; version=$2; override=$3; mark=tether-bootstrap:;
    case $override in '~/'*) override="$HOME/${override#??}" ;; esac;
    installed="$HOME/@INSTALL_ROOT@/$version/@LAUNCHER@";
    if [ -x "$installed" ]; then runner=$installed;
    elif runner=$(command -v tether-runner 2>/dev/null) && [ -x "$runner" ]; then :;
    elif runner=$("${SHELL:-/bin/sh}" -lc 'command -v tether-runner' </dev/null 2>/dev/null
        | tail -n 1) && [ -n "$runner" ] && [ -x "$runner" ]; then :;
    elif [ -n "$override" ] && [ -x "$override" ]; then runner=$override;
    else runner=; fi;
    if [ -z "$runner" ]; then
        if [ -n "$override" ]; then echo "$mark missing-override $override" >&2; fi;
        if [ "$mode" = bridge ]; then echo "$mark missing" >&2; exit 127; fi;
        echo "$mark missing"; exit 0;
    fi;
    if [ "$mode" = bridge ]; then exec "$runner" bridge; fi;
    echo "$mark runner $runner";
    status=$("$runner" status --json 2>&1);
    if [ $? = 3 ]; then
        "$runner" serve --daemon >&2 || { echo "$mark start-failed"; exit 0; };
        status=$("$runner" status --json 2>&1);
    fi;
    echo "$mark status $status"
    """.strip().splitlines()
    )
    .replace("@INSTALL_ROOT@", INSTALL_ROOT)
    .replace("@LAUNCHER@", LAUNCHER)
)


def bootstrap_command(mode: str, override: Optional[str]) -> str:
    """The exact command line sent to the SSH server for `mode` (start or bridge)."""
    args = ["sh", "-c", _SCRIPT, "tether-bootstrap", mode, __version__, override or ""]
    return " ".join(shlex.quote(a) for a in args)


@dataclass(frozen=True)
class RunnerLocation:
    """Where the runner is on the host and where it listens."""

    runner: str
    socket_path: str
    status: Dict[str, Any]


def parse_bootstrap(
    host: str, stdout: str, stderr: str, exit_status: Optional[int]
) -> RunnerLocation:
    """Turn the script's output into a location, or into the error a person reads."""
    lines = {}
    for line in stdout.splitlines():
        if line.startswith(MARK):
            word, _, rest = line[len(MARK) :].strip().partition(" ")
            lines[word] = rest
    if "missing" in lines:
        raise RunnerMissing(missing_message(host, stderr))
    if "runner" not in lines:
        detail = _last_words(stderr or stdout) or f"exit status {exit_status}"
        raise ConnectError(
            f"{host}: the login shell did not run tether's bootstrap ({detail})", retryable=False
        )
    runner = lines["runner"]
    if "start-failed" in lines:
        raise ConnectError(
            f"{host}: the runner at {runner} could not start: {_last_words(stderr)}",
            retryable=False,
        )
    status = _status(host, runner, lines.get("status", ""))
    return RunnerLocation(runner=runner, socket_path=str(status["socket_path"]), status=status)


def _status(host: str, runner: str, text: str) -> Dict[str, Any]:
    try:
        status = json.loads(text)
    except ValueError:
        raise ConnectError(
            f"{host}: the runner at {runner} does not answer: {_last_words(text) or 'no status'}"
        ) from None
    if not isinstance(status, dict) or not isinstance(status.get("socket_path"), str):
        raise ConnectError(f"{host}: the runner at {runner} printed a status without socket_path")
    protocol = status.get("protocol")
    if status.get("running") and isinstance(protocol, int) and protocol != PROTOCOL_VERSION:
        raise IncompatibleRunner(
            f"{host}: the runner at {runner} speaks protocol {protocol} "
            f"(version {status.get('runner_version')}) and this tether speaks {PROTOCOL_VERSION} "
            f"(version {__version__}); install the same tether version on both sides",
            runner_version=str(status.get("runner_version") or "") or None,
        )
    if not status.get("running"):
        raise ConnectError(
            f"{host}: the runner at {runner} did not stay running; see its runner.log"
        )
    return status


_CHECK_SCRIPT = 'id -u; LC_ALL=C ls -ldn -- "$1"; LC_ALL=C ls -ldn -- "$2"'


def socket_check_command(socket_path: str) -> str:
    """The command that shows who owns the socket and its directory, and their modes."""
    directory = posixpath.dirname(socket_path) or "/"
    args = ["sh", "-c", _CHECK_SCRIPT, "tether-check", directory, socket_path]
    return " ".join(shlex.quote(a) for a in args)


def socket_check_problem(host: str, socket_path: str, stdout: str) -> Optional[str]:
    """Why the socket must not be used (one sentence naming the path and its owner),
    or None when it and its directory are the account's own and private.

    `stdout` is what `socket_check_command` printed: the account's uid, then an
    ``ls -ldn`` line for each path that exists (a missing one prints nothing)."""
    lines = stdout.splitlines()
    uid = lines[0].strip() if lines else ""
    if not uid.isdigit():
        return f"{host}: could not check who owns {socket_path} (no uid from `id -u`)"
    directory = posixpath.dirname(socket_path) or "/"
    for path, kind in ((directory, "d"), (socket_path, "s")):
        fields = _listing(lines[1:], path)
        if fields is None:
            return f"{host}: {path} does not exist"
        mode, owner = fields[0], fields[2]
        what = "directory" if kind == "d" else "socket"
        if owner != uid:
            return (
                f"{host}: the runner's {what} {path} is owned by uid {owner}, not by you "
                f"(uid {uid}): refusing to talk to a socket someone else may have planted; "
                "have it removed"
            )
        if not mode.startswith(kind) or mode[4:10] != "------":
            return (
                f"{host}: the runner's {what} {path} has mode {mode[:10]}, not private to "
                f"you: refusing to use it; run `chmod 700 {directory}` there and retry"
            )
    return None


def _listing(lines: List[str], path: str) -> Optional[List[str]]:
    """The fields of the ``ls -ldn`` line about `path` (a link's ends ``-> target``)."""
    for line in lines:
        fields = line.split()
        if len(fields) >= 4 and (line.endswith(f" {path}") or f" {path} -> " in line):
            return fields
    return None


def missing_message(host: str, stderr: str) -> str:
    """What to do when no runner was found; `stderr` names a configured path that failed."""
    override = ""
    for line in stderr.splitlines():
        if line.startswith(f"{MARK} missing-override "):
            override = line.split(" ", 2)[2]
    where = (
        f"the runner set in tether's config ({override}) is not an executable file there, and "
        if override
        else ""
    )
    return (
        f"tether's runner is not installed on {host}: {where}no tether-runner was found in "
        f"~/{INSTALL_ROOT}/{__version__}/ or on the login shell's PATH "
        f"(install it there with `pip install tether`, or set [hosts.{_toml_key(host)}] "
        f'runner = "/path/to/tether-runner" in ~/.config/tether/config.toml)'
    )


def _toml_key(host: str) -> str:
    bare = host.replace("-", "").replace("_", "").isalnum()
    return host if bare else json.dumps(host)


def _last_words(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else "..." + text[-limit:]
