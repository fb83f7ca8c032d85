"""A snapshot's manifest: the list of a working tree's files, the thing both sides
agree on before a job runs in a copy of that tree.

A manifest travels as a blob like any file (msgpack, entries sorted by path), so
its sha256 is the snapshot's id and a half-sent manifest resumes like a file. The
host never trusts it: `decode_manifest` refuses every path that could land outside
the snapshot, duplicates, and link targets that leave the tree, before a byte is
written. Its models are built on first use (``defer_build``), as every model in
`protocol` is (`protocol.envelope.WireModel` says why).
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from typing import Iterable, List, Literal, Optional

import msgpack
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from protocol.limits import MAX_PATH_CHARS, MAX_SNAPSHOT_FILES

#: A blob's name: the sha256 of its bytes, lowercase hex.
DIGEST = re.compile(r"^[0-9a-f]{64}$")
MANIFEST_VERSION = 1


class ManifestError(ValueError):
    """A manifest the host must refuse; the message names the entry and the rule."""


def digest_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_relative_path(path: str) -> str:
    """`path` if it is a clean relative POSIX path that stays inside its root, else
    `ManifestError` saying why. Shared by manifests and by `tether pull` paths."""
    if not path:
        raise ManifestError("an empty path")
    if "\x00" in path:
        raise ManifestError(f"path {path!r} contains a NUL byte")
    if len(path) > MAX_PATH_CHARS:
        raise ManifestError(f"path {path[:60]!r}... is longer than {MAX_PATH_CHARS} characters")
    if path.startswith("/"):
        raise ManifestError(f"path {path!r} is absolute")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ManifestError(f"path {path!r} is not a plain relative path (empty, '.' or '..' part)")
    return path


class FileEntry(BaseModel):
    """One file of a snapshot: a regular file by its content's digest, or a
    symlink by its target (which must stay inside the snapshot)."""

    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    path: str
    kind: Literal["file", "link"] = "file"
    size: int = Field(default=0, ge=0)
    executable: bool = False
    digest: Optional[str] = None
    target: Optional[str] = None

    @field_validator("path")
    @classmethod
    def _path_inside(cls, path: str) -> str:
        try:
            return check_relative_path(path)
        except ManifestError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("digest")
    @classmethod
    def _digest_hex(cls, digest: Optional[str]) -> Optional[str]:
        if digest is not None and not DIGEST.match(digest):
            raise ValueError("digest must be 64 lowercase hex characters (sha256)")
        return digest


class Manifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, defer_build=True)

    version: int = MANIFEST_VERSION
    entries: List[FileEntry]

    @property
    def total_bytes(self) -> int:
        return sum(entry.size for entry in self.entries)

    def digests(self) -> List[str]:
        """Each distinct blob the files need, once, in path order."""
        seen: dict[str, None] = {}
        for entry in self.entries:
            if entry.digest is not None:
                seen.setdefault(entry.digest, None)
        return list(seen)


def link_target_inside(path: str, target: str) -> bool:
    """Whether a symlink at `path` pointing at `target` resolves inside the tree
    (lexically: every link in a snapshot is checked, so chains stay inside too)."""
    if not target or target.startswith("/") or "\x00" in target:
        return False
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    return joined != ".." and not joined.startswith("../") and joined != "."


def _check_entries(entries: Iterable[FileEntry]) -> None:
    seen: set[str] = set()
    files: set[str] = set()
    for entry in entries:
        if entry.path in seen:
            raise ManifestError(f"path {entry.path!r} is listed twice")
        seen.add(entry.path)
        if entry.kind == "file":
            if entry.digest is None:
                raise ManifestError(f"file {entry.path!r} has no digest")
            if entry.target is not None:
                raise ManifestError(f"file {entry.path!r} has a link target")
            files.add(entry.path)
        else:
            if entry.target is None or entry.digest is not None or entry.size:
                raise ManifestError(f"link {entry.path!r} needs a target and nothing else")
            if not link_target_inside(entry.path, entry.target):
                raise ManifestError(
                    f"link {entry.path!r} points at {entry.target!r}, outside the snapshot"
                )
    # A file cannot also be a folder of another entry ("a" and "a/b").
    for path in seen:
        parent = posixpath.dirname(path)
        while parent:
            if parent in seen:
                raise ManifestError(f"{parent!r} is both a file and the folder of {path!r}")
            parent = posixpath.dirname(parent)


def encode_manifest(entries: Iterable[FileEntry]) -> bytes:
    """The manifest's bytes (entries sorted by path, so equal trees give equal ids)."""
    ordered = sorted(entries, key=lambda entry: entry.path)
    _check_entries(ordered)
    if len(ordered) > MAX_SNAPSHOT_FILES:
        raise ManifestError(f"more than {MAX_SNAPSHOT_FILES} files")
    body = {
        "version": MANIFEST_VERSION,
        "entries": [entry.model_dump(exclude_defaults=True) for entry in ordered],
    }
    packed: bytes = msgpack.packb(body, use_bin_type=True)
    return packed


def decode_manifest(data: bytes) -> Manifest:
    """The manifest in `data`, checked entry by entry; `ManifestError` otherwise."""
    try:
        raw = msgpack.unpackb(data, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ManifestError(f"the manifest is not msgpack ({exc})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("entries"), list):
        raise ManifestError("the manifest is not a map with a list of entries")
    if raw.get("version") != MANIFEST_VERSION:
        raise ManifestError(
            f"manifest version {raw.get('version')!r} is not {MANIFEST_VERSION}: "
            "the client and the runner differ; update the older one"
        )
    if len(raw["entries"]) > MAX_SNAPSHOT_FILES:
        raise ManifestError(f"more than {MAX_SNAPSHOT_FILES} files")
    try:
        manifest = Manifest.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ManifestError(f"manifest entry {where}: {first['msg']}") from None
    _check_entries(manifest.entries)
    return manifest
