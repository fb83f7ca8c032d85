"""The crontab block `tether-runner cron` manages, as text: one copy, others' lines kept."""

from __future__ import annotations

from runner.host.cron import BEGIN, END, current_entry, with_entry, without_entry

COMMAND = "/home/me/.local/share/tether/runner/current/bin/tether-runner"
THEIRS = "MAILTO=me@example.org\n# nightly backup\n0 3 * * * /usr/local/bin/backup\n"


def test_installing_into_a_crontab_keeps_the_persons_lines_and_adds_one_block() -> None:
    updated = with_entry(THEIRS, COMMAND)
    assert updated.startswith(THEIRS)
    assert current_entry(updated) == [
        BEGIN,
        f"@reboot {COMMAND} serve --daemon >/dev/null 2>&1",
        f"*/5 * * * * {COMMAND} serve --daemon >/dev/null 2>&1",
        END,
    ]


def test_installing_twice_or_over_an_older_entry_leaves_exactly_one_block() -> None:
    once = with_entry(THEIRS, "/old/path/tether-runner")
    twice = with_entry(with_entry(once, COMMAND), COMMAND)
    assert twice.count(BEGIN) == 1 and "/old/path" not in twice
    assert twice == with_entry(THEIRS, COMMAND)


def test_removing_gives_back_the_crontab_as_it_was() -> None:
    assert "\n".join(without_entry(with_entry(THEIRS, COMMAND))) + "\n" == THEIRS
    assert without_entry(with_entry("", COMMAND)) == []
