#!/usr/bin/env python3
"""Benchmark `tether run --sync` and `tether pull` over SSH against tar, ssh and scp.

Starts its own OpenSSH sshd on 127.0.0.1 with a throwaway account, as
scripts/bench_ssh.py does (needs root and /usr/sbin/sshd), then times, each
against a baseline measured in the same run:

  first sync   `tether run -H HOST --sync TREE -- true` of a fresh tree (5,000 files,
               200 MB by default) against `tar c TREE | ssh HOST tar x`
               (ratio = tar time / tether time; goal >= 0.8, moonshot >= 1.0)
  second sync  the same after one file changed, against `ssh HOST true`
               (ratio = tether time / ssh time; goal <= 2.0)
  pull         `tether pull -H HOST JOB` of a 1 GiB file a job wrote, against
               `scp HOST:FILE` (ratio = scp time / tether time; goal >= 0.8);
               beside it, the same file over SFTP on tether's own SSH connection
               (asyncssh, as tether connects), to compare the two ways down

Each timing is the best of --repeat runs (a fresh tree, or a fresh destination,
each time). Both tether timings include the CLI's start-up and, for the syncs,
the job's submission and the host's private copy of the tree.

Run: .venv/bin/python scripts/bench_sync.py [--files 5000] [--tree-mb 200] [--pull-mb 1024]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import List

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_ssh import bench_world, ssh_argv, tether_argv  # noqa: E402

from tests.conftest import wait_for  # noqa: E402
from tests.sshd import SshClient  # noqa: E402


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--files", type=int, default=5000, help="files in the synced tree")
    parser.add_argument("--tree-mb", type=int, default=200, help="size of the synced tree (MB)")
    parser.add_argument("--pull-mb", type=int, default=1024, help="size of the pulled file (MB)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each timing (best kept)")
    return parser.parse_args()


def make_tree(root: Path, files: int, total_mb: int, seed: int) -> None:
    """A project-like tree: most files small (source, configs), a few large ones
    (data, weights) holding most of the bytes; random bytes, so nothing compresses."""
    rng = random.Random(seed)
    big = max(1, files // 500)
    small_bytes = total_mb * 1_000_000 // 5
    sizes = [rng.randint(1, 2 * small_bytes // max(files - big, 1)) for _ in range(files - big)]
    sizes += [(total_mb * 1_000_000 - sum(sizes)) // big] * big
    for i, size in enumerate(sizes):
        path = root / f"pkg{i % 40}" / f"mod{i % 7}" / f"file{i}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))


def run(argv: List[str], client: SshClient, **kwargs: object) -> float:
    started = time.perf_counter()
    done = subprocess.run(argv, env=client.env.env, cwd=client.home, capture_output=True, **kwargs)  # type: ignore[call-overload]
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{argv[:6]} failed: {done.stderr.decode()[-800:]}")
    return elapsed


def tar_ssh(client: SshClient, tree: Path, dest: str) -> float:
    ssh = shlex.join(ssh_argv(client, f"mkdir -p {dest} && tar x -C {dest}"))
    return run(["bash", "-c", f"tar c -C {tree} . | {ssh}"], client)


def sync(client: SshClient, tree: Path) -> float:
    return run(tether_argv("run", "-H", "gpu", "--sync", str(tree), "--", "true"), client)


def jobs(client: SshClient) -> list:
    out = client.tether("ls", "-H", "gpu", "--all", "--json", check=True).stdout
    return json.loads(out)  # type: ignore[no-any-return]


def bench_syncs(client: SshClient, base: Path, args: argparse.Namespace) -> None:
    firsts_tar, firsts_tether, seconds, trues = [], [], [], []
    for attempt in range(args.repeat):
        tree = base / f"tree{attempt}"
        make_tree(tree, args.files, args.tree_mb, seed=attempt)
        firsts_tar.append(tar_ssh(client, tree, f"/tmp/bench-sync-tar-{os.getpid()}-{attempt}"))
        firsts_tether.append(sync(client, tree))
        changed = tree / "pkg0" / "mod0" / "file0.py"
        changed.write_bytes(changed.read_bytes() + b"# one more line\n")
        seconds.append(sync(client, tree))
        trues.append(run(ssh_argv(client, "true"), client))
    t_tar, t_first = min(firsts_tar), min(firsts_tether)
    t_second, t_true = min(seconds), min(trues)
    mb = args.tree_mb
    print(f"first sync, {args.files:,} files, {mb} MB (best of {args.repeat}):")
    print(f"  tar c | ssh tar x          {t_tar:7.2f} s  {mb / t_tar:7.1f} MB/s")
    print(f"  tether run --sync          {t_first:7.2f} s  {mb / t_first:7.1f} MB/s")
    print(f"  ratio (tar time / tether time): {t_tar / t_first:.2f}  (goal >= 0.8)")
    print("second sync, one file changed:")
    print(f"  ssh HOST true              {t_true * 1000:7.0f} ms")
    print(f"  tether run --sync          {t_second * 1000:7.0f} ms")
    print(f"  ratio (tether / ssh true): {t_second / t_true:.2f}  (goal <= 2.0)")


def bench_pull(client: SshClient, base: Path, args: argparse.Namespace) -> None:
    size = args.pull_mb * 1024 * 1024
    writer = (
        "import os\n"
        "block = os.urandom(1 << 20)\n"
        "with open('weights.bin', 'wb') as f:\n"
        f"    for _ in range({args.pull_mb}): f.write(block)\n"
    )
    tree = base / "pull-tree"
    tree.mkdir()
    (tree / "write.py").write_text(writer)
    out = client.tether("run", "-H", "gpu", "--sync", str(tree), "--", "python3", "write.py")
    job_id = int(out.stdout)
    wait_for(
        lambda: any(j["id"] == job_id and j["state"] == "succeeded" for j in jobs(client)),
        timeout=600,
        interval=1.0,
    )
    remote = next(j for j in jobs(client) if j["id"] == job_id)["cwd"] + "/weights.bin"
    t_scp, t_pull = [], []
    for attempt in range(args.repeat):
        scp_to = base / f"scp{attempt}"
        scp_to.mkdir()
        config = client.home / ".ssh" / "config"
        scp = [
            "scp",
            "-O",
            "-q",
            "-F",
            str(config),
            "-o",
            f"UserKnownHostsFile={client.known_hosts}",
        ]
        t_scp.append(run([*scp, f"gpu:{remote}", str(scp_to)], client))
        pull_to = base / f"pull{attempt}"
        t_pull.append(
            run(tether_argv("pull", "-H", "gpu", str(job_id), "--to", str(pull_to)), client)
        )
        assert (pull_to / "weights.bin").stat().st_size == size
        shutil.rmtree(scp_to)
        shutil.rmtree(pull_to)
    best_scp, best_pull = min(t_scp), min(t_pull)
    best_sftp = min(sftp_get(client, remote, base / "sftp.bin") for _ in range(args.repeat))
    mb = size / 1e6
    print(f"pull of a {args.pull_mb} MiB file (best of {args.repeat}):")
    print(f"  scp                        {best_scp:7.2f} s  {mb / best_scp:7.1f} MB/s")
    print(f"  tether pull                {best_pull:7.2f} s  {mb / best_pull:7.1f} MB/s")
    print(f"  (SFTP on tether's SSH      {best_sftp:7.2f} s  {mb / best_sftp:7.1f} MB/s)")
    print(f"  ratio (scp time / tether time): {best_scp / best_pull:.2f}  (goal >= 0.8)")


def sftp_get(client: SshClient, remote: str, local: Path) -> float:
    """The file over SFTP, on an SSH connection made as tether makes its own
    (same config, keys and ciphers), timed from connect to the last byte."""
    code = (
        "import asyncio, sys, time\n"
        "from tui.ssh.connect import connect\n"
        "from tui.ssh.target import parse_target\n"
        "async def main():\n"
        "    start = time.perf_counter()\n"
        "    conn = await connect(parse_target('gpu'))\n"
        "    async with conn.start_sftp_client() as sftp:\n"
        "        await sftp.get(sys.argv[1], sys.argv[2], block_size=256 * 1024)\n"
        "    conn.close()\n"
        "    print(time.perf_counter() - start)\n"
        "asyncio.run(main())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, remote, str(local)],
        env=client.env.env,
        cwd=client.home,
        capture_output=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"SFTP get failed: {done.stderr.decode()[-800:]}")
    local.unlink()
    return float(done.stdout)


def main() -> int:
    args = parse_args()
    if os.geteuid() != 0:
        print("bench_sync: needs root (it creates a throwaway account for the remote side)")
        return 2
    try:
        with bench_world("sync", sftp=True) as world:
            base = world.base
            client = world.client(base / "client")
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"sshd on 127.0.0.1:{world.gpu.port}; {os.cpu_count()} cores, load {load}")
            client.tether("status", "-H", "gpu", check=True)  # the runner up before timing
            bench_syncs(client, base, args)
            bench_pull(client, base, args)
    finally:
        subprocess.run(["bash", "-c", f"rm -rf /tmp/bench-sync-tar-{os.getpid()}-*"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
