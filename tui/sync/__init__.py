"""Moving files between the person's machine and a host, over the session.

`upload_tree` sends a working tree as a snapshot (``tether run --sync``);
`pull_outputs` brings a job's files back (``tether pull``, the app's ``p``).
Both report a `Progress` through an ``on_progress`` callback on the event loop,
and do their file IO in worker threads. No Textual here.
"""

from __future__ import annotations

from tui.sync.limits import SyncLimits, parse_file_count, parse_size
from tui.sync.progress import OnProgress, Progress
from tui.sync.pull import PullResult, default_pull_dir, pull_outputs
from tui.sync.select import Skipped, describe_skipped
from tui.sync.upload import UploadResult, upload_tree

__all__ = [
    "OnProgress",
    "Progress",
    "PullResult",
    "Skipped",
    "SyncLimits",
    "UploadResult",
    "default_pull_dir",
    "describe_skipped",
    "parse_file_count",
    "parse_size",
    "pull_outputs",
    "upload_tree",
]
