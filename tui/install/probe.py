"""What a host offers the runner, learnt with one fixed command.

The command is a POSIX ``sh`` script sent as one line; what varies travels as
positional arguments through `shlex.quote`, as in the bootstrap. It finds
python3 the way the person's login shell does (``$SHELL -l``, which reads
``~/.profile`` and friends), then the plain PATH, trying ``python3`` and then
``python3.14`` down to ``python3.9``, and keeps the first that is 3.9 or newer.
That python then reports, as JSON: its real path and version, the machine, the
C library and its version (which decide the wheel tags), the free space under
the install root; the script adds whether ``-m venv`` and ``-m ensurepip`` work
(Debian and Ubuntu ship python3 without them), whether pip is there and, when
asked, whether pip reaches an index with the host's own pip configuration
(a company mirror included), and which runner versions are installed.

No step needs venv, ensurepip or pip: they only decide how to install.
"""

from __future__ import annotations

import json
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from protocol.host_layout import CURRENT, INSTALL_ROOT, MARKER
from protocol.jobs import printable
from tui.install.errors import InstallError
from tui.install.shell import CommandResult, HostShell
from tui.install.tags import LIBCS, MACHINE, HostPlatform

MARK = "tether-probe:"
MIN_PYTHON = (3, 9)
PYTHON_NAMES = ("python3", *(f"python3.{m}" for m in range(14, 8, -1)))
#: Seconds for the whole probe; pip's index check alone may take up to ~10.
PROBE_TIMEOUT_S = 60.0
#: What the probe's fields may legally be (see `parse_probe`).
MAX_PATH = 4096
RUNNER_VERSION = re.compile(r"[0-9A-Za-z][0-9A-Za-z.+_-]{0,63}")
_LIBC_VERSION = re.compile(r"([0-9]{1,3}(\.[0-9]{1,3}){0,3})?")

# Runs under any python3 (3.6 syntax), so that an old one can say what it is.
_PYTHON_FACTS = """
import json, os, sys
info = {"path": os.path.realpath(sys.executable), "version": list(sys.version_info[:3])}
if sys.version_info < (3, 9):
    print(json.dumps(info))
    sys.exit(3)
import glob, platform, shutil, subprocess, sysconfig
info["implementation"] = sys.implementation.name
info["machine"] = platform.machine()
info["free_threaded"] = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
libc, libc_version = "", ""
try:
    gnu = os.confstr("CS_GNU_LIBC_VERSION") or ""
except (ValueError, OSError):
    gnu = ""
if gnu.startswith("glibc "):
    libc, libc_version = "glibc", gnu.split()[1]
else:
    for loader in sorted(glob.glob("/lib/ld-musl-*.so.1"))[:1]:
        said = subprocess.run([loader], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        for line in said.stderr.decode(errors="replace").splitlines():
            if line.startswith("Version "):
                libc, libc_version = "musl", line.split()[1]
info["libc"], info["libc_version"] = libc, libc_version
home = os.path.expanduser("~")
info["home"] = home
where = os.path.join(home, sys.argv[1])
while not os.path.exists(where):
    where = os.path.dirname(where)
info["free_bytes"] = shutil.disk_usage(where).free
print(json.dumps(info))
""".strip()

_SCRIPT = " ".join(
    line.strip()
    for line in """
    mark=tether-probe:; check_index=$1; code=$2; rel=$3; names=$4; marker=$5; current=$6;
    lookup="for n in $names; do command -v \\"\\$n\\"; done";
    login=$("${SHELL:-/bin/sh}" -lc "$lookup" </dev/null 2>/dev/null);
    plain=$(eval "$lookup" 2>/dev/null);
    root="$HOME/$rel";
    for m in "$root"/*/"$marker"; do
        d=${m%/*}; if [ -f "$m" ] && [ ! -L "$d" ]; then echo "$mark installed ${d##*/}"; fi;
    done;
    if [ -L "$root/$current" ]; then echo "$mark current $(readlink "$root/$current")"; fi;
    if [ -d /run/systemd/system ] && command -v loginctl >/dev/null 2>&1; then
        echo "$mark logind $(loginctl show-session -p KillUserProcesses --value 2>/dev/null)
            $(loginctl show-user "$(id -un)" -p Linger --value 2>/dev/null)";
    fi;
    printf '%s\\n%s\\n' "$login" "$plain" | {
        while IFS= read -r py; do
            case $py in /*) ;; *) continue ;; esac;
            [ -x "$py" ] || continue;
            out=$("$py" -I -c "$code" "$rel" 2>/dev/null); st=$?;
            if [ $st = 3 ]; then echo "$mark old $out"; continue; fi;
            [ $st = 0 ] || continue;
            echo "$mark found $py";
            echo "$mark python $out";
            if "$py" -m venv --help >/dev/null 2>&1; then echo "$mark venv yes";
            else echo "$mark venv no"; fi;
            if "$py" -m ensurepip --version >/dev/null 2>&1; then echo "$mark ensurepip yes";
            else echo "$mark ensurepip no"; fi;
            if pipv=$("$py" -m pip --version 2>/dev/null); then echo "$mark pip $pipv";
                if [ "$check_index" = 1 ]; then
                    if said=$("$py" -m pip index versions --disable-pip-version-check
                        --no-input --retries 0 --timeout 5 msgpack 2>&1);
                    then echo "$mark index ok";
                    else echo "$mark index failed $(printf '%s' "$said" | grep -v '^WARNING'
                        | tail -n 1)"; fi;
                fi;
            else echo "$mark pip none"; fi;
            exit 0;
        done;
        echo "$mark none";
    }
    """.strip().splitlines()
)


