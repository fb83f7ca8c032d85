"""``tether hosts`` and ``-H @all`` on a machine whose only host is itself: nothing
known before its runner has run here, then this machine, as ``local``."""

from __future__ import annotations

import json

from tests.conftest import UserEnv


def test_this_machine_is_a_known_host_once_its_runner_has_run(user_env: UserEnv) -> None:
    first = user_env.tether("hosts")
    assert first.returncode == 0
    assert first.stdout.decode().startswith("tether knows no hosts yet")
    none = user_env.tether("ls", "-H", "@all")
    assert none.returncode == 1 and "-H @all: tether knows no hosts yet" in none.stderr.decode()

    job = int(user_env.tether("run", "--name", "here", "--", "true", check=True).stdout)
    reports = json.loads(user_env.tether("hosts", "--json", check=True).stdout)
    assert [(r["host"], r["link"], r["stale"]) for r in reports] == [("local", "connected", False)]
    listed = json.loads(user_env.tether("ls", "-H", "@all", "--all", "--json", check=True).stdout)
    assert [(j["host"], j["id"], j["name"]) for j in listed] == [("local", job, "here")]
