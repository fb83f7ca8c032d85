"""Job records in SQLite (WAL, synchronous=FULL): a state change is on disk
before the runner acknowledges it. Synchronous calls; the runner drives them from
one dedicated thread so the event loop never waits on an fsync.

The database and SQLite's ``-wal`` and ``-shm`` beside it are 0600: the records
hold job environments, and anyone who can open ``-shm`` can hold its locks and
stall every write. The database is created 0600 before SQLite opens it (SQLite
gives its side files the database's mode) and all three are checked after.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    FrozenSet,
    Iterable,
    List,
    Optional,
    Sequence,
    Tuple,
)

from protocol.jobs import ACTIVE_STATES, JobState, SnapshotInfo
from protocol.limits import RECENT_WINDOW_S
from protocol.socket_path import PRIVATE_FILE_MODE, open_private

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    argv TEXT NOT NULL,
    cwd TEXT NOT NULL,
    env TEXT NOT NULL,
    gpus_requested TEXT,
    gpus TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL,
    exit_code INTEGER,
    signal TEXT,
    reason TEXT,
    shim_pid INTEGER,
    shim_start INTEGER,
    job_pid INTEGER,
    boot_id TEXT,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    leaked_gpu_pids TEXT NOT NULL DEFAULT '[]',
    submit_key TEXT,
    cancel_key TEXT,
    snapshot TEXT,
    tree TEXT,
    ports TEXT NOT NULL DEFAULT '[]',
    after TEXT NOT NULL DEFAULT '[]',
    after_any INTEGER NOT NULL DEFAULT 0,
    priority INTEGER NOT NULL DEFAULT 0,
    attempt INTEGER NOT NULL DEFAULT 1,
    retry INTEGER NOT NULL DEFAULT 0,
    retry_on TEXT NOT NULL DEFAULT 'any',
    retry_at REAL,
    past_attempts TEXT NOT NULL DEFAULT '[]',
    job_group TEXT,
    labels TEXT NOT NULL DEFAULT '{}',
    stall_after REAL,
    executor TEXT NOT NULL DEFAULT 'local',
    slurm TEXT,
    slurm_id INTEGER,
    nodes TEXT
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

#: Columns added after the first release, added to an older database on open.
_ADDED_COLUMNS = {
    "submit_key": "TEXT",
    "cancel_key": "TEXT",
    "snapshot": "TEXT",
    "tree": "TEXT",
    "ports": "TEXT NOT NULL DEFAULT '[]'",
    "after": "TEXT NOT NULL DEFAULT '[]'",
    "after_any": "INTEGER NOT NULL DEFAULT 0",
    "priority": "INTEGER NOT NULL DEFAULT 0",
    "attempt": "INTEGER NOT NULL DEFAULT 1",
    "retry": "INTEGER NOT NULL DEFAULT 0",
    "retry_on": "TEXT NOT NULL DEFAULT 'any'",
    "retry_at": "REAL",
    "past_attempts": "TEXT NOT NULL DEFAULT '[]'",
    "job_group": "TEXT",
    "labels": "TEXT NOT NULL DEFAULT '{}'",
    "stall_after": "REAL",
    "executor": "TEXT NOT NULL DEFAULT 'local'",
    "slurm": "TEXT",
    "slurm_id": "INTEGER",
    "nodes": "TEXT",
}

_INDEXES = """
CREATE UNIQUE INDEX IF NOT EXISTS jobs_submit_key ON jobs(submit_key)
    WHERE submit_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS jobs_group ON jobs(job_group) WHERE job_group IS NOT NULL;
