"""The host-side check of a socket before it is forwarded to: what `ls -ldn` says
about the socket and its directory decides, and anything not the account's own
and private is refused with the path and its owner."""

from __future__ import annotations

from tui.ssh.bootstrap import socket_check_command, socket_check_problem

SOCK = "/tmp/tether-1000-abcdef0123/runner.sock"
DIR = "/tmp/tether-1000-abcdef0123"
OWN_DIR = f"drwx------ 2 1000 1000 60 Jan  1 00:00 {DIR}"
OWN_SOCK = f"srw------- 1 1000 1000 0 Jan  1 00:00 {SOCK}"


def _problem(*lines: str) -> str | None:
    return socket_check_problem("gpu", SOCK, "\n".join(["1000", *lines]) + "\n")


def test_the_accounts_own_private_socket_passes() -> None:
    assert _problem(OWN_DIR, OWN_SOCK) is None
    assert _problem(OWN_DIR.replace("------ ", "------. "), OWN_SOCK) is None  # SELinux


def test_a_directory_of_another_uid_is_refused_naming_it_and_its_owner() -> None:
    problem = _problem(OWN_DIR.replace(" 1000 1000 ", " 1003 1003 "), OWN_SOCK)
    assert problem is not None and DIR in problem and "uid 1003" in problem


def test_open_modes_links_and_missing_paths_are_refused() -> None:
    assert "mode drwxr-xr-x" in str(_problem(OWN_DIR.replace("rwx------", "rwxr-xr-x"), OWN_SOCK))
    assert "mode srw-rw-rw-" in str(_problem(OWN_DIR, OWN_SOCK.replace("rw-------", "rw-rw-rw-")))
    link = f"lrwxrwxrwx 1 1000 1000 9 Jan  1 00:00 {DIR} -> /tmp/else"
    assert "mode lrwxrwxrwx" in str(_problem(link, OWN_SOCK))
    assert "does not exist" in str(_problem(OWN_DIR))
    assert "no uid" in str(socket_check_problem("gpu", SOCK, ""))


def test_the_check_command_quotes_the_path() -> None:
    command = socket_check_command("/tmp/x'; rm -rf ~ #/runner.sock")
    assert command.startswith("sh -c ") and "'\"'\"'" in command
