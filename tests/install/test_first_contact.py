"""First contact with a host that has only sshd and python3: the runner installs itself."""

from __future__ import annotations

import re

import psutil

from protocol.version import __version__
from tests.install.conftest import FreshHost

PROGRESS = re.compile(
    rf"installing tether {re.escape(__version__)} runner on gpu "
    r"\(python 3\.\d+, manylinux x86_64\)… done in (\d+m)?\d+s"
)


def _job_output(host: FreshHost, job: str) -> str:
    done = host.tether("logs", "-H", "gpu", "-f", job)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


def test_first_contact_installs_the_runner_runs_the_job_and_later_contacts_install_nothing(
    fresh_host: FreshHost,
) -> None:
    host = fresh_host
    first = host.tether("run", "-H", "gpu", "--", "sh", "-c", "echo hello from $(whoami)")
    assert first.returncode == 0, first.stderr
    assert PROGRESS.search(first.stderr.decode()), first.stderr
    job = first.stdout.decode().strip()
    assert _job_output(host, job) == f"hello from {host.account.name}\n"

    assert host.installed_versions() == [__version__]
    marker = host.marker(__version__)
    assert marker["source"] == "index"  # the host's pip reaches the registry here
    assert (host.root / "current").resolve() == host.root / __version__
    pid = host.daemon_pid(__version__)
    assert pid is not None
    daemon = psutil.Process(pid)
    assert daemon.exe().startswith("/usr/bin/python3")
    assert daemon.environ()["PYTHONPATH"] == str(host.root / __version__ / "lib")
    assert not [p for p in host.root.iterdir() if p.name.startswith((".upload-", ".tmp-"))]

    marker_mtime = (host.root / __version__ / "installed.json").stat().st_mtime_ns
    later = host.tether("ls", "-H", "gpu")
    assert later.returncode == 0, later.stderr
    assert "installing" not in later.stderr.decode()
    header, *rows = later.stdout.decode().splitlines()
    assert header.split()[:3] == ["ID", "NAME", "STATE"]
    assert [row.split()[0] for row in rows] == [job]  # the one job this host has run
    assert rows[0][header.index("STATE") :].split()[0] == "succeeded"
    assert rows[0].rstrip().endswith("sh -c 'echo hello from $(whoami)'")
    assert (host.root / __version__ / "installed.json").stat().st_mtime_ns == marker_mtime
    assert host.daemon_pid(__version__) == pid


def test_a_host_whose_pip_reaches_no_index_gets_the_wheels_from_the_client(
    fresh_host: FreshHost,
) -> None:
    host = fresh_host
    host.block_index()
    first = host.tether("run", "-H", "gpu", "--", "echo", "offline node")
    assert first.returncode == 0, first.stderr
    assert PROGRESS.search(first.stderr.decode()), first.stderr
    assert host.marker(__version__)["source"] == "wheels"
    assert _job_output(host, first.stdout.decode().strip()) == "offline node\n"


def test_a_python3_without_venv_or_ensurepip_still_gets_the_runner_over_sftp_less_ssh(
    fresh_host: FreshHost,
) -> None:
    """Debian's python3 without python3-venv refuses ``-m venv`` and ``-m ensurepip``;
    this host's server also has no SFTP subsystem, so files go through ``cat``."""
    host = fresh_host
    wrapper = host.write_file(
        ".local/bin/python3",
        "#!/bin/sh\n"
        'case "$1 $2" in\n'
        '  "-m venv"|"-m ensurepip")\n'
        '    echo "The virtual environment was not created successfully because ensurepip is '
        "not available.  On Debian/Ubuntu systems, you need to install the python3-venv "
        'package" >&2; exit 1 ;;\n'
        "esac\n"
        'exec /usr/bin/python3 "$@"\n',
        mode=0o755,
    )
    found = host.login_shell("command -v python3")
    assert found.stdout.decode().strip() == str(wrapper)  # first on the login PATH

    first = host.tether("run", "-H", "gpu-nosftp", "--", "echo", "no venv needed")
    assert first.returncode == 0, first.stderr
    assert "installing tether" in first.stderr.decode()
    assert _job_output_via(host, "gpu-nosftp", first.stdout.decode().strip()) == "no venv needed\n"


def _job_output_via(host: FreshHost, alias: str, job: str) -> str:
    done = host.tether("logs", "-H", alias, "-f", job)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()
