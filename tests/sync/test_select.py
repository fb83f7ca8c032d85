"""Which files `tether run --sync` sends: git's own list in a work tree, every file
outside one, minus `.tetherignore`; links, modes, odd names and sizes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protocol.limits import SYNC_DEFAULT_MAX_BYTES
from tests.sync.trees import ODD_NAMES, git, git_list, make_repo, write
from tui.errors import SyncError, TreeTooLarge
from tui.sync.limits import SyncLimits, check_limits, parse_size
from tui.sync.select import select_files


@pytest.fixture
def global_excludes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A global excludes file, as a person's ~/.gitconfig would name it."""
    excludes = write(tmp_path / "gitconfig-dir", "global-ignore", "*.global-ignored\n")
    config = write(
        tmp_path / "gitconfig-dir", "gitconfig", f"[core]\n\texcludesFile = {excludes}\n"
    )
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    return excludes


def test_a_work_tree_sends_exactly_what_git_lists(tmp_path: Path, global_excludes: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo, "notes.global-ignored", "left out by the global excludes file")
    selection = select_files(repo)
    sent = {f.path for f in selection.files}
    expected = git_list(repo) - {"src/link-outside"}
    assert sent == expected
    # The cases the list must get right, spelled out so a wrong git call shows:
    assert {"untracked.txt", "keep.log", "src/important.tmp", *ODD_NAMES} <= sent
    assert not sent & {"build/out.bin", "run.log", "src/scratch.tmp", "doomed.txt"}
    assert "notes.global-ignored" not in sent
    assert not any(p.startswith(".git/") for p in sent)
    assert selection.in_git


