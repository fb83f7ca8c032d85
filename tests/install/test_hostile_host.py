"""A host that lies: its probe output is checked field by field and never reaches
this machine's files.

The probe's answer comes from whatever ``python3`` the host's login PATH finds,
so a hostile (or broken) host can print anything. These tests put a fake
``python3`` first on a real account's PATH and check that the client refuses
its answer with one sentence naming the field, and writes nothing outside its
own cache on the person's machine.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any, Sequence

import pytest

from tests.install.conftest import FreshHost
from tui.install import doctor
from tui.install.errors import InstallError
from tui.install.installer import QuietProgress, install_runner
from tui.install.probe import MARK, parse_probe
from tui.install.shell import CommandResult
from tui.install.ssh_shell import SshShell
from tui.install.tags import HostPlatform, UnsupportedPlatform
from tui.ssh.connect import connect
from tui.ssh.target import parse_target

HONEST: dict[str, Any] = {
    "path": "/usr/bin/python3",
    "version": [3, 11, 2],
    "implementation": "cpython",
    "machine": "x86_64",
    "free_threaded": False,
    "libc": "glibc",
    "libc_version": "2.36",
    "home": "/home/me",
    "free_bytes": 50 * 1024**3,
}

#: (field, crafted value): each one a probe answer must be refused for.
CRAFTED: list[tuple[str, Any]] = [
    ("machine", "../../x"),
    ("machine", "x86_64/../../../.ssh"),
    ("machine", ""),
    ("libc", "glibc; rm -rf ~"),
    ("libc_version", "2.36/../../x"),
    ("libc_version", "2.1000"),
    ("version", [3, "11; touch /tmp/pwned", 2]),
    ("version", [3, True, 0]),
    ("version", [2, 7, 18]),
    ("version", "3.11.2"),
    ("path", "python3"),
    ("path", "/usr/bin/python3\nexec /tmp/evil"),
    ("home", "/home/me/../../etc"),
    ("home", None),
    ("free_threaded", "yes"),
    ("free_bytes", -1),
]


def _answer(**changes: Any) -> CommandResult:
    info = {**HONEST, **changes}
    lines = ["found /usr/local/bin/python3", f"python {json.dumps(info)}", "pip none"]
    return CommandResult(0, "".join(f"{MARK} {line}\n" for line in lines), "")


def test_an_honest_answer_is_taken() -> None:
    facts = parse_probe("gpu1", _answer())
    assert facts.platform.cache_key() == "cp311-manylinux_2_36_x86_64"
    assert facts.home == "/home/me" and facts.python == "/usr/bin/python3"


@pytest.mark.parametrize(("field", "value"), CRAFTED)
def test_a_probe_field_that_no_real_host_can_say_is_refused_by_name(field: str, value: Any) -> None:
    with pytest.raises(InstallError) as caught:
        parse_probe("gpu1", _answer(**{field: value}))
    message = str(caught.value)
    assert message.startswith(f"gpu1: tether's probe reported {field} "), message
    assert "check `command -v python3` there" in message
    assert message.isprintable() and len(message) < 400


@pytest.mark.parametrize(
    ("line", "field"),
    [("installed ../../x", "installed"), ("current /etc", "current"), ("found bin/py", "found")],
)
def test_the_shell_lines_of_the_probe_are_checked_too(line: str, field: str) -> None:
    result = _answer()
    crafted = CommandResult(0, result.stdout + f"{MARK} {line}\n", "")
    if field == "found":  # the first found line is the one taken
        crafted = CommandResult(0, f"{MARK} {line}\n" + result.stdout, "")
    with pytest.raises(InstallError, match=f"gpu1: tether's probe reported {field} "):
        parse_probe("gpu1", crafted)


def test_a_host_kind_cannot_be_spelled_with_a_path() -> None:
    with pytest.raises(UnsupportedPlatform, match="is not a machine name"):
        HostPlatform("../../x", "glibc", (2, 36), (3, 11))
    with pytest.raises(UnsupportedPlatform, match="is not a C library"):
        HostPlatform("x86_64", "glibc/..", (2, 36), (3, 11))


def test_a_doctor_refuses_host_facts_of_the_wrong_shape_and_shows_host_text_inert() -> None:
    good = {group: {} for group in ("runner", "installed", "state", "nvml", "logind")}
    assert doctor._checked_facts("gpu1", good) == good
    with pytest.raises(InstallError, match=r"^gpu1: tether's host facts have no nvml object"):
        doctor._checked_facts("gpu1", {**good, "nvml": "\x1b]52;c;aGk=\x07"})
    with pytest.raises(InstallError, match="have a runner status that is not an object"):
        doctor._checked_facts("gpu1", {**good, "runner": {"status": [1]}})
    check = doctor.gpu_check({"present": False, "reason": "\x1b]0;owned\x07"})
    text = doctor.Diagnosis("gpu1", [check], {}).to_text()
    assert "\x1b" not in text and "\\x1b]0;owned\\x07" in text


# -- end to end: a fake python3 first on a real account's login PATH -----------------


def _plant_fake_python(host: FreshHost, **changes: Any) -> None:
    """A ``python3`` in ``~/bin``, first on the login PATH, that answers tether's probe
    (``python3 -I -c CODE ...``) with crafted facts and fails everything else."""
    info = {**HONEST, "home": str(host.account.home), **changes}
    host.write_file(
        "bin/python3",
        "#!/bin/sh\n"
        "case \"$2\" in -c) cat <<'EOF'\n" + json.dumps(info) + "\nEOF\nexit 0;; esac\nexit 1\n",
        mode=0o755,
    )
    host.write_file(".profile", 'PATH="$HOME/bin:$PATH"\nexport PATH\n')
    host.write_file(".bash_profile", ". ~/.profile\n")


def _tree(home: Path) -> dict[str, str]:
    """Every path under `home` with what it is: a file's sha256, a link's target, or dir."""
    found = {}
    for path in sorted(home.rglob("*")):
        rel = str(path.relative_to(home))
        if path.is_symlink():
            found[rel] = f"-> {path.readlink()}"
        elif path.is_file():
            found[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            found[rel] = "dir"
    return found


def _own_wheel_cache(host: FreshHost) -> Path:
    """An empty wheel cache of the client's own (not the session's shared one), so that
    anything the client writes for this host lands inside the HOME we watch."""
    wheels = host.client.home / ".cache" / "tether" / "wheels"
    wheels.unlink()
    wheels.mkdir(mode=0o700)
    return wheels


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("machine", "../../../../x"),
        ("libc_version", "2.36_x86_64/../../../.ssh"),
        ("version", [3, "11$(touch /tmp/tether-pwned)", 2]),
    ],
)
def test_a_fake_python3_on_the_host_is_refused_and_nothing_is_written_outside_the_cache(
    fresh_host: FreshHost, field: str, value: Any
) -> None:
    _plant_fake_python(fresh_host, **{field: value})
    wheels = _own_wheel_cache(fresh_host)
    home = fresh_host.client.home
    before = _tree(home)

    done = fresh_host.tether("run", "-H", "gpu", "--", "true")
    err = done.stderr.decode()
    assert done.returncode != 0 and "Traceback" not in err, err
    assert f"tether: gpu: tether's probe reported {field} " in err, err
    assert fresh_host.installed_versions() == []

    after = _tree(home)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    outside = [p for p in changed if not p.startswith(".cache/tether/")]
    assert outside == [], outside
    assert list(wheels.iterdir()) == []
    assert not Path("/tmp/tether-pwned").exists()
    shutil.rmtree(wheels)


# -- end to end: wheels changed on either side -------------------------------------


def test_a_cached_wheel_changed_after_download_is_refused_and_the_host_keeps_its_runner(
    fresh_host: FreshHost,
) -> None:
    fresh_host.block_index()  # so the runner's dependencies travel as wheels from here
    wheels = _own_wheel_cache(fresh_host)
    shutil.copytree(fresh_host.servers.wheel_cache, wheels, dirs_exist_ok=True)  # downloaded
    first = fresh_host.tether("install", "-H", "gpu")
    assert first.returncode == 0, first.stderr
    (entry,) = [p for p in wheels.iterdir() if not p.name.startswith(".")]
    version = fresh_host.installed_versions()
    marker = (fresh_host.root / version[0] / "installed.json").stat().st_mtime_ns
    wheel = sorted(entry.glob("*.whl"))[0]
    data = bytearray(wheel.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only the hash can tell
    wheel.write_bytes(bytes(data))
    before = _tree(fresh_host.client.home)

    again = fresh_host.tether("install", "-H", "gpu", "--force")
    err = again.stderr.decode()
    assert again.returncode != 0 and "Traceback" not in err, err
    assert f"holds {wheel.name}, whose sha256 differs from the one recorded" in err, err
    assert fresh_host.installed_versions() == version
    assert (fresh_host.root / version[0] / "installed.json").stat().st_mtime_ns == marker
    after = _tree(fresh_host.client.home)
    changed = sorted(p for p in set(before) | set(after) if before.get(p) != after.get(p))
    assert [p for p in changed if not p.startswith(".cache/tether/")] == []
    assert not list(fresh_host.root.glob(".upload-*/*.whl"))  # no wheel was uploaded


class _TamperingShell(SshShell):
    """Uploads as usual, then changes each uploaded wheel on the host before the
    install step runs: another process writing into the upload directory."""

    async def upload(self, files: Sequence[Path], remote_dir: str) -> None:
        await super().upload(files, remote_dir)
        for path in files:
            if path.suffix == ".whl":
                uploaded = Path(remote_dir) / path.name  # the test host is this machine
                data = bytearray(uploaded.read_bytes())
                data[len(data) // 2] ^= 0xFF
                uploaded.write_bytes(bytes(data))


async def test_a_wheel_changed_on_the_host_between_upload_and_install_is_not_installed(
    fresh_host: FreshHost, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh_host.block_index()
    monkeypatch.setenv("HOME", str(fresh_host.client.home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    conn = await connect(parse_target("gpu"))
    try:
        with pytest.raises(InstallError) as caught:
            await install_runner(_TamperingShell(conn, "gpu"), progress=QuietProgress())
    finally:
        conn.close()
        await conn.wait_closed()
    message = str(caught.value)
    assert message.startswith("gpu: install failed: the wheel "), message
    assert "is not what the client sent (its sha256 differs), so nothing was installed" in message
    assert fresh_host.installed_versions() == []
    assert not (fresh_host.root / "current").exists()
