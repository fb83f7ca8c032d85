"""Every number a person reads follows one convention, whichever side prints it."""

from __future__ import annotations

import datetime as dt

from protocol.units import duration, gib, iso_time, size


def test_sizes_are_binary_and_say_so() -> None:
    assert size(None) == "n/a"
    assert size(512) == "512 B"
    assert size(1536) == "1.5 KiB"
    assert size(12.3 * 2**20) == "12.3 MiB"
    assert size(812 * 2**20) == "812 MiB"
    assert size(1.5 * 2**30) == "1.5 GiB"
    assert size(80 * 10**9) == "74.5 GiB"  # an "80GB" card's bytes, as nvidia-smi counts them
    assert gib(85520809984) == "79.6" and gib(None) == "n/a"


def test_durations_read_like_4m58s_at_every_scale() -> None:
    assert [duration(s) for s in (-3, 0, 59.9, 298, 3600 + 7 * 60, 2 * 86400 + 5 * 3600)] == [
        "0s",
        "0s",
        "59s",
        "4m58s",
        "1h07m",
        "2d05h",
    ]


def test_times_in_json_are_iso_8601_utc() -> None:
    assert iso_time(None) is None
    text = iso_time(1700000000.4)
    assert text == "2023-11-14T22:13:20+00:00"
    assert text is not None and dt.datetime.fromisoformat(text).timestamp() == 1700000000
