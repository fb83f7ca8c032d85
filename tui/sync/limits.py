"""How big a tree `tether run --sync` sends without being told otherwise, and the
refusal that says what would let a bigger one through.

The refusal comes before anything is hashed or sent, and names where the bytes
(or the files) are: the largest top-level folders and the largest files, the
``.tetherignore`` line that would bring the tree under the limit when one entry
can, and the ``--sync-max`` (or ``--sync-max-files``) that would send it all.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Tuple

from protocol.limits import MAX_SNAPSHOT_FILES, SYNC_DEFAULT_MAX_BYTES, SYNC_DEFAULT_MAX_FILES
from protocol.units import parse_size as parse_byte_size
from protocol.units import size
from tui.errors import SyncError, TreeTooLarge
from tui.sync.select import TETHERIGNORE, Selection
from tui.visible import visible


@dataclass(frozen=True)
class SyncLimits:
    """The most bytes and files one `--sync` sends."""

    max_bytes: int = SYNC_DEFAULT_MAX_BYTES
    max_files: int = SYNC_DEFAULT_MAX_FILES


def parse_size(text: str) -> int:
    """``500M``, ``2G``, ``1.5GiB``, ``4096`` (bytes): binary units, as tether prints."""
    count = parse_byte_size(text)
    if count is None:
        raise SyncError(
            f"--sync-max takes a size such as 500M, 2G or 10G (binary units), not {text!r}"
        )
    return count


def parse_file_count(text: str) -> int:
    if not text.strip().isdigit() or not 0 < int(text) <= MAX_SNAPSHOT_FILES:
        raise SyncError(
            f"--sync-max-files takes a number of files from 1 to {MAX_SNAPSHOT_FILES:,}, "
            f"not {text!r}"
        )
    return int(text)


def check_limits(selection: Selection, limits: SyncLimits) -> None:
    """`TreeTooLarge` when `selection` holds more bytes or files than `limits` allow."""
    total = selection.total_bytes
    count = len(selection.files)
    if total > limits.max_bytes:
        raise TreeTooLarge(_too_many_bytes(selection, total, count, limits.max_bytes))
    if count > limits.max_files:
        raise TreeTooLarge(_too_many_files(selection, count, limits.max_files))


def _top_level(selection: Selection) -> Tuple[Dict[str, int], Dict[str, int]]:
    """Bytes and files under each top-level entry (``name/`` for a folder)."""
    by_bytes: Dict[str, int] = defaultdict(int)
    by_files: Dict[str, int] = defaultdict(int)
    for f in selection.files:
        head, sep, _ = f.path.partition("/")
        key = head + sep
        by_bytes[key] += f.size
        by_files[key] += 1
    return by_bytes, by_files


def _largest(amounts: Dict[str, int], n: int = 3) -> List[Tuple[str, int]]:
    return sorted(amounts.items(), key=lambda item: (-item[1], item[0]))[:n]


def _ignore_hint(selection: Selection, amounts: Dict[str, int], excess: int) -> str:
    """The one ``.tetherignore`` line that would bring the tree under, if one does."""
    ignore_file = visible(str(selection.root / TETHERIGNORE))
    for name, amount in _largest(amounts, n=len(amounts)):
        if amount >= excess:
            return f"add the line `/{visible(name)}` to {ignore_file}"
    return f"leave out the largest of them in {ignore_file}"


def _nice_size(count: int) -> str:
    """A ``--sync-max`` value just above `count`: whole GiB, else whole MiB."""
    gib = count / 1024**3
    if gib >= 1:
        return f"{math.ceil(gib)}G"
    return f"{max(math.ceil(count / 1024**2), 1)}M"


def _too_many_bytes(selection: Selection, total: int, count: int, limit: int) -> str:
    by_bytes, _ = _top_level(selection)
    folders = ", ".join(f"{visible(name)} ({size(n)})" for name, n in _largest(by_bytes))
    biggest = sorted(selection.files, key=lambda f: (-f.size, f.path))[:3]
    files = ", ".join(f"{visible(f.path)} ({size(f.size)})" for f in biggest)
    return (
        f"{visible(str(selection.root))} holds {size(total)} in {count:,} files, over the "
        f"{size(limit)} that --sync sends: most of it is in {folders}; largest files: {files}; "
        f"{_ignore_hint(selection, by_bytes, total - limit)}, "
        f"or pass --sync-max {_nice_size(total)} to send it all"
    )


def _too_many_files(selection: Selection, count: int, limit: int) -> str:
    _, by_files = _top_level(selection)
    folders = ", ".join(f"{visible(name)} ({n:,} files)" for name, n in _largest(by_files))
    return (
        f"{visible(str(selection.root))} holds {count:,} files, over the {limit:,} that "
        f"--sync sends: most of them are in {folders}; "
        f"{_ignore_hint(selection, by_files, count - limit)}, "
        f"or pass --sync-max-files {count} to send them all"
    )
