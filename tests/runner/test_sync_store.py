"""The runner's blob store over the wire: uploads resume where they were cut,
only bytes that hash to their name are kept, and a snapshot is made only of
what the host holds whole."""

from __future__ import annotations

import asyncio
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from protocol.errors import ErrorCode
from protocol.limits import MAX_PUT_BYTES
from protocol.manifest import digest_of
from protocol.messages import Error, GetStatus, StatusReply
from protocol.sync import BlobsStored, SnapshotReply
from runner.paths import RunnerPaths
from runner.sync.blobs import BlobFiles
from runner.sync.store import SyncStore
from tests.conftest import UserEnv
from tests.runner.sync_wire import Exe, Link, Wire, manifest_of, serving_runner


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserEnv]:
    with serving_runner(tmp_path_factory.mktemp("sync-store")) as env:
        yield env


@pytest.fixture
def wire(runner: UserEnv) -> Iterator[Wire]:
    connection = Wire(runner)
    yield connection
    connection.close()


def _files(env: UserEnv) -> BlobFiles:
    return BlobFiles(env.state_dir / "store")


def test_a_cut_upload_resumes_at_the_bytes_the_host_holds(runner: UserEnv, wire: Wire) -> None:
    data = os.urandom(3 * MAX_PUT_BYTES // 2)
    digest = digest_of(data)
    assert wire.wanted([digest]) == {digest: 0}
    half = len(data) // 2
    assert wire.put_ok(digest, len(data), 0, data[:half]) == half

    again = Wire(runner)  # a new connection, as after a cut link
    assert again.wanted([digest]) == {digest: half}
    assert _files(runner).whole_size(digest) is None
    assert again.put_ok(digest, len(data), half, data[half:]) == len(data)
    assert again.wanted([digest]) == {}
    stored = _files(runner).whole_path(digest)
    assert stored.read_bytes() == data
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert not _files(runner).partial_path(digest).exists()
    again.close()


def test_bytes_that_do_not_match_their_digest_are_refused_and_not_kept(
    runner: UserEnv, wire: Wire
) -> None:
    claimed = digest_of(b"the real file")
    reply = wire.put(claimed, 13, 0, b"a forged file")
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_REQUEST
    assert f"blob {claimed[:12]} hash to {digest_of(b'a forged file')[:12]}" in reply.message
    assert "were not kept" in reply.message
    assert wire.wanted([claimed]) == {claimed: 0}
    assert _files(runner).whole_size(claimed) is None
    assert not _files(runner).partial_path(claimed).exists()
    # The right bytes are then taken.
    assert wire.put_ok(claimed, 13, 0, b"the real file") == 13
    assert wire.wanted([claimed]) == {}


def test_overlapping_parts_add_only_new_bytes_and_a_gap_is_not_written(wire: Wire) -> None:
    data = bytes(range(256)) * 40
    digest = digest_of(data)
    assert wire.put_ok(digest, len(data), 0, data[:1000]) == 1000
    assert wire.put_ok(digest, len(data), 0, data[:500]) == 1000  # already held
    assert wire.put_ok(digest, len(data), 3000, data[3000:4000]) == 1000  # past what is held
    assert wire.put_ok(digest, len(data), 600, data[600:2000]) == 2000  # overlaps: adds 1000
    assert wire.put_ok(digest, len(data), 2000, data[2000:]) == len(data)
    assert wire.wanted([digest]) == {}
    # A part of a blob already whole is skipped, whatever it says.
    assert wire.put_ok(digest, len(data), 0, data[:10]) == len(data)


def test_a_part_past_the_end_of_its_blob_is_refused(wire: Wire) -> None:
    digest = digest_of(b"12345")
    reply = wire.put(digest, 5, 3, b"456")
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_REQUEST
    assert reply.message == (
        f"a part of blob {digest[:12]} ends at byte 6, past the blob's size of 5 bytes"
    )
    assert wire.wanted([digest]) == {digest: 0}


def test_one_put_carries_many_small_blobs_and_an_empty_one(wire: Wire) -> None:
    from protocol.sync import BlobPart, PutBlobs

    blobs = [b"", b"a", b"bb", os.urandom(100)]
    parts = [BlobPart(digest=digest_of(b), size=len(b), offset=0, data=b) for b in blobs]
    reply = wire.ask(PutBlobs(id=wire.next_id(), parts=parts))
    assert isinstance(reply, BlobsStored)
    assert [(s.digest, s.have) for s in reply.blobs] == [(digest_of(b), len(b)) for b in blobs]
    assert wire.wanted([digest_of(b) for b in blobs]) == {}


def test_two_clients_sending_the_same_blob_at_once_store_it_once(runner: UserEnv) -> None:
    data = os.urandom(4 * MAX_PUT_BYTES)
    digest = digest_of(data)
    errors: list[BaseException] = []

    def send() -> None:
        try:
            client = Wire(runner)
            client.upload_blob(data)
            client.close()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=send) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert _files(runner).whole_path(digest).read_bytes() == data


