"""The client's hash cache: an unchanged tree is not read again, a changed file
is, and a file written in the moment it was hashed is not trusted."""

from __future__ import annotations

import hashlib
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO, Callable

import pytest

from tests.sync.trees import PAST_NS, write
from tui.errors import FileChanged
from tui.sync import hash_cache
from tui.sync.hash_cache import HashCache, hash_tree
from tui.sync.progress import Progress
from tui.sync.reading import open_unchanged
from tui.sync.select import select_files


@pytest.fixture
def opened(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files hashing opens, by path, as it opens them."""
    seen: list[str] = []
    real: Callable[..., AbstractContextManager[BinaryIO]] = open_unchanged

    def counting(root: Path, f: Any) -> AbstractContextManager[BinaryIO]:
        seen.append(f.path)
        return real(root, f)

    monkeypatch.setattr(hash_cache, "open_unchanged", counting)
    return seen


def _tree(root: Path, count: int) -> Path:
    for i in range(count):
        full = write(root, f"d{i % 10}/f{i}.txt", f"file {i}\n")
        os.utime(full, ns=(PAST_NS, PAST_NS))
    return root


async def _hash(root: Path, cache_dir: Path) -> dict[str, str]:
    selection = select_files(root)
    seen: list[Progress] = []
    digests = await hash_tree(root, selection.files, seen.append, HashCache(root, cache_dir))
    assert seen[-1].files_done == seen[-1].files_total == len(selection.files)
    return digests


async def test_an_unchanged_tree_is_not_read_again(tmp_path: Path, opened: list[str]) -> None:
    tree = _tree(tmp_path / "tree", 300)
    cache = tmp_path / "cache"
    first = await _hash(tree, cache)
    assert len(opened) == 300
    assert first["d3/f13.txt"] == hashlib.sha256(b"file 13\n").hexdigest()
    opened.clear()
    assert await _hash(tree, cache) == first
    assert opened == []
    assert oct(next(cache.iterdir()).stat().st_mode & 0o777) == "0o600"


async def test_a_changed_file_is_read_again_and_only_it(tmp_path: Path, opened: list[str]) -> None:
    tree = _tree(tmp_path / "tree", 50)
    cache = tmp_path / "cache"
    first = await _hash(tree, cache)
    opened.clear()
    changed = write(tree, "d7/f7.txt", "file 7, edited\n")
    os.utime(changed, ns=(PAST_NS + 10**9, PAST_NS + 10**9))
    second = await _hash(tree, cache)
    assert opened == ["d7/f7.txt"]
    assert second["d7/f7.txt"] == hashlib.sha256(b"file 7, edited\n").hexdigest()
    assert {k: v for k, v in second.items() if k != "d7/f7.txt"} == {
        k: v for k, v in first.items() if k != "d7/f7.txt"
    }


async def test_a_file_replaced_with_the_same_size_and_mtime_is_read_again(
    tmp_path: Path, opened: list[str]
) -> None:
    """A new inode (an editor's save-by-rename) is another file, whatever its stamps."""
    tree = _tree(tmp_path / "tree", 3)
    cache = tmp_path / "cache"
    await _hash(tree, cache)
    opened.clear()
    target = tree / "d1" / "f1.txt"
    replacement = write(tree, "tmp-new", "file X\n")
    os.utime(replacement, ns=(PAST_NS, PAST_NS))
    os.replace(replacement, target)
    digests = await _hash(tree, cache)
    assert opened == ["d1/f1.txt"]
    assert digests["d1/f1.txt"] == hashlib.sha256(b"file X\n").hexdigest()


async def test_a_file_hashed_as_it_was_written_is_not_trusted_next_time(
    tmp_path: Path, opened: list[str]
) -> None:
    tree = tmp_path / "tree"
    write(tree, "fresh.txt", "written just now")
    cache = tmp_path / "cache"
    await _hash(tree, cache)
    opened.clear()
    await _hash(tree, cache)
    assert opened == ["fresh.txt"]  # racily clean: its mtime is the moment of hashing


async def test_a_damaged_cache_counts_as_empty(tmp_path: Path, opened: list[str]) -> None:
    tree = _tree(tmp_path / "tree", 5)
    cache = tmp_path / "cache"
    first = await _hash(tree, cache)
    next(cache.iterdir()).write_bytes(b"\xc1 not msgpack")
    opened.clear()
    assert await _hash(tree, cache) == first
    assert len(opened) == 5


async def test_a_file_that_changes_after_listing_is_refused(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "tree", 2)
    selection = select_files(tree)
    write(tree, "d0/f0.txt", "grew after the listing\n")
    with pytest.raises(FileChanged, match=r"d0/f0\.txt changed while tether was reading it"):
        await hash_tree(tree, selection.files, lambda p: None, HashCache(tree, tmp_path / "c"))