"""


@dataclass
class JobRecord:
    id: int
    name: str
    state: JobState
    argv: List[str]
    cwd: str
    env: Dict[str, str]
    created_at: float
    gpus_requested: Optional[str] = None
    gpus: List[int] = field(default_factory=list)
    started_at: Optional[float] = None
    finished_at: Optional[float] = None
    exit_code: Optional[int] = None
    signal: Optional[str] = None
    reason: Optional[str] = None
    shim_pid: Optional[int] = None
    shim_start: Optional[int] = None
    job_pid: Optional[int] = None
    boot_id: Optional[str] = None
    cancel_requested: bool = False
    leaked_gpu_pids: List[int] = field(default_factory=list)
    #: The client's idempotency key of the submit that made the job, and of the
    #: cancel that stopped it: the same request asked again finds them.
    submit_key: Optional[str] = None
    cancel_key: Optional[str] = None
    #: The snapshot the job runs in (JSON of `SnapshotInfo`), and the job's private
    #: copy of it (its working tree; `cwd` is it or a folder inside it).
    snapshot: Optional[SnapshotInfo] = None
    tree: Optional[str] = None
    #: The TCP ports the job said it serves (`JobSpec.ports`).
    ports: List[int] = field(default_factory=list)
    #: The jobs it starts after (`JobSpec.after`, `after_any`), and its priority
    #: among jobs waiting for GPUs: kept here so a restarted runner still honours them.
    after: List[int] = field(default_factory=list)
    after_any: bool = False
    priority: int = 0
    #: Which attempt runs (1 first), how many more a failure may have
    #: (`JobSpec.retry`) and on what, when the next starts while one waits
    #: to, and how each earlier attempt ended (dicts of `AttemptInfo`).
    attempt: int = 1
    retry: int = 0
    retry_on: str = "any"
    retry_at: Optional[float] = None
    past_attempts: List[Dict[str, Any]] = field(default_factory=list)
    #: `JobSpec.group` and `JobSpec.labels`.
    job_group: Optional[str] = None
    labels: Dict[str, str] = field(default_factory=dict)
    #: `JobSpec.stall_after` (None: the runner's default).
    stall_after: Optional[float] = None
    #: Where it runs (`JobSpec.executor`, resolved); for Slurm, what it asked for
    #: (a dict of `SlurmRequest`), its Slurm job id once submitted, its nodes.
    executor: str = "local"
    slurm: Optional[Dict[str, Any]] = None
    slurm_id: Optional[int] = None
    nodes: Optional[str] = None

    @property
    def on_slurm(self) -> bool:
        return self.executor == "slurm"

    @property
    def tree_cwd(self) -> Optional[str]:
        """Where in its copy the job starts (None: its root), for running it again."""
        if self.tree is None:
            return None
        relative = os.path.relpath(self.cwd, self.tree)
        return None if relative == "." else relative


_JSON_COLUMNS = (
    "argv",
    "env",
    "gpus",
    "leaked_gpu_pids",
    "ports",
    "after",
    "past_attempts",
    "labels",
    "slurm",
)
_ACTIVE = tuple(state.value for state in ACTIVE_STATES)
_ACTIVE_MARKS = ", ".join("?" for _ in _ACTIVE)
_BOOL_COLUMNS = ("cancel_requested", "after_any")
_COLUMNS = [f for f in JobRecord.__dataclass_fields__ if f != "id"]


def _to_row(record: JobRecord) -> Dict[str, Any]:
    row: Dict[str, Any] = {}
    for name in _COLUMNS:
        value = getattr(record, name)
        if name in _JSON_COLUMNS:
            value = json.dumps(value)
        elif name == "state":
            value = value.value
        elif name in _BOOL_COLUMNS:
            value = int(value)
        elif name == "snapshot":
            value = None if value is None else value.model_dump_json()
        row[name] = value
    return row


#: The JSON most rows hold in most of their JSON columns, read without the
#: parser: a listing of 10,000 jobs reads nine such columns a row.
_EMPTY_JSON: Dict[str, Callable[[], Any]] = {"[]": list, "{}": dict, "null": lambda: None}


def _from_json(text: Optional[str]) -> Any:
    if text is None:
        return None
    common = _EMPTY_JSON.get(text)
    return common() if common is not None else json.loads(text)


#: Every column of a job, in `JobRecord`'s order: a row read with them is the
#: record's positional arguments once the JSON, state, flags and snapshot are read.
_FIELDS = list(JobRecord.__dataclass_fields__)
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM jobs"  # noqa: S608 (our own names)
_JSON_AT = [i for i, name in enumerate(_FIELDS) if name in _JSON_COLUMNS]
_BOOL_AT = [i for i, name in enumerate(_FIELDS) if name in _BOOL_COLUMNS]
_STATE_AT = _FIELDS.index("state")
_SNAPSHOT_AT = _FIELDS.index("snapshot")
_STATES = {state.value: state for state in JobState}


def _from_row(row: Sequence[Any]) -> JobRecord:
    """A record from a row of `_SELECT`. A listing reads 10,000 of them: by
    position, with the state found in a dict, it costs a third of a dict's way."""
    values = list(row)
    for i in _JSON_AT:
        values[i] = _from_json(values[i])
    for i in _BOOL_AT:
        values[i] = bool(values[i])
    values[_STATE_AT] = _STATES[values[_STATE_AT]]
    snapshot = values[_SNAPSHOT_AT]
    if snapshot is not None:
        values[_SNAPSHOT_AT] = SnapshotInfo.model_validate_json(snapshot)
    return JobRecord(*values)


