"""Which files of a working tree a snapshot holds.

Inside a git work tree: exactly git's own list, ``git ls-files --cached --others
--exclude-standard`` run in the folder (tracked files plus untracked ones that
are not ignored; nested ``.gitignore`` files, negations, ``.git/info/exclude`` and
the global excludes file all apply, because git applies them; ``.git/`` never
appears). Outside git: every file under the folder. Either way, ``tether-out/``
(where `tether pull` writes) is left out, and ``.tetherignore``
files (gitignore syntax, one per folder like ``.gitignore``) remove more; git's
own matcher reads them, run over the folder with an empty repository of its own
(`_tetherignored`), so their syntax means exactly what it means to git.

Then each listed name is looked at (``lstat``): a regular file is kept with its
executable bit; a symlink whose target stays inside the tree is kept as a link;
a symlink leading out of the tree, a submodule, a socket or a FIFO is skipped and
listed (`Selection.skipped`), so the person is told; a tracked file deleted
from the disk is left out silently, as git itself would commit its deletion.

A name that is not UTF-8 cannot travel (the manifest's paths are text): it is an
error naming the file, with the ``.tetherignore`` line that leaves it out.

Everything here blocks (it runs git and stats every file): call it in a thread.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, List, Literal, Optional, Set, Union

from protocol.manifest import link_target_inside
from tui.errors import SyncError
from tui.visible import visible

TETHERIGNORE = ".tetherignore"
#: Where `tether pull` puts a job's files by default, under the folder it runs in:
#: never sent back up (results pulled into a project would travel with every sync).
PULLED_FOLDER = "tether-out"
#: Seconds git may take to list a tree (a cold disk, a huge ignored folder).
GIT_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class LocalFile:
    """One entry of the tree as found on disk: a regular file or a symlink.
    `path` is relative to the tree's root, with ``/`` separators."""

    path: str
    kind: Literal["file", "link"]
    size: int
    executable: bool
    mtime_ns: int
    inode: int
    device: int
    target: Optional[str] = None


@dataclass(frozen=True)
class Skipped:
    """A name that was listed but will not travel, and why (shown to the person)."""

    path: str
    reason: str


@dataclass(frozen=True)
class Selection:
    root: Path
    files: List[LocalFile]
    skipped: List[Skipped] = field(default_factory=list)
    in_git: bool = False

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def select_files(root: Path) -> Selection:
    """The files of the tree at `root` that a snapshot of it holds (see the module
    docstring). Raises `SyncError` for a root that is not a folder, a name that is
    not UTF-8, a file that cannot be looked at, or a git that fails."""
    root = Path(os.path.abspath(root))
    if not root.is_dir():
        raise SyncError(f"{visible(str(root))} is not a folder: --sync takes the folder to send")
    in_git = _inside_git_work_tree(root)
    names = _git_list(root) if in_git else _walk(root)
    pulled = (PULLED_FOLDER + "/").encode()
    names = [name for name in names if not name.startswith(pulled)]
    if any(os.path.basename(name) == TETHERIGNORE.encode() for name in names):
        ignored = _tetherignored(root)
        names = [name for name in names if name not in ignored]
    files: List[LocalFile] = []
    skipped: List[Skipped] = []
    for path in _decoded(names, root):
        entry = _look_at(root, path)
        if isinstance(entry, LocalFile):
            files.append(entry)
        elif entry is not None:
            skipped.append(entry)
    files.sort(key=lambda f: f.path)
    return Selection(root=root, files=files, skipped=skipped, in_git=in_git)


# -- listing ------------------------------------------------------------------------


