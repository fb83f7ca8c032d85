"""When a runner must start in a user scope to outlive logout, and when it cannot."""

from __future__ import annotations

from runner.host.logind import (
    LogindFacts,
    configured_kill_user_processes,
    in_session_scope,
    needs_scope,
)

SSH_SESSION = "0::/user.slice/user-1000.slice/session-42.scope\n"
CRON = "0::/system.slice/cron.service\n"


def test_a_runner_started_from_an_ssh_session_is_in_its_scope_and_one_from_cron_is_not() -> None:
    assert in_session_scope(SSH_SESSION)
    assert not in_session_scope(CRON)
    assert not in_session_scope("0::/user.slice/user-1000.slice/user@1000.service/app.slice\n")


def test_only_kill_user_processes_with_lingering_calls_for_a_user_scope() -> None:
    assert needs_scope(LogindFacts(True, True, True, True))
    assert not needs_scope(LogindFacts(True, True, False, True))  # lingering off: nothing helps
    assert not needs_scope(LogindFacts(True, False, True, True))  # logind leaves it alone
    assert not needs_scope(LogindFacts(True, True, True, False))  # cron: not in a session
    assert not needs_scope(LogindFacts(False, None, None, False))  # no systemd


def test_logind_conf_drop_ins_override_the_main_file_in_order() -> None:
    main = "[Login]\n#KillUserProcesses=no\nKillUserProcesses=yes\n"
    drop_in = "[Login]\nKillUserProcesses=no\n"
    assert configured_kill_user_processes([main]) is True
    assert configured_kill_user_processes([main, drop_in]) is False
    assert configured_kill_user_processes(["[Other]\nKillUserProcesses=yes\n"]) is None