#: Ids asked for in one ``IN (...)``: under SQLite's oldest limit of bound values.
_IDS_PER_QUERY = 900

#: SQLite's files beside the database, by suffix.
_SIDE_FILES = ("", "-wal", "-shm", "-journal")


def _make_private(path: Path) -> None:
    """Create the database file 0600 if absent, and take group/other access away
    from it and its side files (left by an older runner)."""
    os.close(open_private(path, os.O_RDWR | os.O_CLOEXEC))
    for suffix in _SIDE_FILES[1:]:
        try:
            os.chmod(f"{path}{suffix}", PRIVATE_FILE_MODE)
        except FileNotFoundError:
            continue


class JobStore:
    def __init__(self, path: Path) -> None:
        _make_private(path)
        self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)
        have = {row[1] for row in self._db.execute("PRAGMA table_info(jobs)")}
        for name, kind in _ADDED_COLUMNS.items():
            if name not in have:
                self._db.execute(f"ALTER TABLE jobs ADD COLUMN {name} {kind}")
        self._db.executescript(_INDEXES)
        _make_private(path)  # -wal and -shm exist now

    def close(self) -> None:
        self._db.close()

    def insert(self, record: JobRecord) -> JobRecord:
        row = _to_row(record)
        names = ", ".join(row)
        marks = ", ".join(f":{n}" for n in row)
        cursor = self._db.execute(f"INSERT INTO jobs ({names}) VALUES ({marks})", row)  # noqa: S608
        assert cursor.lastrowid is not None
        record.id = cursor.lastrowid
        return record

    def update(self, record: JobRecord) -> None:
        row = _to_row(record)
        sets = ", ".join(f"{n} = :{n}" for n in row)
        row["id"] = record.id
        self._db.execute(f"UPDATE jobs SET {sets} WHERE id = :id", row)  # noqa: S608

    def states(self, job_ids: Iterable[int]) -> Dict[int, JobState]:
        """The state of each of `job_ids` that exists (one query, however many)."""
        wanted = sorted(set(job_ids))
        if not wanted:
            return {}
        marks = ", ".join("?" for _ in wanted)
        rows = self._db.execute(
            f"SELECT id, state FROM jobs WHERE id IN ({marks})",  # noqa: S608
            wanted,
        )
        return {row[0]: JobState(row[1]) for row in rows}

    def cancelled_with(self, key: str) -> List[int]:
        """The jobs a group cancel with idempotency key `key` stopped (their cancel
        keys are ``KEY:ID``)."""
        rows = self._db.execute(
            "SELECT id FROM jobs WHERE substr(cancel_key, 1, ?) = ? ORDER BY id",
            (len(key) + 1, f"{key}:"),
        )
        return [row[0] for row in rows]

    def by_submit_key(self, key: str) -> Optional[JobRecord]:
        found = self._records(f"{_SELECT} WHERE submit_key = ?", (key,))
        return found[0] if found else None

    def get(self, job_id: int) -> Optional[JobRecord]:
        found = self._records(f"{_SELECT} WHERE id = ?", (job_id,))
        return found[0] if found else None

    def records_of(self, job_ids: Sequence[int]) -> List[JobRecord]:
        """The jobs of `job_ids` there are, in id order."""
        found: List[JobRecord] = []
        for start in range(0, len(job_ids), _IDS_PER_QUERY):
            chunk = job_ids[start : start + _IDS_PER_QUERY]
            marks = ", ".join("?" for _ in chunk)
            found += self._records(f"{_SELECT} WHERE id IN ({marks})", chunk)
        return sorted(found, key=lambda record: record.id)

    def _records(self, sql: str, args: Sequence[object]) -> List[JobRecord]:
        """The jobs a `_SELECT` finds, each row a tuple (`sqlite3.Row` costs more
        to read by name than the rest of making a record)."""
        cursor = self._db.cursor()
        cursor.row_factory = None
        return [_from_row(row) for row in cursor.execute(sql, args)]

    def active(self) -> List[JobRecord]:
        return self._records(
            f"{_SELECT} WHERE state IN ({_ACTIVE_MARKS}) ORDER BY id",
            _ACTIVE,
        )

    def listing(
        self,
        include_finished: bool,
        limit: int,
        group: Optional[str] = None,
        before: Optional[int] = None,
    ) -> List[JobRecord]:
        """Newest first: active jobs and recent finished ones, or everything;
        only `group`'s when it is given, only ids below `before` when it is."""
        args: List[object] = []
        where = "1"
        if group is not None:
            where, args = "job_group = ?", [group]
        if before is not None:
            where, args = f"{where} AND id < ?", [*args, before]
        if include_finished:
            return self._records(
                f"{_SELECT} WHERE {where} ORDER BY id DESC LIMIT ?",
                (*args, limit),
            )
        since = time.time() - RECENT_WINDOW_S
        return self._records(
            f"{_SELECT} WHERE {where} AND "
            f"(state IN ({_ACTIVE_MARKS}) OR finished_at >= ?) ORDER BY id DESC LIMIT ?",
            (*args, *_ACTIVE, since, limit),
        )

    def setting(self, name: str) -> Optional[str]:
        """A runner setting kept across restarts (the queue's pause), or None."""
        row = self._db.execute("SELECT value FROM settings WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def set_setting(self, name: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO settings (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
            (name, value),
        )

    def counts(self) -> Dict[str, int]:
        rows = self._db.execute("SELECT state, COUNT(*) FROM jobs GROUP BY state")
        counts = {state.value: 0 for state in JobState}
        counts.update({state: n for state, n in rows})
        return counts

    def snapshot_usage(self, since: float) -> Tuple[FrozenSet[str], FrozenSet[str]]:
        """The snapshots of jobs active or ended since `since`, and every job's copy."""
        used = (
            "SELECT snapshot FROM jobs WHERE snapshot IS NOT NULL AND "  # noqa: S608
            f"(state IN ({_ACTIVE_MARKS}) OR finished_at IS NULL OR finished_at >= ?)"
        )
        rows = self._db.execute(used, (*_ACTIVE, since))
        snapshots = frozenset(SnapshotInfo.model_validate_json(r[0]).id for r in rows)
        trees = frozenset(
            r[0] for r in self._db.execute("SELECT tree FROM jobs WHERE tree IS NOT NULL")
        )
        return snapshots, trees

    def ids(self) -> Iterable[int]:
        return [r[0] for r in self._db.execute("SELECT id FROM jobs")]
