"""A manifest the host decodes can only name files inside the snapshot: every
path that could land elsewhere, every duplicate or clash, and every link that
leaves the tree is refused before a byte is written."""

from __future__ import annotations

import re
from typing import Any, Dict, List

import msgpack
import pytest

from protocol.limits import MAX_PATH_CHARS
from protocol.manifest import (
    FileEntry,
    ManifestError,
    check_relative_path,
    decode_manifest,
    digest_of,
    encode_manifest,
)

DIGEST = digest_of(b"hello\n")


def _raw(entries: List[Dict[str, Any]], version: Any = 1) -> bytes:
    """A manifest as a hostile client could pack it, bypassing `encode_manifest`."""
    packed: bytes = msgpack.packb({"version": version, "entries": entries}, use_bin_type=True)
    return packed


def _file(path: str, **extra: Any) -> Dict[str, Any]:
    return {"path": path, "size": 6, "digest": DIGEST, **extra}


def test_a_manifest_round_trips_with_files_links_and_modes() -> None:
    entries = [
        FileEntry(path="src/train.py", size=6, digest=DIGEST),
        FileEntry(path="run.sh", size=6, digest=DIGEST, executable=True),
        FileEntry(path="data/latest", kind="link", target="../src/train.py"),
        FileEntry(path="dir with spaces/naïve\nname", size=6, digest=DIGEST),
    ]
    manifest = decode_manifest(encode_manifest(entries))
    assert sorted(manifest.entries, key=lambda e: e.path) == sorted(entries, key=lambda e: e.path)
    assert manifest.total_bytes == 18
    assert manifest.digests() == [DIGEST]


def test_the_same_tree_in_any_order_gives_the_same_id() -> None:
    a = FileEntry(path="a", size=6, digest=DIGEST)
    b = FileEntry(path="b/c", size=6, digest=DIGEST, executable=True)
    assert digest_of(encode_manifest([a, b])) == digest_of(encode_manifest([b, a]))
    changed = FileEntry(path="b/c", size=6, digest=DIGEST)  # only the mode differs
    assert digest_of(encode_manifest([a, changed])) != digest_of(encode_manifest([a, b]))


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("../outside", "not a plain relative path"),
        ("a/../../b", "not a plain relative path"),
        ("/etc/passwd", "is absolute"),
        ("a/\x00b", "NUL byte"),
        ("a//b", "not a plain relative path"),
        ("./a", "not a plain relative path"),
        ("a/", "not a plain relative path"),
        ("", "an empty path"),
        ("x" * (MAX_PATH_CHARS + 1), "longer than"),
    ],
)
def test_a_path_that_could_leave_the_snapshot_is_refused(path: str, why: str) -> None:
    with pytest.raises(ManifestError, match=re.escape(why)):
        check_relative_path(path)
    with pytest.raises(ManifestError):
        decode_manifest(_raw([_file(path)]))


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([_file("a"), _file("a")], "'a' is listed twice"),
        ([_file("a"), _file("a/b")], "'a' is both a file and the folder of 'a/b'"),
        (
            [{"path": "l", "kind": "link", "target": "x"}, _file("l/inside")],
            "'l' is both a file and the folder of 'l/inside'",
        ),
        ([{"path": "a", "size": 1}], "file 'a' has no digest"),
        ([_file("a", target="b")], "file 'a' has a link target"),
        ([{"path": "l", "kind": "link", "target": "../../etc"}], "outside the snapshot"),
        ([{"path": "d/l", "kind": "link", "target": "../.."}], "outside the snapshot"),
        ([{"path": "l", "kind": "link", "target": "/etc/passwd"}], "outside the snapshot"),
        ([{"path": "l", "kind": "link", "target": "."}], "outside the snapshot"),
        ([{"path": "l", "kind": "link"}], "needs a target and nothing else"),
        ([{"path": "l", "kind": "link", "target": "a", "digest": DIGEST}], "needs a target"),
        ([_file("a", digest="ABC")], "64 lowercase hex"),
        ([_file("a", size=-1)], "greater than or equal to 0"),
    ],
)
def test_a_manifest_that_breaks_a_rule_is_refused_naming_the_entry(
    entries: List[Dict[str, Any]], message: str
) -> None:
    with pytest.raises(ManifestError, match=re.escape(message)):
        decode_manifest(_raw(entries))


def test_encoding_refuses_what_decoding_would() -> None:
    with pytest.raises(ManifestError, match="listed twice"):
        encode_manifest([FileEntry(path="a", digest=DIGEST), FileEntry(path="a", digest=DIGEST)])
    with pytest.raises(ManifestError, match="outside the snapshot"):
        encode_manifest([FileEntry(path="l", kind="link", target="../x")])


def test_a_link_inside_the_tree_is_kept() -> None:
    manifest = decode_manifest(
        _raw([_file("d/f"), {"path": "d/e/l", "kind": "link", "target": "../f"}])
    )
    assert [e.target for e in manifest.entries if e.kind == "link"] == ["../f"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\xc1", "not msgpack"),
        (msgpack.packb([1, 2]), "not a map with a list of entries"),
        (msgpack.packb({"version": 1, "entries": {}}), "not a map with a list of entries"),
        (_raw([], version=2), "manifest version 2 is not 1"),
    ],
)
def test_bytes_that_are_no_manifest_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(ManifestError, match=message):
        decode_manifest(data)