def _git(root: Path, *args: str, git_dir: Optional[str] = None) -> bytes:
    argv = ["git", "-c", "core.quotePath=off"]
    if git_dir is not None:
        argv += ["--git-dir", git_dir, "--work-tree", str(root)]
    try:
        done = subprocess.run(
            [*argv, *args],
            cwd=root,
            check=False,
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except FileNotFoundError:
        raise SyncError(
            "git is not installed here; --sync needs it to list a git work tree "
            f"or read {TETHERIGNORE}"
        ) from None
    except subprocess.TimeoutExpired:
        raise SyncError(
            f"git took over {GIT_TIMEOUT_S:.0f} s to list {visible(str(root))}"
        ) from None
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip().splitlines()
        raise SyncError(
            f"git could not list {visible(str(root))}: {visible(error[-1] if error else '')}"
        )
    return done.stdout


def _inside_git_work_tree(root: Path) -> bool:
    if shutil.which("git") is None:
        return False
    done = subprocess.run(
        ["git", "rev-parse", "--is-inside-work-tree"],
        cwd=root,
        check=False,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=GIT_TIMEOUT_S,
    )
    return done.returncode == 0 and done.stdout.strip() == b"true"


def _split(output: bytes) -> List[bytes]:
    """NUL-separated names, each once, in order (a conflicted file is listed per stage)."""
    return list(dict.fromkeys(name for name in output.split(b"\0") if name))


def _git_list(root: Path) -> List[bytes]:
    return _split(_git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard"))


def _walk(root: Path) -> List[bytes]:
    """Every name under `root` that is not a folder (symlinks to folders included)."""
    base = os.fsencode(root)
    names: List[bytes] = []
    for folder, dirs, files in os.walk(base, onerror=_walk_error):
        relative = os.path.relpath(folder, base)
        prefix = b"" if relative == b"." else relative + b"/"
        names.extend(prefix + name for name in files)
        names.extend(prefix + d for d in dirs if os.path.islink(os.path.join(folder, d)))
    return names


def _walk_error(error: OSError) -> None:
    where = os.fsdecode(error.filename) if error.filename else "a folder"
    raise SyncError(f"cannot read the folder {visible(where)}: {error.strerror}")


def _tetherignored(root: Path) -> Set[bytes]:
    """Every file under `root` that its ``.tetherignore`` files leave out, as git
    matches them: an empty repository of our own, pointed at the tree, lists the
    ignored files when only ``.tetherignore`` names the ignore rules."""
    with tempfile.TemporaryDirectory(prefix="tether-ignore-") as empty:
        _git(root, "init", "--quiet", "--bare", empty)
        listing = _git(
            root,
            "ls-files",
            "-z",
            "--others",
            "--ignored",
            f"--exclude-per-directory={TETHERIGNORE}",
            git_dir=empty,
        )
    return set(_split(listing))


def _decoded(names: Iterable[bytes], root: Path) -> List[str]:
    paths: List[str] = []
    bad: List[bytes] = []
    for name in names:
        try:
            paths.append(name.decode("utf-8"))
        except UnicodeDecodeError:
            bad.append(name)
    if bad:
        shown = visible(os.fsdecode(bad[0]))
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise SyncError(
            f"{shown}{more} in {visible(str(root))} has a name that is not UTF-8, which a "
            f"snapshot cannot hold: rename it, or add its name to {TETHERIGNORE}"
        )
    return paths


# -- looking at each name -----------------------------------------------------------


def _look_at(root: Path, path: str) -> Optional[Union[LocalFile, Skipped]]:
    full = os.path.join(root, path)
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return None  # tracked but deleted: the tree as it is now does not hold it
    except OSError as exc:
        raise SyncError(f"cannot look at {visible(full)}: {exc.strerror}") from None
    if stat.S_ISREG(st.st_mode):
        return LocalFile(
            path=path,
            kind="file",
            size=st.st_size,
            executable=bool(st.st_mode & stat.S_IXUSR),
            mtime_ns=st.st_mtime_ns,
            inode=st.st_ino,
            device=st.st_dev,
        )
    if stat.S_ISLNK(st.st_mode):
        return _link(full, path, st)
    if stat.S_ISDIR(st.st_mode):
        return Skipped(path, "a git submodule or nested repository (not sent)")
    return Skipped(path, "not a regular file (a socket, FIFO or device)")


def _link(full: str, path: str, st: os.stat_result) -> Union[LocalFile, Skipped]:
    raw = os.readlink(os.fsencode(full))
    try:
        target = raw.decode("utf-8")
    except UnicodeDecodeError:
        return Skipped(path, "a symlink whose target is not UTF-8")
    if not link_target_inside(path, target):
        return Skipped(path, f"a symlink to {visible(target)}, outside the folder sent")
    return LocalFile(
        path=path,
        kind="link",
        size=0,
        executable=False,
        mtime_ns=st.st_mtime_ns,
        inode=st.st_ino,
        device=st.st_dev,
        target=target,
    )


def describe_skipped(skipped: List[Skipped], limit: int = 5) -> str:
    """One line for the person: what was left out and why (the first few)."""
    shown = "; ".join(f"{visible(s.path)}: {s.reason}" for s in skipped[:limit])
    more = f"; and {len(skipped) - limit} more" if len(skipped) > limit else ""
    return f"not sent: {shown}{more}"


__all__ = ["LocalFile", "Selection", "Skipped", "describe_skipped", "select_files"]