@dataclass(frozen=True)
class HostFacts:
    """What the probe learnt; `python` is the interpreter's real path."""

    host: str
    found: str  # the python3 as the login shell names it
    python: str
    python_version: Tuple[int, int, int]
    platform: HostPlatform
    home: str
    free_bytes: int
    venv: bool
    ensurepip: bool
    pip: Optional[str]  # ``pip --version`` output, None when pip is missing
    index_reachable: Optional[bool]  # None when not checked (or no pip)
    index_detail: str
    installed: Tuple[str, ...] = ()
    current: Optional[str] = None
    older_pythons: Tuple[str, ...] = field(default=())
    #: systemd-logind's KillUserProcesses and the user's Linger; None: no logind.
    logind_kills: Optional[bool] = None
    linger: Optional[bool] = None

    @property
    def logout_kills_runner(self) -> bool:
        """logind kills a user's processes at logout and lingering is off: nothing
        the runner can do keeps it (and its jobs) alive past the last SSH session."""
        return bool(self.logind_kills) and self.linger is False

    @property
    def install_root(self) -> str:
        return posixpath.join(self.home, INSTALL_ROOT)

    def describe(self) -> str:
        return self.platform.describe()


def probe_command(check_index: bool) -> str:
    """The exact command line sent to the host."""
    args = [
        "sh",
        "-c",
        _SCRIPT,
        "tether-probe",
        "1" if check_index else "0",
        _PYTHON_FACTS,
        INSTALL_ROOT,
        " ".join(PYTHON_NAMES),
        MARKER,
        CURRENT,
    ]
    return " ".join(shlex.quote(a) for a in args)


async def probe_host(shell: HostShell, check_index: bool) -> HostFacts:
    """Run the probe on `shell`'s host; raises `InstallError` saying what is missing."""
    result = await shell.run(probe_command(check_index), timeout=PROBE_TIMEOUT_S)
    return parse_probe(shell.name, result)


def parse_probe(host: str, result: CommandResult) -> HostFacts:
    """What the probe's output says, every field checked against what it can legally be.

    The output comes from the host: a hostile or broken one (a fake ``python3``
    first on its PATH) can print anything, and these values go into pip's
    arguments, cache directory names on this machine and command lines on the
    host. Anything else is refused with an `InstallError` naming the field.
    """
    lines: Dict[str, List[str]] = {}
    for line in result.stdout.splitlines():
        if line.startswith(MARK):
            word, _, rest = line[len(MARK) :].strip().partition(" ")
            lines.setdefault(word, []).append(rest)
    if "python" not in lines and "none" not in lines:
        detail = printable(" ".join((result.stderr or result.stdout).split())[-300:])
        raise InstallError(
            f"{host}: the login shell did not run tether's probe "
            f"({detail or f'exit status {result.exit_status}'})"
        )
    old = [_old_python(text) for text in lines.get("old", [])]
    if "python" not in lines:
        raise InstallError(_no_python_message(host, old))
    check = _FieldCheck(host)
    info = _json(host, lines["python"][0])
    version = check.python_version(info["version"])
    platform = check.platform(info, version)
    pip = lines.get("pip", ["none"])[0]
    logind = lines.get("logind", [""])[0].split()
    index = lines.get("index", [None])[0]
    return HostFacts(
        host=host,
        found=check.path("found", lines.get("found", [info["path"]])[0]),
        python=check.path("path", info["path"]),
        python_version=version,
        platform=platform,
        home=check.path("home", info.get("home")),
        free_bytes=check.count("free_bytes", info.get("free_bytes", 0)),
        venv=lines.get("venv", ["no"])[0] == "yes",
        ensurepip=lines.get("ensurepip", ["no"])[0] == "yes",
        pip=None if pip == "none" else _said(pip),
        index_reachable=None if index is None else index == "ok",
        index_detail="" if index is None else _said(index.partition(" ")[2].strip()),
        installed=tuple(check.runner_version("installed", v) for v in lines.get("installed", [])),
        current=check.runner_version("current", lines["current"][0])
        if "current" in lines
        else None,
        older_pythons=tuple(old),
        logind_kills=_yes_no(logind[0]) if logind else None,
        linger=_yes_no(logind[1]) if len(logind) > 1 else None,
    )


