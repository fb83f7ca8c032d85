"""A directory the attacker planted where the victim's /tmp socket would go never
hears from the victim's client, and never keeps the victim's runner from starting."""

from __future__ import annotations

import json
import stat

from tests.security.conftest import TwoAccounts, plant_fake_runner


def test_a_planted_directory_does_not_stop_the_victims_runner(accounts: TwoAccounts) -> None:
    victim, attacker = accounts.victim, accounts.attacker
    first, second, third = victim.candidates()[:3]
    made = attacker.run("mkdir", "-m", "0777", str(first), str(second))
    assert made.returncode == 0, made.stderr.decode()
    started = victim.tether_runner("serve", "--daemon")
    assert started.returncode == 0, started.stderr.decode()
    status = json.loads(victim.tether_runner("status", "--json").stdout)
    assert status["running"] and status["socket_path"] == str(third / "runner.sock")
    info = third.lstat()
    assert info.st_uid == victim.account.uid and stat.S_IMODE(info.st_mode) == 0o700
    assert not any(first.iterdir()) and not any(second.iterdir())


def test_the_victims_client_never_talks_to_a_planted_socket(accounts: TwoAccounts) -> None:
    victim, attacker = accounts.victim, accounts.attacker
    first, second = victim.candidates()[:2]
    fake = plant_fake_runner(attacker, first)
    result = victim.tether("run", "--env", "HF_TOKEN=hf_secret", "--", "true")
    assert fake.heard() == b"", "the fake runner heard from the victim"
    assert result.returncode == 0, result.stderr.decode()
    status = json.loads(victim.tether_runner("status", "--json").stdout)
    assert status["socket_path"] == str(second / "runner.sock")


def test_when_every_place_is_planted_the_client_says_where_and_whose(
    accounts: TwoAccounts,
) -> None:
    victim, attacker = accounts.victim, accounts.attacker
    first, *others = victim.candidates()
    fake = plant_fake_runner(attacker, first)
    made = attacker.run("mkdir", "-m", "0755", *map(str, others))
    assert made.returncode == 0, made.stderr.decode()
    result = victim.tether("run", "--env", "HF_TOKEN=hf_secret", "--", "true")
    assert fake.heard() == b"", "the fake runner heard from the victim"
    err = result.stderr.decode()
    assert result.returncode != 0 and "Traceback" not in err, err
    assert len(err.strip().splitlines()) == 1 and err.startswith("tether: "), err
    assert str(first) in err and attacker.account.name in err, err
    runner = victim.tether_runner("serve", "--daemon")
    said = runner.stderr.decode()
    assert runner.returncode != 0 and len(said.strip().splitlines()) == 1, said
    assert str(first) in said and attacker.account.name in said, said
