"""What travels to a host, and what the host-side installer does with it."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
import tomllib

from tests.conftest import REPO
from tests.install.conftest import run_wheelhouse
from tui.install import host_facts, host_install
from tui.install.errors import InstallError
from tui.install.host_script import host_script
from tui.install.runner_archive import build_archive
from tui.install.tags import HostPlatform
from tui.install.wheelhouse import (
    MANIFEST,
    RUNNER_REQUIREMENTS,
    CachedWheel,
    Wheelhouse,
    cached_wheelhouse,
    copy_verified,
)


def test_the_archive_holds_the_runner_and_protocol_code_and_nothing_else() -> None:
    archive = build_archive()
    names = zipfile.ZipFile(__import__("io").BytesIO(archive.data)).namelist()
    assert {"runner/host/cli.py", "runner/jobs/shim.py", "protocol/version.py"} <= set(names)
    assert all(n.split("/")[0] in ("runner", "protocol") and n.endswith(".py") for n in names)
    assert len(archive.data) < 400_000
    assert build_archive().data == archive.data  # reproducible: same code, same bytes


def test_an_archive_can_state_another_version_but_not_a_malformed_one() -> None:
    older = build_archive("0.0.1")
    version_py = zipfile.ZipFile(__import__("io").BytesIO(older.data)).read("protocol/version.py")
    assert b'__version__ = "0.0.1"' in version_py
    with pytest.raises(InstallError, match="is not a version string"):
        build_archive('1.0"; import os')


def test_the_runner_requirements_are_pyprojects_minus_the_client_only_ones() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    runner_side = [d for d in project["dependencies"] if not d.startswith(("textual", "asyncssh"))]
    assert list(RUNNER_REQUIREMENTS) == runner_side


def test_a_wheel_cache_entry_counts_only_while_its_manifest_matches_every_wheel(
    tmp_path: Path,
) -> None:
    kind = HostPlatform("x86_64", "glibc", (2, 36), (3, 11))
    entry = tmp_path / kind.cache_key()
    entry.mkdir()
    wheel = entry / "msgpack-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    wheel.write_bytes(b"x" * 10)
    digest = hashlib.sha256(b"x" * 10).hexdigest()
    record = {"size": 10, "sha256": digest}
    manifest = {"requirements": list(RUNNER_REQUIREMENTS), "files": {wheel.name: record}}
    (entry / MANIFEST).write_text(json.dumps(manifest))
    assert cached_wheelhouse(kind, tmp_path) == Wheelhouse(entry, (CachedWheel(wheel, 10, digest),))
    wheel.write_bytes(b"x" * 5)  # an interrupted copy
    assert cached_wheelhouse(kind, tmp_path) is None
    wheel.write_bytes(b"x" * 10)
    (entry / MANIFEST).write_text(json.dumps({**manifest, "requirements": ["msgpack"]}))
    assert cached_wheelhouse(kind, tmp_path) is None
    (entry / MANIFEST).write_text(json.dumps({**manifest, "files": {wheel.name: 10}}))
    assert cached_wheelhouse(kind, tmp_path) is None  # recorded before hashes were: fetched again


@pytest.mark.parametrize("script", [host_install, host_facts])
def test_the_host_side_scripts_need_only_the_standard_library_of_python_3_9(
    script: ModuleType, tmp_path: Path
) -> None:
    path = str(tmp_path / "script.py")  # what travels: the protocol modules inlined
    Path(path).write_bytes(host_script(script))
    bare = subprocess.run(  # -S: no site-packages at all, as on a bare host
        [sys.executable, "-I", "-S", path, "--help"], capture_output=True, text=True
    )
    assert bare.returncode == 0, bare.stderr
    vermin = Path(sys.executable).parent / "vermin"
    if not vermin.exists():
        pytest.skip("vermin is not installed (pip install -e '.[dev]')")
    checked = subprocess.run(
        [str(vermin), "--no-tips", "--violations", "-t=3.9-", path], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def _zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def test_wheels_unpack_with_their_data_dirs_and_unsafe_paths_are_refused(tmp_path: Path) -> None:
    wheel = _zip(
        tmp_path / "pkg-1.0-py3-none-any.whl",
        {
            "pkg/__init__.py": b"X = 1\n",
            "pkg-1.0.dist-info/METADATA": b"Name: pkg\n",
            "pkg-1.0.data/purelib/extra.py": b"Y = 2\n",
            "pkg-1.0.data/scripts/tool": b"#!/bin/sh\n",
        },
    )
    lib = tmp_path / "lib"
    host_install._unpack_wheel(wheel.name, wheel.read_bytes(), lib)
    assert (lib / "pkg" / "__init__.py").read_bytes() == b"X = 1\n"
    assert (lib / "extra.py").exists() and not (lib / "tool").exists()
    evil = _zip(tmp_path / "evil-1.0-py3-none-any.whl", {"../../outside.py": b"boom"})
    with pytest.raises(host_install.Failure, match="unsafe path"):
        host_install._unpack_wheel(evil.name, evil.read_bytes(), tmp_path / "lib2")
    assert not (tmp_path / "outside.py").exists()


@pytest.fixture(scope="session")
def local_wheels(pytestconfig: pytest.Config) -> Wheelhouse:
    """Wheels of the runner's dependencies for this machine's own python (one download
    per run, shared with the install tests when that python is the hosts' too)."""
    said = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os, sys; print(sys.version_info[0], sys.version_info[1], "
            "os.confstr('CS_GNU_LIBC_VERSION').split()[1])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    libc = [int(p) for p in said[2].split(".")[:2]]
    python = (int(said[0]), int(said[1]))
    kind = HostPlatform(platform.machine(), "glibc", (libc[0], libc[1]), python)
    return run_wheelhouse(pytestconfig, kind)


def _host_step(home: Path, *argv: str) -> dict[str, object]:
    source = host_script(host_install)
    done = subprocess.run(
        [sys.executable, "-I", "-", *argv],
        input=source,
        capture_output=True,
        env={**os.environ, "HOME": str(home)},
        cwd=home,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.decode().splitlines()[-1])  # type: ignore[no-any-return]


def _stage(root: Path, name: str, wheels: Wheelhouse, archive: bytes) -> list[str]:
    """An upload directory as the client leaves it; the hash arguments it would send."""
    staging = root / name
    staging.mkdir(parents=True)
    for wheel in wheels.wheels:
        shutil.copyfile(wheel.path, staging / wheel.name)
    (staging / "runner.zip").write_bytes(archive)
    return _hash_args(wheels, archive)


def _hash_args(wheels: Wheelhouse, archive: bytes) -> list[str]:
    named = [f"--wheel={name}={digest}" for name, digest in wheels.hashes().items()]
    return [*named, "--archive-sha256", hashlib.sha256(archive).hexdigest()]


def test_an_install_that_fails_verification_leaves_the_previous_version_untouched(
    tmp_path: Path, local_wheels: Wheelhouse
) -> None:
    root = tmp_path / ".local" / "share" / "tether" / "runner"
    common = ["--python", sys.executable, "--archive", "runner.zip", "--source", "wheels"]
    hashes = _stage(root, ".upload-a", local_wheels, build_archive("1.0.0").data)
    done = _host_step(
        tmp_path, "install", "--version", "1.0.0", "--staging", ".upload-a", *common, *hashes
    )
    assert done["result"] == "installed"
    launcher = root / "1.0.0" / "bin" / "tether-runner"
    said = subprocess.run(
        [str(launcher), "--version"],
        capture_output=True,
        text=True,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    assert said.stdout.strip() == "tether-runner 1.0.0"

    broken = zipfile.ZipFile(__import__("io").BytesIO(build_archive("2.0.0").data))
    files = {n: broken.read(n) for n in broken.namelist()}
    files["runner/server/daemon.py"] = b"def broken(:\n"
    _stage(root, ".upload-b", local_wheels, b"")
    broken_zip = _zip(root / ".upload-b" / "runner.zip", files).read_bytes()
    failed = _host_step(
        tmp_path,
        "install",
        "--version",
        "2.0.0",
        "--staging",
        ".upload-b",
        *common,
        *_hash_args(local_wheels, broken_zip),
    )
    assert failed["result"] == "failed"
    assert "the new runner does not load" in str(failed["detail"])
    assert "SyntaxError" in str(failed["detail"])
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        "1.0.0",
        "current",
    ]
    assert os.readlink(root / "current") == "1.0.0"
    assert not list(root.glob(".tmp-*"))
    assert launcher.exists() and (root / "1.0.0" / "installed.json").exists()


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def _installed(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


def test_the_host_installs_nothing_from_a_wheel_or_archive_changed_after_upload(
    tmp_path: Path, local_wheels: Wheelhouse
) -> None:
    root = tmp_path / ".local" / "share" / "tether" / "runner"
    common = ["--python", sys.executable, "--archive", "runner.zip", "--source", "wheels"]
    hashes = _stage(root, ".upload-a", local_wheels, build_archive("1.0.0").data)
    first = ["install", "--version", "1.0.0", "--staging", ".upload-a"]
    assert _host_step(tmp_path, *first, *common, *hashes)["result"] == "installed"

    newer = build_archive("2.0.0").data
    hashes = _stage(root, ".upload-b", local_wheels, newer)
    tampered = local_wheels.wheels[0].name
    _flip_last_byte(root / ".upload-b" / tampered)  # changed between upload and install
    second = ["install", "--version", "2.0.0", "--staging", ".upload-b"]
    failed = _host_step(tmp_path, *second, *common, *hashes)
    assert failed["result"] == "failed"
    assert f"the wheel {tampered} is not what the client sent (its sha256 differs)" in str(
        failed["detail"]
    )
    assert _installed(root) == ["1.0.0", "current"] and os.readlink(root / "current") == "1.0.0"
    assert not list(root.glob(".tmp-*"))

    hashes = _stage(root, ".upload-c", local_wheels, newer)
    _flip_last_byte(root / ".upload-c" / "runner.zip")
    third = ["install", "--version", "2.0.0", "--staging", ".upload-c"]
    failed = _host_step(tmp_path, *third, *common, *hashes)
    assert "the runner archive runner.zip is not what the client sent" in str(failed["detail"])
    assert _installed(root) == ["1.0.0", "current"]

    hashes = _stage(root, ".upload-d", local_wheels, newer)
    (root / ".upload-d" / "runner.zip").unlink()
    (root / ".upload-d" / "runner.zip").symlink_to(root / ".upload-c" / "runner.zip")
    failed = _host_step(
        tmp_path, "install", "--version", "2.0.0", "--staging", ".upload-d", *common, *hashes
    )
    assert "was not uploaded completely" in str(failed["detail"])  # a link is never followed
    assert _installed(root) == ["1.0.0", "current"]


def _cache_entry(root: Path, kind: HostPlatform, files: dict[str, bytes]) -> Path:
    entry = root / kind.cache_key()
    entry.mkdir(parents=True)
    records = {}
    for name, data in files.items():
        (entry / name).write_bytes(data)
        records[name] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest = {"requirements": list(RUNNER_REQUIREMENTS), "files": records}
    (entry / MANIFEST).write_text(json.dumps(manifest))
    return entry


KIND = HostPlatform("x86_64", "glibc", (2, 36), (3, 11))
WHEEL = "msgpack-1.0.8-cp311-cp311-manylinux_2_17_x86_64.whl"


def test_a_cached_wheel_changed_after_its_manifest_was_written_is_never_sent(
    tmp_path: Path,
) -> None:
    entry = _cache_entry(tmp_path, KIND, {WHEEL: b"the real wheel"})
    wheelhouse = cached_wheelhouse(KIND, tmp_path)
    assert wheelhouse is not None
    (entry / WHEEL).write_bytes(b"the evil wheel")  # same size, other bytes
    with pytest.raises(InstallError) as caught:
        cached_wheelhouse(KIND, tmp_path)
    assert str(caught.value) == (
        f"the wheel cache entry {entry} holds {WHEEL}, whose sha256 differs from the one "
        f"recorded when it was downloaded, so tether sends nothing from it: delete that "
        f"directory and run tether again to download the wheels afresh"
    )
    # ...nor when it changes after the check: what is uploaded is a checked copy.
    out = tmp_path / "upload"
    out.mkdir()
    with pytest.raises(InstallError, match="whose sha256 differs"):
        copy_verified(wheelhouse, out)
    assert not (out / WHEEL).exists()


@pytest.mark.parametrize(
    "name",
    ["../../.ssh/config", "/root/.ssh/config", "x/../../y-1-py3-none-any.whl", "config"],
)
def test_a_manifest_can_name_only_plain_wheel_files_inside_its_entry(
    tmp_path: Path, name: str
) -> None:
    home = tmp_path / "home"
    secret = home / ".ssh" / "config"
    secret.parent.mkdir(parents=True)
    secret.write_text("Host *\n  IdentityFile ~/.ssh/id_secret\n")
    root = home / ".cache" / "tether" / "wheels"
    entry = _cache_entry(root, KIND, {})
    data = secret.read_bytes()
    record = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    manifest = {"requirements": list(RUNNER_REQUIREMENTS), "files": {name: record}}
    (entry / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(
        InstallError, match="which is not a wheel file name, so tether sends nothing"
    ):
        cached_wheelhouse(KIND, root)


def test_a_wheel_in_the_cache_that_is_a_link_out_of_it_is_refused(tmp_path: Path) -> None:
    entry = _cache_entry(tmp_path / "cache", KIND, {WHEEL: b"wheel"})
    outside = tmp_path / "secret"
    outside.write_bytes(b"wheel")  # same bytes, so only the link gives it away
    (entry / WHEEL).unlink()
    (entry / WHEEL).symlink_to(outside)
    with pytest.raises(InstallError, match="as something other than a plain file"):
        cached_wheelhouse(KIND, tmp_path / "cache")
