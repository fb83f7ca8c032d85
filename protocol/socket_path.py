"""Where a user's runner listens: a contract between the runner and its clients.

Derived from the home directory alone, never from ``XDG_RUNTIME_DIR``: cron, a
login shell and a non-interactive ``ssh host cmd`` see different environments, and
a path that follows the environment makes a client miss a running daemon and
start a second one. When the home directory is too deep for a unix socket address
(108 bytes on Linux), a short path in /tmp named after the uid and a hash of the
home is used instead.

That /tmp name can be computed by anyone who reads ``/etc/passwd``, so another
account may create it first: to plant a fake runner there (and receive the
environment of every job), or just to keep the runner from starting. The rule
below is the one both sides follow, so they agree without talking: the run dir is
the first of a fixed list of candidates (``/tmp/tether-UID-HASH``, then ``-1``,
``-2``... up to `FALLBACK_CANDIDATES`) that is absent or is a real directory owned
by the user. A candidate someone else holds is passed over, and a client that
finds no runner names what it passed over. A run dir in use is private (0700,
owned by the user): the runner makes it so, and the client checks it
(`check_private_dir`) before it sends a single byte to the socket inside.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple, Union

from protocol.host_layout import preferred_run_dir

#: sun_path holds 108 bytes on Linux including the NUL; keep a margin.
MAX_SOCKET_PATH_BYTES = 100
SOCKET_NAME = "runner.sock"
#: How many /tmp names are tried before giving up: enough that a stale directory
#: or two (another uid's, after uid reuse) costs nothing.
FALLBACK_CANDIDATES = 16
#: The only mode a run dir in use may have.
PRIVATE_DIR_MODE = 0o700
#: The mode of every file tether creates in its state.
PRIVATE_FILE_MODE = 0o600


class RunDirError(Exception):
    """The run dir cannot be used safely; the message names it, its owner and what to do."""


@dataclass(frozen=True)
class PassedOver:
    """A candidate run dir held by someone else (or not a directory), and so skipped."""

    path: Path
    owner: int

    def describe(self) -> str:
        return f"{self.path} (owned by {owner_name(self.owner)})"


@dataclass(frozen=True)
class RunDirChoice:
    """The run dir the rule picked, and the candidates it passed over on the way."""

    path: Path
    passed_over: Tuple[PassedOver, ...] = ()

    @property
    def socket(self) -> Path:
        return self.path / SOCKET_NAME

    def passed_over_note(self) -> str:
        """ "; passed over ..." for a message, or "" when nothing was."""
        if not self.passed_over:
            return ""
        held = ", ".join(p.describe() for p in self.passed_over)
        return f"; passed over {held}, which another account created"


def owner_name(uid: int) -> str:
    """``name (uid N)``, or ``uid N`` when the uid has no account."""
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def home_dir() -> Path:
    home = os.environ.get("HOME")
    if home:
        return Path(home)
    return Path(pwd.getpwuid(os.getuid()).pw_dir)


def fallback_candidates(home: Path, uid: int) -> List[Path]:
    """The /tmp run dirs for a home too deep for a socket path, in the order tried."""
    digest = hashlib.sha256(os.fsencode(str(home))).hexdigest()[:10]
    first = f"/tmp/tether-{uid}-{digest}"
    return [Path(first)] + [Path(f"{first}-{n}") for n in range(1, FALLBACK_CANDIDATES)]


def _candidates(home: Path, uid: int) -> List[Path]:
    preferred = preferred_run_dir(home)
    if len(os.fsencode(str(preferred / SOCKET_NAME))) <= MAX_SOCKET_PATH_BYTES:
        return [preferred]
    return fallback_candidates(home, uid)


def _is_own_dir(info: os.stat_result, uid: int) -> bool:
    return stat.S_ISDIR(info.st_mode) and info.st_uid == uid


def _exhausted(candidates: List[Path], passed: List[PassedOver]) -> RunDirError:
    if len(candidates) == 1:
        return RunDirError(
            f"{candidates[0]} is not a directory owned by you but by "
            f"{owner_name(passed[0].owner)}; remove it (or ask its owner to) and start again"
        )
    return RunDirError(
        f"all {len(candidates)} places for the runner's socket in /tmp are taken by other "
        f"accounts (first {passed[0].describe()}); ask an administrator to remove them"
    )


def choose_run_dir(home: Optional[Path] = None, uid: Optional[int] = None) -> RunDirChoice:
    """The run dir by the rule, without creating anything: what a client looks at."""
    home = home or home_dir()
    uid = os.getuid() if uid is None else uid
    candidates = _candidates(home, uid)
    passed: List[PassedOver] = []
    for candidate in candidates:
        try:
            info = candidate.lstat()
        except FileNotFoundError:
            return RunDirChoice(candidate, tuple(passed))
        if _is_own_dir(info, uid):
            return RunDirChoice(candidate, tuple(passed))
        passed.append(PassedOver(candidate, info.st_uid))
    raise _exhausted(candidates, passed)


def claim_run_dir(home: Optional[Path] = None) -> RunDirChoice:
    """The run dir by the rule, created 0700 where absent: what the runner uses.

    ``mkdir`` either creates the directory (then it is the user's) or finds one,
    which is kept only if it is the user's own: a directory planted between a look
    and the ``mkdir`` is passed over like any other. An own directory with a
    looser mode is tightened to 0700.
    """
    home = home or home_dir()
    uid = os.getuid()
    candidates = _candidates(home, uid)
    passed: List[PassedOver] = []
    for candidate in candidates:
        try:
            make_private_dirs(candidate)
        except OSError as exc:
            raise RunDirError(
                f"cannot create {candidate}: {exc.strerror}; "
                "fix or remove whatever is in the way and start again"
            ) from exc
        info = candidate.lstat()
        if not _is_own_dir(info, uid):
            passed.append(PassedOver(candidate, info.st_uid))
            continue
        if stat.S_IMODE(info.st_mode) != PRIVATE_DIR_MODE:
            os.chmod(candidate, PRIVATE_DIR_MODE)
        return RunDirChoice(candidate, tuple(passed))
    raise _exhausted(candidates, passed)


def make_private_dirs(path: Path) -> List[Path]:
    """Create `path` and its missing parents, each 0700 whatever the umask says;
    returns the ones created. One that already exists is left as it is: deciding
    whether it may be used is the caller's business."""
    missing: List[Path] = []
    for directory in [path, *path.parents]:
        if os.path.lexists(directory):
            break
        missing.append(directory)
    created: List[Path] = []
    for directory in reversed(missing):
        try:
            os.mkdir(directory, PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made in between (another start): judged by the caller
        os.chmod(directory, PRIVATE_DIR_MODE)
        created.append(directory)
    return created


def open_private(path: Union[str, Path], flags: int) -> int:
    """Open `path` with `flags`, created if absent, never through a symlink, and
    0600 whatever the umask and whatever its mode was: the twin of
    `make_private_dirs` for files. Returns the descriptor."""
    fd = os.open(path, flags | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
    try:
        os.fchmod(fd, PRIVATE_FILE_MODE)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_private_dir(path: Path, uid: Optional[int] = None) -> None:
    """Raise `RunDirError` unless `path` is a directory (not a link) owned by `uid`
    that no one else can enter: what a client checks before trusting a socket in it."""
    uid = os.getuid() if uid is None else uid
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
        kind = "directory" if stat.S_ISDIR(info.st_mode) else "non-directory"
        raise RunDirError(
            f"the runner's socket directory {path} is a {kind} owned by "
            f"{owner_name(info.st_uid)}, not by you ({owner_name(uid)}): refusing to talk to "
            "a socket someone else may have planted; remove it (or have it removed) and retry"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise RunDirError(
            f"the runner's socket directory {path} has mode "
            f"{stat.S_IMODE(info.st_mode):04o}, open to other accounts: refusing to use it; "
            f"run `chmod 700 {path}` and retry"
        )


def check_private_socket(path: Path, uid: Optional[int] = None) -> None:
    """Raise `RunDirError` unless `path` is a socket owned by `uid` with no group or
    other access; a missing socket raises FileNotFoundError (no runner yet)."""
    uid = os.getuid() if uid is None else uid
    info = path.lstat()
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != uid:
        raise RunDirError(
            f"{path} is not a socket owned by you but a file owned by "
            f"{owner_name(info.st_uid)}: refusing to use it; remove it and retry"
        )
    if stat.S_IMODE(info.st_mode) & 0o077:
        raise RunDirError(
            f"the runner's socket {path} has mode {stat.S_IMODE(info.st_mode):04o}, open to "
            "other accounts: refusing to use it; restart the runner (tether-runner stop)"
        )


def run_dir(home: Optional[Path] = None) -> Path:
    """The directory holding the runner's socket and lock, by the rule (no creation)."""
    return choose_run_dir(home).path


def socket_path(home: Optional[Path] = None) -> Path:
    return run_dir(home) / SOCKET_NAME
