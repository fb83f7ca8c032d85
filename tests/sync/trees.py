"""Trees for the sync tests: a git repository with every case git's own list must
get right, and helpers to list what git lists."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

GIT = ["git", "-c", "user.name=tether", "-c", "user.email=t@example.com"]
#: Names that break naive listings: spaces, a newline, non-ASCII.
ODD_NAMES = ["name with spaces.txt", "new\nline.txt", "nön-ascii-ü.txt"]
#: An mtime safely in the past, so the hash cache may remember what it hashed.
PAST_NS = 1_600_000_000 * 10**9


def git(root: Path, *args: str) -> bytes:
    return subprocess.run([*GIT, *args], cwd=root, check=True, capture_output=True).stdout


def write(root: Path, path: str, data: bytes | str = b"x", mode: int = 0o644) -> Path:
    full = root / path
    full.parent.mkdir(parents=True, exist_ok=True)
    full.write_bytes(data.encode() if isinstance(data, str) else data)
    full.chmod(mode)
    return full


def make_repo(root: Path) -> Path:
    """A work tree with nested .gitignore files, a negation, an ignored build
    folder, untracked files, odd names, an executable script, a symlink inside
    and one pointing out, and a tracked file deleted from the disk."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    write(root, ".gitignore", "build/\n*.log\n!keep.log\n")
    write(root, "src/train.py", "print('training')\n")
    write(root, "src/model/net.py", "NET = 1\n")
    write(root, "src/.gitignore", "*.tmp\n!important.tmp\n")
    write(root, "src/scratch.tmp", "scratch")
    write(root, "src/important.tmp", "important")
    write(root, "build/out.bin", b"\0" * 1000)
    write(root, "run.log", "ignored log")
    write(root, "keep.log", "kept by the negation")
    write(root, "run.sh", "#!/bin/sh\necho hi\n", mode=0o755)
    for name in ODD_NAMES:
        write(root, name, name)
    write(root, "doomed.txt", "committed, then deleted")
    os.symlink("src/train.py", root / "link-inside")
    os.symlink("../../outside.txt", root / "src" / "link-outside")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    (root / "doomed.txt").unlink()
    write(root, "untracked.txt", "not yet added")
    write(root, "src/model/untracked-too.py", "X = 2\n")
    return root


def git_list(root: Path) -> set[str]:
    """What git considers (tracked + untracked not ignored), files present only."""
    out = git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    names = {name.decode() for name in out.split(b"\0") if name}
    return {name for name in names if os.path.lexists(root / name)}


#: A job that prints its working tree as JSON: each file's sha256 and executable
#: bit, each symlink's target (what a byte-identical snapshot must match).
DESCRIBE = (
    "import hashlib, json, os, stat\n"
    "tree = {}\n"
    "for folder, dirs, files in os.walk('.'):\n"
    "    for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:\n"
    "        full = os.path.join(folder, name)\n"
    "        path = os.path.relpath(full, '.')\n"
    "        st = os.lstat(full)\n"
    "        if stat.S_ISLNK(st.st_mode):\n"
    "            tree[path] = ['link', os.readlink(full)]\n"
    "        else:\n"
    "            data = open(full, 'rb').read()\n"
    "            digest = hashlib.sha256(data).hexdigest()\n"
    "            tree[path] = ['file', digest, bool(st.st_mode & 0o100)]\n"
    "print(json.dumps(tree, sort_keys=True))\n"
)


def describe(root: Path, paths: set[str]) -> dict[str, list[object]]:
    """What `DESCRIBE` prints for a tree holding `paths` of `root`."""
    import hashlib
    import stat

    tree: dict[str, list[object]] = {}
    for path in paths:
        full = root / path
        st = os.lstat(full)
        if stat.S_ISLNK(st.st_mode):
            tree[path] = ["link", os.readlink(full)]
        else:
            digest = hashlib.sha256(full.read_bytes()).hexdigest()
            tree[path] = ["file", digest, bool(st.st_mode & 0o100)]
    return tree
