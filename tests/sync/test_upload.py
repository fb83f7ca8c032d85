"""`upload_tree` against a real local runner: the job's tree is git's list, byte for
byte; only what the host lacks travels; local edits after the submit never reach
a job; rerun uses the old snapshot; a half-sent file continues; a file edited
while being sent is refused."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from protocol.jobs import JobInfo, JobSpec
from protocol.limits import MAX_PUT_BYTES
from protocol.manifest import digest_of
from protocol.sync import BlobPart
from tests.sync.trees import DESCRIBE, PAST_NS, describe, git_list, make_repo, write
from tui.errors import FileChanged, SyncError, TreeTooLarge
from tui.session import HostSession
from tui.sync import SyncLimits, upload_tree
from tui.sync.hash_cache import hash_tree
from tui.sync.progress import Progress
from tui.sync.select import select_files


async def finished(session: HostSession, job_id: int, timeout: float = 60) -> JobInfo:
    async def wait() -> JobInfo:
        while True:
            job = await session.get_job(job_id)
            if not job.state.is_active:
                return job
            await asyncio.sleep(0.05)

    return await asyncio.wait_for(wait(), timeout)


async def output(session: HostSession, job_id: int) -> str:
    job = await finished(session, job_id)
    data = b""
    while True:
        chunk = await session.read_log(job_id, len(data))
        data += chunk.data
        if len(data) >= chunk.size:
            break
    assert job.exit_code == 0, data.decode(errors="replace")
    return data.decode()


async def run_in(session: HostSession, snapshot: str, code: str) -> int:
    spec = JobSpec(argv=[sys.executable, "-c", code], snapshot=snapshot)
    return (await session.submit(spec)).id


async def test_the_job_runs_in_exactly_gits_list_byte_for_byte(
    session: HostSession, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    write(repo, "data/big.bin", os.urandom(3 * MAX_PUT_BYTES + 12345))  # several parts
    for i in range(300):  # many to a put
        write(repo, f"many/{i:03d}.txt", f"small file {i}\n")
    result = await upload_tree(session, repo)
    expected = git_list(repo) - {"src/link-outside"}
    assert [s.path for s in result.skipped] == ["src/link-outside"]
    assert result.snapshot.files == len(expected)
    job_id = await run_in(session, result.snapshot.id, DESCRIBE)
    assert json.loads(await output(session, job_id)) == describe(repo, expected)
    job = await session.get_job(job_id)
    assert job.snapshot == result.snapshot


async def test_a_second_sync_sends_only_what_changed(session: HostSession, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    first = await upload_tree(session, repo)
    assert first.files_sent == first.snapshot.files - 1 + 1  # one link, plus the manifest
    again = await upload_tree(session, repo)
    assert (again.snapshot, again.files_sent, again.bytes_sent) == (first.snapshot, 0, 0)
    write(repo, "src/train.py", "print('edited')\n")
    edited = await upload_tree(session, repo)
    assert edited.snapshot.id != first.snapshot.id
    assert edited.files_sent == 2  # the file and the new manifest
    assert edited.bytes_sent < 2000


async def test_local_edits_after_the_submit_never_reach_the_job(
    session: HostSession, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    flag = tmp_path / "go"
    wait_then_describe = (
        f"import os, time\nwhile not os.path.exists({str(flag)!r}): time.sleep(0.02)\n" + DESCRIBE
    )
    expected = describe(repo, git_list(repo) - {"src/link-outside"})
    result = await upload_tree(session, repo)
    job_id = await run_in(session, result.snapshot.id, wait_then_describe)
    write(repo, "src/train.py", "print('edited after the submit')\n")
    (repo / "untracked.txt").unlink()
    (repo / "run.sh").chmod(0o644)
    flag.touch()
    assert json.loads(await output(session, job_id)) == expected


async def test_rerun_after_local_edits_uses_the_old_snapshot(
    session: HostSession, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    result = await upload_tree(session, repo)
    show = "print(open('src/train.py').read(), end='')"
    first = await run_in(session, result.snapshot.id, show)
    assert await output(session, first) == "print('training')\n"
    write(repo, "src/train.py", "print('edited')\n")
    again = await session.rerun(first)
    assert again.id != first and again.snapshot == result.snapshot
    assert await output(session, again.id) == "print('training')\n"


async def test_a_job_writing_into_its_tree_does_not_change_the_next_jobs_copy(
    session: HostSession, tmp_path: Path
) -> None:
    repo = make_repo(tmp_path / "repo")
    result = await upload_tree(session, repo)
    vandal = "open('src/train.py', 'w').write('vandalised'); import os; os.chmod('run.sh', 0o600)"
    await output(session, await run_in(session, result.snapshot.id, vandal))
    job_id = await run_in(session, result.snapshot.id, DESCRIBE)
    assert json.loads(await output(session, job_id)) == describe(
        repo, git_list(repo) - {"src/link-outside"}
    )


async def test_a_half_sent_file_continues_from_what_the_host_holds(
    session: HostSession, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    data = os.urandom(5 * MAX_PUT_BYTES)
    write(tree, "weights.bin", data)
    digest = digest_of(data)
    for offset in (0, MAX_PUT_BYTES):  # a sync cut after its second part
        part = data[offset : offset + MAX_PUT_BYTES]
        held = await session.put_blobs(
            [BlobPart(digest=digest, size=len(data), offset=offset, data=part)]
        )
    assert held[0].have == 2 * MAX_PUT_BYTES
    seen: list[Progress] = []
    result = await upload_tree(session, tree, on_progress=seen.append)
    uploading = [p for p in seen if p.phase == "uploading"]
    manifest_bytes = result.bytes_sent - 3 * MAX_PUT_BYTES
    assert 0 < manifest_bytes < 500  # the rest of the file and the manifest, nothing more
    assert uploading[0].bytes_total == result.bytes_sent
    job_id = await run_in(session, result.snapshot.id, DESCRIBE)
    assert json.loads(await output(session, job_id)) == describe(tree, {"weights.bin"})


async def test_a_file_edited_while_it_is_sent_is_refused(
    session: HostSession, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    write(tree, "a.txt", "stable")
    target = write(tree, "growing.log", "x" * 10_000)

    def edit_when_sending(progress: Progress) -> None:
        if progress.phase == "uploading" and progress.bytes_done == 0:
            with target.open("a") as f:
                f.write("more")

    with pytest.raises(FileChanged, match=r"growing\.log changed while tether was reading it"):
        await upload_tree(session, tree, on_progress=edit_when_sending)


async def test_bytes_that_do_not_match_their_hash_never_make_a_snapshot(
    session: HostSession, tmp_path: Path
) -> None:
    """A file edited with its size, mtime and inode kept, after it was hashed (the
    cache trusts it): the host checks the bytes against the digest, keeps no
    blob, and no snapshot is made."""
    tree = tmp_path / "tree"
    target = write(tree, "config.yaml", "lr: 0.1\n")
    os.utime(target, ns=(PAST_NS, PAST_NS))
    files = select_files(tree).files
    await hash_tree(tree, files, lambda p: None)  # cached as "lr: 0.1"
    with target.open("r+b") as f:  # same inode, same size
        f.write(b"lr: 9.9\n")
    os.utime(target, ns=(PAST_NS, PAST_NS))
    with pytest.raises(FileChanged, match=r"sent for config\.yaml do not match their hash"):
        await upload_tree(session, tree)
    wanted = await session.blobs_wanted([digest_of(b"lr: 0.1\n"), digest_of(b"lr: 9.9\n")])
    assert len(wanted) == 2  # neither is stored as the other
    again = await upload_tree(session, tree)  # as the message says: hashed anew, sent
    job_id = await run_in(session, again.snapshot.id, DESCRIBE)
    described = json.loads(await output(session, job_id))
    assert described["config.yaml"][1] == digest_of(b"lr: 9.9\n")


async def test_a_tree_over_the_limits_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    class Untouchable:
        def __getattr__(self, name: str) -> Any:
            raise AssertionError(f"the session was used ({name}) for a refused tree")

    tree = tmp_path / "tree"
    write(tree, "big.bin", b"\0" * 5000)
    with pytest.raises(TreeTooLarge, match="--sync-max 1M"):
        await upload_tree(Untouchable(), tree, limits=SyncLimits(max_bytes=4096))  # type: ignore[arg-type]


async def test_an_unsendable_name_is_an_error_before_anything_is_sent(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree, os.fsdecode(b"caf\xe9.txt"))
    with pytest.raises(SyncError, match="not UTF-8"):
        await upload_tree(None, tree)  # type: ignore[arg-type]


async def test_a_stored_file_found_torn_is_sent_again_and_the_job_gets_its_bytes(
    session: HostSession, tmp_path: Path, local_runner: Any
) -> None:
    # Blobs are not fsynced one by one; a power loss can leave one short under its
    # name. Making a snapshot checks each size, drops a torn one, and the client
    # asks again and sends it, without the person doing anything.
    tree = tmp_path / "tree"
    write(tree, "weights.bin", os.urandom(100_000))
    write(tree, "train.py", "print('hi')\n")
    first = await upload_tree(session, tree)
    blob = digest_of((tree / "weights.bin").read_bytes())
    store = local_runner.home / ".local" / "state" / "tether" / "store" / "blobs"
    torn = store / blob[:2] / blob
    os.truncate(torn, 4096)
    again = await upload_tree(session, tree)
    assert again.snapshot == first.snapshot
    assert (again.files_sent, again.bytes_sent) == (1, 100_000)  # that blob alone, again
    assert torn.stat().st_size == 100_000
    code = "import hashlib; print(hashlib.sha256(open('weights.bin','rb').read()).hexdigest())"
    job_id = await run_in(session, again.snapshot.id, code)
    assert (await output(session, job_id)).strip() == blob
