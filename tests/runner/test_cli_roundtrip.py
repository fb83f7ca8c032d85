from __future__ import annotations

import json

from tests.conftest import UserEnv


def test_job_output_is_byte_identical_and_exit_code_is_kept(local_runner: UserEnv) -> None:
    script = (
        "import sys,time\n"
        "out=sys.stdout.buffer\n"
        "out.write(b'\\x1b[31mred\\x1b[0m\\n'); out.write(b'bad \\xff\\xfe utf8\\n')\n"
        "for i in range(5):\n"
        "    out.write(b'\\r%d%%' % (i*25)); out.flush(); time.sleep(0.05)\n"
        "out.write(b'\\n'); sys.exit(3)\n"
    )
    expected = (
        b"\x1b[31mred\x1b[0m\nbad \xff\xfe utf8\n"
        + b"".join(b"\r%d%%" % (i * 25) for i in range(5))
        + b"\n"
    )
    import sys

    job_id = local_runner.tether(
        "run", "--", sys.executable, "-c", script, check=True
    ).stdout.strip()
    follow = local_runner.tether("logs", "-f", job_id.decode())
    assert follow.returncode == 3
    assert follow.stdout == expected
    jobs = json.loads(local_runner.tether("ls", "--json", check=True).stdout)
    (job,) = jobs
    assert job["state"] == "failed"
    assert job["exit_code"] == 3
    assert job["log_bytes"] == len(expected)
    assert local_runner.job_dir(int(job_id)).joinpath("output.log").read_bytes() == expected
