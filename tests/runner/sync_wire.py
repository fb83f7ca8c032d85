"""The raw wire to a real runner, for the snapshot tests: one blocking connection
that asks and waits for the answer with the same id, and helpers that upload a
tree as the client does (manifest blob, blobs_wanted, put_blobs, make_snapshot).

The tests talk the protocol directly, not through `HostSession`, so that they
pin the runner's side of it: what it stores, refuses and answers."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Union

from protocol.codec import FrameDecoder, encode
from protocol.envelope import Request
from protocol.jobs import JobInfo, JobSpec
from protocol.limits import MAX_PUT_BYTES
from protocol.manifest import FileEntry, digest_of, encode_manifest
from protocol.messages import Error, GetJob, Hello, JobReply, Submit, Welcome
from protocol.sync import (
    BlobPart,
    BlobsMissing,
    BlobsStored,
    BlobsWanted,
    MakeSnapshot,
    PutBlobs,
    SnapshotReply,
)
from protocol.version import PROTOCOL_VERSION
from tests.conftest import UserEnv, make_user_env
from tests.processes import reap


@contextlib.contextmanager
def serving_runner(root: Path) -> Iterator[UserEnv]:
    """A runner daemon serving a fresh HOME under `root`, stopped (and anything
    left under `root` ended) afterwards: one per test module, shared by its tests."""
    env = make_user_env(root)
    started = env.runner("serve", "--daemon")
    assert started.returncode == 0, started.stderr
    yield env
    env.stop_runner()
    reap([root])


@dataclass(frozen=True)
class Link:
    target: str


@dataclass(frozen=True)
class Exe:
    data: bytes


#: A tree to sync: path -> bytes (a file), `Exe` (an executable file) or `Link`.
Tree = Dict[str, Union[bytes, Exe, Link]]


class Wire:
    """One client connection that has said hello."""

    def __init__(self, env: UserEnv, timeout: float = 60) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(env.socket))
        self.decoder = FrameDecoder()
        self.sock.sendall(encode(Hello(protocol=PROTOCOL_VERSION, client_version="test")))
        assert isinstance(self._next(), Welcome)
        self._id = 0
        self._held: Dict[int, object] = {}

    def next_id(self) -> int:
        self._id += 1
        return self._id

    def send(self, request: Request) -> None:
        self.sock.sendall(encode(request))

    def ask(self, request: Request) -> object:
        """Send `request` and return the message answering it (a reply or an Error)."""
        self.send(request)
        return self.answer(request.id)

    def answer(self, request_id: int) -> object:
        """The answer to request `request_id` (answers to others are kept for theirs)."""
        while request_id not in self._held:
            message = self._next()
            if isinstance(message, Error) and message.id is None:
                return message
            self._held[getattr(message, "id", -1)] = message
        return self._held.pop(request_id)

    def _next(self) -> object:
        while True:
            message = self.decoder.next_message()
            if message is not None:
                return message
            data = self.sock.recv(1 << 20)
            if not data:
                raise ConnectionError("the runner hung up")
            self.decoder.feed(data)

    def close(self) -> None:
        self.sock.close()

    # -- the requests, as a client makes them ------------------------------------

    def wanted(self, digests: List[str]) -> Dict[str, int]:
        reply = self.ask(BlobsWanted(id=self.next_id(), digests=digests))
        assert isinstance(reply, BlobsMissing), reply
        return {state.digest: state.have for state in reply.missing}

    def put(self, digest: str, size: int, offset: int, data: bytes) -> object:
        part = BlobPart(digest=digest, size=size, offset=offset, data=data)
        return self.ask(PutBlobs(id=self.next_id(), parts=[part]))

    def put_ok(self, digest: str, size: int, offset: int, data: bytes) -> int:
        reply = self.put(digest, size, offset, data)
        assert isinstance(reply, BlobsStored), reply
        (state,) = reply.blobs
        return state.have

    def upload_blob(self, data: bytes) -> str:
        digest = digest_of(data)
        have = self.wanted([digest]).get(digest)
        while have is not None and have < len(data):
            have = self.put_ok(digest, len(data), have, data[have : have + MAX_PUT_BYTES])
        return digest

    def snapshot(self, manifest: str) -> object:
        return self.ask(MakeSnapshot(id=self.next_id(), manifest=manifest))

    def sync(self, tree: Tree) -> str:
        """Upload `tree` and make it a snapshot; its id."""
        manifest = manifest_of(tree)
        for content in tree.values():
            if not isinstance(content, Link):
                self.upload_blob(_bytes(content))
        snapshot_id = self.upload_blob(manifest)
        reply = self.snapshot(snapshot_id)
        assert isinstance(reply, SnapshotReply), reply
        return snapshot_id

    def submit(self, spec: JobSpec, key: Optional[str] = None) -> object:
        return self.ask(Submit(id=self.next_id(), spec=spec, key=key))

    def submit_ok(self, spec: JobSpec, key: Optional[str] = None) -> JobInfo:
        reply = self.submit(spec, key)
        assert isinstance(reply, JobReply), reply
        return reply.job

    def job(self, job_id: int) -> JobInfo:
        reply = self.ask(GetJob(id=self.next_id(), job_id=job_id))
        assert isinstance(reply, JobReply), reply
        return reply.job

    def wait_ended(self, job_id: int, timeout: float = 30) -> JobInfo:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if not job.state.is_active:
                return job
            time.sleep(0.05)
        raise AssertionError(f"job {job_id} did not end within {timeout} s")


def _bytes(content: Union[bytes, Exe]) -> bytes:
    return content.data if isinstance(content, Exe) else content


def entries_of(tree: Tree) -> List[FileEntry]:
    entries = []
    for path, content in tree.items():
        if isinstance(content, Link):
            entries.append(FileEntry(path=path, kind="link", target=content.target))
        else:
            data = _bytes(content)
            entries.append(
                FileEntry(
                    path=path,
                    size=len(data),
                    digest=digest_of(data),
                    executable=isinstance(content, Exe),
                )
            )
    return entries


def manifest_of(tree: Tree) -> bytes:
    return encode_manifest(entries_of(tree))
