"""Job references that carry their host: ``tether logs gpu2:14``.

A job id is only unique on its host, so where several hosts are in play (the
placement of ``tether run -H a,b,c`` prints ``gpu2:14``, ``ls -H @all`` has a
HOST column) the reference a person copies names both. Every verb that takes a
job accepts ``HOST:ID`` wherever it accepts ``ID``: the host part stands for
``-H HOST``. The host is everything before the last colon, so ``gpu:2222:14``
is job 14 on ``gpu:2222``; ``gpu2::6006`` is port 6006 of gpu2 (for ``forward``)
and a bare ``:6006`` names no host.
"""

from __future__ import annotations

import argparse
from typing import List, Optional, Tuple

from tui.errors import UsageError

#: The arguments that hold job references, by the name argparse gives them.
_SINGLE = ("job", "target")
_MANY = ("jobs",)


def split_ref(text: str) -> Tuple[Optional[str], str]:
    """(host, what is left) of ``HOST:ID``; (None, text) for a plain ``ID``."""
    host, colon, rest = text.strip().rpartition(":")
    if not colon or not host or not rest.strip().isdigit():
        return None, text
    if host.endswith(":"):  # HOST::PORT, a port of that host (forward)
        return host[:-1], f":{rest.strip()}"
    return host, rest.strip()


def host_from_refs(args: argparse.Namespace, flag_host: Optional[str]) -> Optional[str]:
    """The host the job references in `args` name (each rewritten to its bare id),
    or `flag_host` when they name none; `UsageError` when they name two hosts, or
    one that ``-H`` contradicts."""
    named: List[Tuple[str, str]] = []  # (reference as typed, host)
    for field in _SINGLE:
        text = getattr(args, field, None)
        if isinstance(text, str):
            host, rest = split_ref(text)
            if host is not None:
                named.append((text, host))
                setattr(args, field, rest)
    for field in _MANY:
        texts = getattr(args, field, None)
        if isinstance(texts, list):
            bare = []
            for text in texts:
                host, rest = split_ref(text)
                if host is not None:
                    named.append((text, host))
                bare.append(rest)
            setattr(args, field, bare)
    hosts = {host for _, host in named}
    if len(hosts) > 1:
        raise UsageError(
            f"{' and '.join(ref for ref, _ in named)} are on different hosts: "
            "one command acts on one host"
        )
    if not hosts:
        return flag_host
    ref, host = named[0]
    flag = (flag_host or "").strip()
    if flag and flag != host:
        raise UsageError(f"{ref} is on {host}, but -H says {flag}: give one of the two")
    return host


def job_number(text: str) -> int:
    """A job id as typed (the host part already taken by `host_from_refs`)."""
    if not text.strip().isdigit() or int(text) < 1:
        raise UsageError(f"a job is named by its id, like 3 (or HOST:3), not {text!r}")
    return int(text)
