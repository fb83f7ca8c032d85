"""Collecting the store's garbage: what no recent job uses goes.

Kept: every snapshot a job uses that is active or ended within the keep period
(`SNAPSHOT_KEEP_DAYS`, or ``TETHER_SNAPSHOT_KEEP_DAYS`` on the runner, or what
`tether gc` asks), with its manifest and every blob it names. Gone: other
snapshots' marks, and every blob no kept snapshot names.

Something no job uses yet may be on its way to being used: a client uploading a
tree, then making it a snapshot, then submitting. So an unused blob or snapshot
stored or used within `UNUSED_GRACE_S`, and a partial upload touched within
`PARTIAL_GRACE_S`, is kept too (each at most the keep period itself: a keep of
0 days keeps only what active jobs use).

The jobs' private copies (`runner.sync.copy`) are their working directories,
holding what they wrote: they are never collected here, however old. A copy no
job record names (the runner stopped between making it and recording its job)
is, once past the grace, and so is a half-made copy.

Blocking functions, run in a thread while no upload or copy is under way.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import AbstractSet, Callable, Iterable, Iterator, List, Optional, Set, Tuple

from protocol.manifest import Manifest
from runner.sync.blobs import BlobFiles

#: An unused snapshot or blob stored or used this recently may be about to be used.
UNUSED_GRACE_S = 3600.0
#: A partial upload touched this recently may still be continued.
PARTIAL_GRACE_S = 24 * 3600.0
#: How a copy being made is named in the work folder, before it is complete.
PARTIAL_TREE_PREFIX = ".partial-"


@dataclass(frozen=True)
class Usage:
    """What the job table says is used."""

    #: Snapshots of jobs active or ended within the keep period.
    snapshots: AbstractSet[str]
    #: Every job's private copy (kept: they are the jobs' outputs).
    trees: AbstractSet[str]


@dataclass
class Garbage:
    """What a collection removed (or would remove, on a dry run)."""

    snapshots: int = 0
    blobs: int = 0
    bytes: int = 0


def collect(
    files: BlobFiles,
    work_dir: Path,
    usage: Usage,
    manifest_of: Callable[[str], Optional[Manifest]],
    keep_s: float,
    now: float,
    dry_run: bool,
) -> Garbage:
    garbage = Garbage()
    recent = now - min(keep_s, UNUSED_GRACE_S)
    kept = set(usage.snapshots)
    for snapshot_id, info in _entries(files.snapshots):
        if snapshot_id in kept or info.st_mtime >= recent:
            kept.add(snapshot_id)
            continue
        garbage.snapshots += 1
        if not dry_run:
            files.marker_path(snapshot_id).unlink(missing_ok=True)
    needed = _needed_blobs(kept, manifest_of)
    for digest, info in files.whole_blobs():
        if digest not in needed and info.st_mtime < recent:
            _remove(files.whole_path(digest), info, garbage, dry_run)
    partial_recent = now - min(keep_s, PARTIAL_GRACE_S)
    for digest, info in files.partial_blobs():
        if info.st_mtime < partial_recent:
            _remove(files.partial_path(digest), info, garbage, dry_run)
    for tree in _lost_trees(work_dir, usage.trees, recent):
        garbage.bytes += tree_bytes(tree)
        if not dry_run:
            remove_tree(tree)
    return garbage


def _needed_blobs(
    kept: Iterable[str], manifest_of: Callable[[str], Optional[Manifest]]
) -> Set[str]:
    needed: Set[str] = set()
    for snapshot_id in kept:
        needed.add(snapshot_id)
        manifest = manifest_of(snapshot_id)
        if manifest is not None:
            needed.update(manifest.digests())
    return needed


def _remove(path: Path, info: os.stat_result, garbage: Garbage, dry_run: bool) -> None:
    garbage.blobs += 1
    garbage.bytes += info.st_size
    if not dry_run:
        path.unlink(missing_ok=True)


def _lost_trees(work_dir: Path, trees: AbstractSet[str], recent: float) -> Iterable[Path]:
    for name, info in _entries(work_dir):
        path = work_dir / name
        if name.startswith(PARTIAL_TREE_PREFIX):
            yield path  # a copy cut short: none is being made while this runs
        elif str(path) not in trees and info.st_mtime < recent:
            yield path


def _entries(folder: Path) -> Iterable[tuple[str, os.stat_result]]:
    try:
        with os.scandir(folder) as scan:
            found = list(scan)
    except FileNotFoundError:
        return []
    return [(entry.name, entry.stat(follow_symlinks=False)) for entry in found]


def tree_bytes(tree: Path) -> int:
    total = 0
    for _folder, files in _folders(tree):
        for entry in files:
            try:
                total += entry.stat(follow_symlinks=False).st_size
            except FileNotFoundError:
                continue
    return total


def remove_tree(tree: Path) -> None:
    """Remove a job's copy, even where the job took write access from its folders
    (each folder is opened up before it is read)."""
    if not os.path.lexists(tree):
        return
    folders = []
    for folder, files in _folders(tree, open_up=True):
        folders.append(folder)
        for entry in files:
            os.unlink(entry.path)
    for folder in reversed(folders):  # the deepest first
        os.rmdir(folder)


def _folders(tree: Path, open_up: bool = False) -> Iterator[Tuple[str, List[os.DirEntry[str]]]]:
    """Each folder of `tree`, parents first, with what is in it that is not a folder
    (links are not followed). A stack, not recursion: a job may nest folders
    deeper than Python recurses."""
    stack = [str(tree)]
    while stack:
        folder = stack.pop()
        if open_up:
            _open_up(folder)
        try:
            with os.scandir(folder) as scan:
                entries = list(scan)
        except FileNotFoundError:
            continue
        stack.extend(e.path for e in entries if e.is_dir(follow_symlinks=False))
        yield folder, [e for e in entries if not e.is_dir(follow_symlinks=False)]


def _open_up(folder: str) -> None:
    """Give the owner full access to `folder` (never through a symlink)."""
    info = os.lstat(folder)
    if stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IRWXU != stat.S_IRWXU:
        os.chmod(folder, stat.S_IMODE(info.st_mode) | stat.S_IRWXU)
