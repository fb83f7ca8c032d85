"""What the probe says about a host, and the wheels and errors that follow from it."""

from __future__ import annotations

import pytest

from tui.install.errors import InstallError
from tui.install.probe import MARK, parse_probe
from tui.install.shell import CommandResult
from tui.install.tags import HostPlatform, UnsupportedPlatform

DEBIAN_12 = HostPlatform("x86_64", "glibc", (2, 36), (3, 11))


def test_a_glibc_host_accepts_every_manylinux_tag_down_to_the_oldest() -> None:
    tags = DEBIAN_12.platform_tags()
    assert tags[0] == "manylinux_2_36_x86_64"
    assert tags.index("manylinux_2_17_x86_64") < tags.index("manylinux2014_x86_64")
    assert {"manylinux2010_x86_64", "manylinux1_x86_64", "manylinux_2_5_x86_64"} <= set(tags)
    assert DEBIAN_12.cache_key() == "cp311-manylinux_2_36_x86_64"
    assert DEBIAN_12.describe() == "python 3.11, manylinux x86_64"


def test_an_arm_host_on_rhel9_gets_aarch64_tags_from_glibc_2_17_up() -> None:
    rhel9 = HostPlatform("aarch64", "glibc", (2, 34), (3, 9))
    tags = rhel9.platform_tags()
    assert tags[0] == "manylinux_2_34_aarch64" and tags[-1] == "manylinux2014_aarch64"
    assert not [t for t in tags if "manylinux1" in t or "2010" in t]
    args = rhel9.pip_download_args()
    assert args[:7] == [
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        "3.9",
        "--abi",
        "cp39",
    ]
    assert args.count("--platform") == len(tags)


def test_alpine_gets_musllinux_and_free_threading_shows_in_the_abi() -> None:
    alpine = HostPlatform("x86_64", "musl", (1, 2), (3, 13), free_threaded=True)
    assert alpine.platform_tags() == ["musllinux_1_2_x86_64", "musllinux_1_1_x86_64"]
    assert alpine.abi == "cp313t"
    assert alpine.describe() == "python 3.13 free-threaded, musllinux x86_64"


def test_an_unknown_c_library_says_which_wheels_exist() -> None:
    with pytest.raises(UnsupportedPlatform, match=r"only for glibc .* and musl"):
        HostPlatform("x86_64", "", (0, 0), (3, 11)).platform_tags()


def _probe(*lines: str, stderr: str = "") -> CommandResult:
    return CommandResult(0, "".join(f"{MARK} {line}\n" for line in lines), stderr)


def test_a_host_with_only_an_old_python3_is_told_which_one_and_what_is_needed() -> None:
    result = _probe('old {"path": "/usr/bin/python3.6", "version": [3, 6, 8]}', "none")
    with pytest.raises(InstallError) as caught:
        parse_probe("gpu1", result)
    message = str(caught.value)
    assert message.startswith("gpu1: tether's runner needs Python 3.9 or newer")
    assert "/usr/bin/python3.6 is 3.6.8" in message


def test_a_host_without_python3_is_told_to_install_it() -> None:
    with pytest.raises(InstallError, match="gpu1: no python3 found on the login shell's PATH"):
        parse_probe("gpu1", _probe("none"))


def test_a_login_shell_that_never_ran_the_probe_shows_what_it_said() -> None:
    result = CommandResult(1, "", "This account is currently not available.\n")
    with pytest.raises(InstallError, match=r"did not run tether's probe .*not available"):
        parse_probe("gpu1", result)


def test_the_probe_reports_python_tools_index_versions_and_logind() -> None:
    facts = parse_probe(
        "gpu1",
        _probe(
            "installed 0.3.0",
            "current 0.3.0",
            "logind yes no",
            "found /home/me/.local/bin/python3",
            'python {"path": "/usr/bin/python3.11", "version": [3, 11, 2], "machine": "x86_64",'
            ' "libc": "glibc", "libc_version": "2.36", "home": "/home/me", "free_bytes": 5}',
            "venv no",
            "ensurepip no",
            "pip pip 23.0.1 from /usr/lib/python3/dist-packages/pip (python 3.11)",
            "index failed ERROR: Could not find a version that satisfies the requirement msgpack",
        ),
    )
    assert facts.found == "/home/me/.local/bin/python3"
    assert facts.python == "/usr/bin/python3.11" and facts.python_version == (3, 11, 2)
    assert facts.platform == DEBIAN_12
    assert (facts.venv, facts.ensurepip, facts.index_reachable) == (False, False, False)
    assert facts.index_detail.startswith("ERROR: Could not find")
    assert facts.installed == ("0.3.0",) and facts.current == "0.3.0"
    assert facts.install_root == "/home/me/.local/share/tether/runner"
    assert facts.logout_kills_runner