class _FieldCheck:
    """Checks one host's probe fields; each refusal names the host, the field and the value."""

    def __init__(self, host: str) -> None:
        self.host = host

    def refuse(self, field_name: str, value: object, legal: str) -> InstallError:
        shown = repr(value)
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        return InstallError(
            f"{self.host}: tether's probe reported {field_name} {printable(shown)}, which is "
            f"not {legal}; the python3 on that host's login PATH (or something posing as "
            f"it) answers wrongly: check `command -v python3` there"
        )

    def python_version(self, value: object) -> Tuple[int, int, int]:
        legal = "a Python 3 version (three numbers)"
        if not isinstance(value, list) or len(value) != 3 or value[0] != 3:
            raise self.refuse("version", value, legal)
        numbers = tuple(self.number("version", v, legal) for v in value)
        return numbers[0], numbers[1], numbers[2]

    def number(self, field_name: str, value: object, legal: str) -> int:
        if type(value) is not int or not 0 <= value < 1000:
            raise self.refuse(field_name, value, legal)
        return value

    def platform(self, info: Dict[str, Any], version: Tuple[int, int, int]) -> HostPlatform:
        machine = info.get("machine", "")
        if not isinstance(machine, str) or not MACHINE.fullmatch(machine):
            raise self.refuse("machine", machine, "a machine name like x86_64 or aarch64")
        libc = info.get("libc", "")
        if libc not in LIBCS:
            raise self.refuse("libc", libc, "glibc, musl or nothing")
        libc_version = info.get("libc_version", "")
        if not isinstance(libc_version, str) or not _LIBC_VERSION.fullmatch(libc_version):
            raise self.refuse("libc_version", libc_version, "a version like 2.36 (digits and dots)")
        free_threaded = info.get("free_threaded", False)
        if not isinstance(free_threaded, bool):
            raise self.refuse("free_threaded", free_threaded, "true or false")
        return HostPlatform(
            machine=machine,
            libc=libc,
            libc_version=_libc_version(libc_version),
            python=(version[0], version[1]),
            free_threaded=free_threaded,
        )

    def path(self, field_name: str, value: object) -> str:
        """An absolute path with no ``..``, NUL, newline or other control character."""
        if (
            not isinstance(value, str)
            or not value.startswith("/")
            or len(value) > MAX_PATH
            or not value.isprintable()
            or ".." in value.split("/")
        ):
            raise self.refuse(field_name, value, "an absolute path of printable characters")
        return value

    def count(self, field_name: str, value: object) -> int:
        if type(value) is not int or value < 0:
            raise self.refuse(field_name, value, "a number of bytes")
        return value

    def runner_version(self, field_name: str, value: str) -> str:
        """An installed runner's directory name: only ever a version string."""
        if not RUNNER_VERSION.fullmatch(value):
            raise self.refuse(field_name, value, "a runner version (digits, letters and .+_-)")
        return value


def _said(text: str) -> str:
    """Free text from the host's pip, kept for messages: printable and short."""
    return printable(text[:300])


def _json(host: str, text: str) -> Dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise InstallError(
            f"{host}: python3 answered tether's probe with {printable(repr(text[:200]))}"
        ) from None
    if not isinstance(data, dict) or "version" not in data or "path" not in data:
        raise InstallError(
            f"{host}: python3 answered tether's probe with {printable(repr(text[:200]))}"
        )
    return data


def _old_python(text: str) -> str:
    try:
        data = json.loads(text)
        version = ".".join(str(v) for v in data["version"])
        return printable(f"{data['path']} is {version}"[:300])
    except (ValueError, KeyError, TypeError):
        return printable(text.strip()[:300])


def _no_python_message(host: str, old: List[str]) -> str:
    need = f"{MIN_PYTHON[0]}.{MIN_PYTHON[1]}"
    if old:
        return (
            f"{host}: tether's runner needs Python {need} or newer, and the python3 found "
            f"there is too old ({'; '.join(old)}); install a newer one (e.g. "
            f"`dnf install python3.11` or `apt install python3.11`) and make it python3 on "
            f"the login PATH"
        )
    return (
        f"{host}: no python3 found on the login shell's PATH (looked for "
        f"{', '.join(PYTHON_NAMES)}); tether's runner needs Python {need} or newer there: "
        f"install python3 (e.g. `apt install python3` or `dnf install python3`)"
    )


def _yes_no(text: str) -> Optional[bool]:
    return {"yes": True, "no": False}.get(text.strip().lower())


def _libc_version(text: str) -> Tuple[int, int]:
    parts = text.split(".")
    try:
        return int(parts[0]), int(parts[1]) if len(parts) > 1 else 0
    except ValueError:
        return 0, 0
