"""How two tether versions compare: the rule behind upgrade-or-refuse."""

from __future__ import annotations

import pytest

from protocol.version import is_newer


@pytest.mark.parametrize(
    ("newer", "older"),
    [
        ("0.2.0", "0.1.9"),
        ("0.10.0", "0.9.0"),
        ("1.0", "1.0rc1"),
        ("1.0rc2", "1.0rc1"),
        ("1.0.1", "1.0"),
        ("v2.0.0", "1.99"),
    ],
)
def test_later_releases_are_newer(newer: str, older: str) -> None:
    assert is_newer(newer, older)
    assert not is_newer(older, newer)


@pytest.mark.parametrize(("a", "b"), [("1.0", "1.0.0"), ("0.1.0+g1234", "0.1.0"), ("2", "2.0")])
def test_two_builds_of_one_release_are_neither_newer(a: str, b: str) -> None:
    assert not is_newer(a, b) and not is_newer(b, a)
