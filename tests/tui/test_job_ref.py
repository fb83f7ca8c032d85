"""``HOST:ID`` job references, as every verb reads them, with what a person
might type wrong: two hosts in one command, a host that -H contradicts."""

from __future__ import annotations

import argparse

import pytest

from tui.cli.job_ref import host_from_refs, job_number, split_ref
from tui.errors import UsageError


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14", (None, "14")),
        ("gpu2:14", ("gpu2", "14")),
        ("gpu:2222:14", ("gpu:2222", "14")),  # a host:port, as -H takes it
        ("alice@box:7", ("alice@box", "7")),
        ("gpu2::6006", ("gpu2", ":6006")),  # a port of that host (forward)
        (":6006", (None, ":6006")),  # a port, no host
        ("gpu2:", (None, "gpu2:")),
        ("gpu2:x", (None, "gpu2:x")),
    ],
)
def test_a_reference_splits_into_its_host_and_id(
    text: str, expected: tuple[str | None, str]
) -> None:
    assert split_ref(text) == expected


def test_the_host_of_the_references_stands_for_dash_h_and_they_become_ids() -> None:
    args = argparse.Namespace(job="gpu2:14", jobs=None)
    assert host_from_refs(args, None) == "gpu2"
    assert args.job == "14"
    many = argparse.Namespace(jobs=["gpu2:3", "4", "gpu2:5"])
    assert host_from_refs(many, "gpu2") == "gpu2"  # -H agrees
    assert many.jobs == ["3", "4", "5"]
    plain = argparse.Namespace(job="7")
    assert host_from_refs(plain, "box") == "box" and plain.job == "7"
    assert host_from_refs(argparse.Namespace(job=None), None) is None


def test_references_to_two_hosts_or_against_dash_h_are_refused() -> None:
    with pytest.raises(UsageError, match="gpu1:3 and gpu2:4 are on different hosts"):
        host_from_refs(argparse.Namespace(jobs=["gpu1:3", "gpu2:4"]), None)
    with pytest.raises(UsageError, match="gpu2:14 is on gpu2, but -H says gpu1: give one"):
        host_from_refs(argparse.Namespace(job="gpu2:14"), "gpu1")


@pytest.mark.parametrize("text", ["0", "-3", "x", "gpu2:x", ""])
def test_a_job_that_is_not_an_id_is_named_in_the_error(text: str) -> None:
    with pytest.raises(UsageError, match="a job is named by its id, like 3 \\(or HOST:3\\)"):
        job_number(text)