def test_links_inside_stay_links_and_links_out_are_listed_as_skipped(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    by_path = {f.path: f for f in select_files(repo).files}
    inside = by_path["link-inside"]
    assert (inside.kind, inside.target) == ("link", "src/train.py")
    skipped = select_files(repo).skipped
    assert [s.path for s in skipped] == ["src/link-outside"]
    assert "outside" in skipped[0].reason and "../../outside.txt" in skipped[0].reason


def test_the_executable_bit_is_kept(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    by_path = {f.path: f for f in select_files(repo).files}
    assert by_path["run.sh"].executable
    assert not by_path["src/train.py"].executable


def test_a_subfolder_of_a_work_tree_sends_its_own_files_relative_to_it(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    sent = {f.path for f in select_files(repo / "src").files}
    assert sent == {
        "train.py",
        ".gitignore",
        "important.tmp",
        "model/net.py",
        "model/untracked-too.py",
    }


def test_outside_git_every_file_is_sent(tmp_path: Path) -> None:
    tree = tmp_path / "plain"
    write(tree, "a.txt")
    write(tree, "deep/er/b.bin", b"\1\2")
    write(tree, "run.log", "no .gitignore applies outside git")
    write(tree, ".gitignore", "*.log\n")
    os.symlink("deep", tree / "dirlink")
    selection = select_files(tree)
    assert not selection.in_git
    assert {f.path for f in selection.files} == {
        "a.txt",
        "deep/er/b.bin",
        "run.log",
        ".gitignore",
        "dirlink",
    }
    assert {f.path: f.kind for f in selection.files}["dirlink"] == "link"


@pytest.mark.parametrize("in_git", [True, False])
def test_tetherignore_removes_more_with_gitignore_syntax(tmp_path: Path, in_git: bool) -> None:
    tree = tmp_path / "tree"
    if in_git:
        make_repo(tree)
    write(tree, ".tetherignore", "/data/\n*.ckpt\n!best.ckpt\n")
    write(tree, "data/huge.bin", b"\0" * 100)
    write(tree, "src/data/kept.py", "the root-anchored /data/ does not match here")
    write(tree, "ckpt/step1.ckpt")
    write(tree, "ckpt/best.ckpt")
    write(tree, "sub/.tetherignore", "local-only.txt\n")
    write(tree, "sub/local-only.txt")
    write(tree, "sub/sent.txt")
    sent = {f.path for f in select_files(tree).files}
    assert "src/data/kept.py" in sent and "ckpt/best.ckpt" in sent and "sub/sent.txt" in sent
    assert not sent & {"data/huge.bin", "ckpt/step1.ckpt", "sub/local-only.txt"}
    if in_git:
        ignored_by_tether = {"data/huge.bin", "ckpt/step1.ckpt", "sub/local-only.txt"}
        assert sent == git_list(tree) - {"src/link-outside"} - ignored_by_tether


def test_a_name_that_is_not_utf8_is_refused_naming_it(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree, "fine.txt")
    (tree / os.fsdecode(b"bad\xffname.txt")).write_bytes(b"x")
    with pytest.raises(SyncError) as raised:
        select_files(tree)
    message = str(raised.value)
    assert "bad\\udcffname.txt" in message and "not UTF-8" in message and ".tetherignore" in message
    write(tree, ".tetherignore", "bad*\n")  # what the message suggests lets it through
    assert {f.path for f in select_files(tree).files} == {"fine.txt", ".tetherignore"}


def test_a_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="is not a folder"):
        select_files(tmp_path / "nope")


def test_a_tree_over_the_byte_limit_names_its_largest_parts_and_the_ways_through(
    tmp_path: Path,
) -> None:
    tree = tmp_path / "tree"
    write(tree, "src/train.py", b"x" * 1000)
    write(tree, "data/a.bin", b"x" * 60_000)
    write(tree, "data/b.bin", b"x" * 50_000)
    write(tree, "ckpt/c.pt", b"x" * 20_000)
    selection = select_files(tree)
    with pytest.raises(TreeTooLarge) as raised:
        check_limits(selection, SyncLimits(max_bytes=100_000))
    message = str(raised.value)
    assert "data/ (107 KiB)" in message and "ckpt/" in message
    assert "data/a.bin (58.6 KiB)" in message
    assert f"`/data/` to {tree / '.tetherignore'}" in message
    assert "--sync-max 1M" in message
    assert "\n" not in message
    check_limits(selection, SyncLimits(max_bytes=parse_size("1M")))  # the suggestion works


def test_a_tree_over_the_file_limit_names_where_the_files_are(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for i in range(8):
        write(tree, f"frames/{i}.png")
    write(tree, "train.py")
    with pytest.raises(TreeTooLarge) as raised:
        check_limits(select_files(tree), SyncLimits(max_files=5))
    message = str(raised.value)
    assert "9 files" in message and "frames/ (8 files)" in message
    assert "`/frames/`" in message and "--sync-max-files 9" in message


def test_the_default_limits_are_the_wires(tmp_path: Path) -> None:
    assert SyncLimits().max_bytes == SYNC_DEFAULT_MAX_BYTES == parse_size("2G")
    assert parse_size("1.5GiB") == 3 * 2**29 and parse_size("4096") == 4096
    with pytest.raises(SyncError, match="--sync-max takes a size"):
        parse_size("lots")


def test_a_submodule_is_skipped_and_listed(tmp_path: Path) -> None:
    inner = make_repo(tmp_path / "inner")
    outer = tmp_path / "outer"
    outer.mkdir()
    git(outer, "init", "-q")
    write(outer, "top.txt")
    git(outer, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(inner), "inner")
    selection = select_files(outer)
    assert "inner" in {s.path for s in selection.skipped}
    assert {f.path for f in selection.files} == {"top.txt", ".gitmodules"}


@pytest.mark.parametrize("in_git", [True, False])
def test_what_tether_pull_brought_back_is_never_sent_up_again(tmp_path: Path, in_git: bool) -> None:
    tree = tmp_path / "project"
    if in_git:
        make_repo(tree)
    write(tree, "train.py", "print(1)\n")
    write(tree, "tether-out/gpu1/3/ckpt/last.pt", b"\0" * 64)  # `tether pull`'s default
    write(tree, "src/tether-out/kept.txt", "only the top-level pull folder is left out\n")
    paths = {f.path for f in select_files(tree).files}
    assert "train.py" in paths and "src/tether-out/kept.txt" in paths
    assert not any(p.startswith("tether-out/") for p in paths)
