"""asyncssh options from the person's SSH config, with tether's two rules on top."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from protocol.version import __version__
from tests.sshd import SshClient
from tui.ssh import options as ssh_options
from tui.ssh.connect import connect
from tui.ssh.options import aes_gcm_first, cpu_has_aes, resolve_options
from tui.ssh.route_cache import Route, load_route, save_route
from tui.ssh.target import parse_target


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".ssh").mkdir()
    return tmp_path


def test_aes_gcm_goes_first_and_nothing_is_lost() -> None:
    default = asyncssh.encryption.get_default_encryption_algs()
    ordered = aes_gcm_first(default)
    assert ordered[:2] == ["aes256-gcm@openssh.com", "aes128-gcm@openssh.com"]
    assert sorted(ordered) == sorted(a.decode() for a in default)


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        ("processor\t: 0\nflags\t\t: fpu sse2 aes avx2\n", True),
        ("processor\t: 0\nflags\t\t: fpu sse2 avx2\n", False),
        ("processor\t: 0\nFeatures\t: fp asimd aes pmull sha1\n", True),
    ],
)
def test_cpu_aes_flag_is_read_from_cpuinfo(
    cpuinfo: str, expected: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(cpuinfo)
    monkeypatch.setattr(ssh_options, "_CPUINFO", path)
    cpu_has_aes.cache_clear()
    try:
        assert cpu_has_aes() is expected
    finally:
        cpu_has_aes.cache_clear()


async def test_host_alias_is_resolved_by_the_ssh_config(home: Path) -> None:
    (home / ".ssh" / "config").write_text(
        "Host gpu1\n  HostName 10.1.2.3\n  Port 2200\n  User alice\n"
    )
    resolved = await resolve_options(parse_target("gpu1"))
    assert (resolved.endpoint.host, resolved.endpoint.port) == ("10.1.2.3", 2200)
    assert resolved.endpoint.user == "alice"
    typed = await resolve_options(parse_target("bob@gpu1:2300"))
    assert (typed.endpoint.user, typed.endpoint.port) == ("bob", 2300)
    if cpu_has_aes():
        assert resolved.options.encryption_algs[0].endswith(b"-gcm@openssh.com")


async def test_ciphers_chosen_in_the_ssh_config_are_kept(home: Path) -> None:
    (home / ".ssh" / "config").write_text(
        "Host gpu1\n  Ciphers chacha20-poly1305@openssh.com,aes128-ctr\n"
    )
    resolved = await resolve_options(parse_target("gpu1"))
    assert list(resolved.options.encryption_algs) == [
        b"chacha20-poly1305@openssh.com",
        b"aes128-ctr",
    ]


async def test_host_key_checking_cannot_be_configured_away(home: Path) -> None:
    (home / ".ssh" / "config").write_text("Host gpu1\n  UserKnownHostsFile none\n")
    (home / ".ssh" / "known_hosts").write_text("")
    resolved = await resolve_options(parse_target("gpu1"))
    assert resolved.options.known_hosts is not None
    assert resolved.known_hosts == [str(home / ".ssh" / "known_hosts")]


async def test_proxyjump_hops_are_left_to_tether_with_the_same_rules(home: Path) -> None:
    (home / ".ssh" / "config").write_text(
        "Host gpu1\n  ProxyJump alice@bastion:2201,inner\nHost *\n  UserKnownHostsFile none\n"
    )
    (home / ".ssh" / "known_hosts").write_text("")
    resolved = await resolve_options(parse_target("gpu1"))
    assert resolved.options.tunnel is None  # asyncssh opens no hop with options of its own
    hops = [(h.user, h.host, h.port) for h in resolved.jump_hosts]
    assert hops == [("alice", "bastion", 2201), (None, "inner", None)]
    bastion = await resolve_options(resolved.jump_hosts[0])
    assert bastion.options.known_hosts is not None and bastion.jump_hosts == ()
    assert bastion.known_hosts == [str(home / ".ssh" / "known_hosts")]


async def test_the_connection_uses_aes_gcm_where_the_cpu_has_aes(
    ssh_client: SshClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(ssh_client.home))
    conn = await connect(parse_target("gpu"))
    try:
        cipher = conn.get_extra_info("recv_cipher")
    finally:
        conn.close()
        await conn.wait_closed()
    assert cipher.endswith("-gcm@openssh.com") == cpu_has_aes(), cipher


def test_route_cache_round_trip_and_damage(tmp_path: Path) -> None:
    path = tmp_path / "cache" / "ssh-routes.json"
    assert load_route("gpu1", path) is None
    save_route("gpu1", Route("/run/tether.sock", "bridge"), path)
    save_route("gpu2", Route("/home/b/runner.sock", "streamlocal"), path)
    assert load_route("gpu1", path) == Route("/run/tether.sock", "bridge")
    assert load_route("gpu2", path) == Route("/home/b/runner.sock", "streamlocal")
    path.write_text("{not json")
    assert load_route("gpu1", path) is None
    save_route("gpu1", Route("/run/tether.sock", "streamlocal"), path)  # repairs it
    assert load_route("gpu1", path) == Route("/run/tether.sock", "streamlocal")
    # A route another tether version learnt sends this one through the bootstrap.
    path.write_text(path.read_text().replace(f'"{__version__}"', '"0.0.1"'))
    assert load_route("gpu1", path) is None