def test_a_snapshot_is_made_only_when_every_file_is_held(wire: Wire) -> None:
    tree = {"train.py": b"print('hi')\n", "run.sh": Exe(b"#!/bin/sh\n"), "l": Link("train.py")}
    manifest = manifest_of(tree)
    manifest_id = wire.upload_blob(manifest)
    wire.upload_blob(b"print('hi')\n")
    reply = wire.snapshot(manifest_id)
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_SNAPSHOT
    assert reply.message == (
        f"snapshot {manifest_id[:12]} lacks the contents of 1 of its 2 distinct files on "
        "this host (for example 'run.sh'): send them, then make the snapshot again"
    )
    wire.upload_blob(b"#!/bin/sh\n")
    made = wire.snapshot(manifest_id)
    assert isinstance(made, SnapshotReply)
    assert (made.snapshot.id, made.snapshot.files, made.snapshot.bytes) == (manifest_id, 3, 22)
    again = wire.snapshot(manifest_id)
    assert isinstance(again, SnapshotReply) and again.snapshot == made.snapshot


def test_a_snapshot_of_a_manifest_not_held_or_not_valid_is_refused(wire: Wire) -> None:
    absent = digest_of(b"never sent")
    reply = wire.snapshot(absent)
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_SNAPSHOT
    assert "manifest is not stored whole on this host" in reply.message
    bogus = wire.upload_blob(b"\x81\xa7version\x01")  # msgpack, but no entries
    reply = wire.snapshot(bogus)
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_SNAPSHOT
    assert reply.message == (
        f"snapshot {bogus[:12]} has an unusable manifest: "
        "the manifest is not a map with a list of entries"
    )
    # A manifest smuggling a path out of the tree, packed by hand.
    import msgpack

    evil = msgpack.packb(
        {"version": 1, "entries": [{"path": "../x", "digest": absent}]}, use_bin_type=True
    )
    reply = wire.snapshot(wire.upload_blob(evil))
    assert isinstance(reply, Error) and reply.code is ErrorCode.BAD_SNAPSHOT
    assert "'..' part" in reply.message


def test_other_clients_are_served_while_a_large_blob_arrives(runner: UserEnv) -> None:
    """A 64 MiB upload in flight on one connection; a status asked on another is
    answered long before it ends."""
    data = os.urandom(64 << 20)
    digest = digest_of(data)
    uploader = Wire(runner)
    done = threading.Event()

    def upload() -> None:
        offset = 0
        try:
            while offset < len(data):
                chunk = data[offset : offset + MAX_PUT_BYTES]
                offset = uploader.put_ok(digest, len(data), offset, chunk)
        finally:
            done.set()

    thread = threading.Thread(target=upload)
    thread.start()
    try:
        other = Wire(runner)
        latencies = []
        while not done.is_set():
            started = time.monotonic()
            assert isinstance(other.ask(GetStatus(id=other.next_id())), StatusReply)
            latencies.append(time.monotonic() - started)
        other.close()
    finally:
        thread.join(120)
    assert latencies and max(latencies) < 2.0, latencies
    assert _files(runner).whole_size(digest) == len(data)


def test_store_folders_are_private(runner: UserEnv, wire: Wire) -> None:
    wire.upload_blob(b"private")
    store = runner.state_dir / "store"
    for folder in (store, store / "blobs", store / "partial", store / "snapshots"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder


def test_writers_of_one_blob_never_overlap_even_as_the_lock_changes_hands(
    tmp_path: Path,
) -> None:
    # A lock dropped from the table when merely free (its woken waiter not yet
    # running) let a newcomer make a second lock and write beside that waiter.
    store = SyncStore(RunnerPaths(run_dir=tmp_path / "run", state_dir=tmp_path / "state"))
    inside = 0
    peak = 0

    async def writer() -> None:
        nonlocal inside, peak
        for _ in range(20):
            async with store._lock_for("d" * 64):
                inside += 1
                peak = max(peak, inside)
                await asyncio.sleep(0)
                inside -= 1
            await asyncio.sleep(0)

    async def scenario() -> None:
        await asyncio.gather(*(writer() for _ in range(5)))

    asyncio.run(scenario())
    assert peak == 1
    assert store._writing == {}  # nothing left behind
