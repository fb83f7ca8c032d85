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
import shlex
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from protocol.host_layout import CURRENT, INSTALL_ROOT, MARKER
from tui.install.errors import InstallError
from tui.install.shell import CommandResult, HostShell
from tui.install.tags import HostPlatform

MARK = "tether-probe:"
MIN_PYTHON = (3, 9)
PYTHON_NAMES = ("python3", *(f"python3.{m}" for m in range(14, 8, -1)))
#: Seconds for the whole probe; pip's index check alone may take up to ~10.
PROBE_TIMEOUT_S = 60.0

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
    lines: Dict[str, List[str]] = {}
    for line in result.stdout.splitlines():
        if line.startswith(MARK):
            word, _, rest = line[len(MARK) :].strip().partition(" ")
            lines.setdefault(word, []).append(rest)
    if "python" not in lines and "none" not in lines:
        detail = " ".join((result.stderr or result.stdout).split())[-300:]
        raise InstallError(
            f"{host}: the login shell did not run tether's probe "
            f"({detail or f'exit status {result.exit_status}'})"
        )
    old = [_old_python(text) for text in lines.get("old", [])]
    if "python" not in lines:
        raise InstallError(_no_python_message(host, old))
    info = _json(host, lines["python"][0])
    platform = HostPlatform(
        machine=str(info.get("machine", "")),
        libc=str(info.get("libc", "")),
        libc_version=_libc_version(str(info.get("libc_version", ""))),
        python=(int(info["version"][0]), int(info["version"][1])),
        free_threaded=bool(info.get("free_threaded")),
    )
    pip = lines.get("pip", ["none"])[0]
    logind = lines.get("logind", [""])[0].split()
    index = lines.get("index", [None])[0]
    return HostFacts(
        host=host,
        found=lines.get("found", [str(info["path"])])[0],
        python=str(info["path"]),
        python_version=(int(info["version"][0]), int(info["version"][1]), int(info["version"][2])),
        platform=platform,
        home=str(info["home"]),
        free_bytes=int(info.get("free_bytes", 0)),
        venv=lines.get("venv", ["no"])[0] == "yes",
        ensurepip=lines.get("ensurepip", ["no"])[0] == "yes",
        pip=None if pip == "none" else pip,
        index_reachable=None if index is None else index == "ok",
        index_detail="" if index is None else index.partition(" ")[2].strip(),
        installed=tuple(lines.get("installed", [])),
        current=lines.get("current", [None])[0],
        older_pythons=tuple(old),
        logind_kills=_yes_no(logind[0]) if logind else None,
        linger=_yes_no(logind[1]) if len(logind) > 1 else None,
    )


def _json(host: str, text: str) -> Dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        raise InstallError(f"{host}: python3 answered tether's probe with {text[:200]!r}") from None
    if not isinstance(data, dict) or "version" not in data or "path" not in data:
        raise InstallError(f"{host}: python3 answered tether's probe with {text[:200]!r}")
    return data


def _old_python(text: str) -> str:
    try:
        data = json.loads(text)
        version = ".".join(str(v) for v in data["version"])
        return f"{data['path']} is {version}"
    except (ValueError, KeyError, TypeError):
        return text.strip()


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
