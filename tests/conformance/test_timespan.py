"""Time spans against ``systemd-analyze timespan``: the same microseconds, the same rendering.

For each corpus entry the real tool prints ``μs: N`` and ``Human: text`` or fails with
"Failed to parse time span"; bootup must accept exactly the same inputs, to the same value,
and :func:`format_timespan` must print the same text.
"""

from __future__ import annotations

import subprocess

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import support
from bootup.units.values import (
    USEC_INFINITY,
    UnitValueError,
    format_timespan,
    parse_timespan,
)

CORPUS = [
    "90",
    "1min 30s",
    "5m",
    "2h30min",
    "infinity",
    " infinity",
    "infinity ",
    "infinityx",
    "1.5s",
    "0",
    "1.5h",
    "5ms",
    "1us",
    "2weeks",
    "1y 1month",
    "0.000001",
    "1.0000001s",
    "+5",
    " 5 6 ",
    "12.34s.56",
    "12.34 .56",
    "1.2.3",
    "3.sec",
    "1.",
    ".5s",
    "5x",
    "bogus",
    "",
    " ",
    "-0",
    "-5",
    "+-5",
    "1e3",
    "0x10",
    "1 2 3",
    "5 min",
    "5min5s",
    "5se",
    "1h1h",
    "1M",
    "1.5M",
    "1month",
    "1 month 2 weeks",
    "1msec",
    "1 msec",
    "100ms",
    "1.001ms",
    "0.5ms",
    "0.1us",
    "10\u03bcs",
    "10\u00b5s",
    "1w",
    "2 w 3 d",
    "1d",
    "1.5d",
    "7d 1h",
    "36h",
    "400d",
    "1hr",
    "1 hours",
    "1y",
    "1years",
    "5sec",
    "5 seconds",
    "5second",
    "1minute",
    "2minutes",
    "3min 1.5s",
    "1.123456789s",
    "59.999999s",
    "60s",
    "61.5s",
    "3600.5s",
    "1.5",
    "18446744073709551615",
    "9223372036854775807us",
    "9223372036854775808",
    "584554y",
    "584555y",
]


def real_timespan(tool: str, text: str) -> tuple[int, str] | None:
    proc = subprocess.run(
        [tool, "timespan", "--", text], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        assert "Failed to parse time span" in proc.stderr
        return None
    fields = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in proc.stdout.splitlines() if line)
    }
    return int(fields["\u03bcs"]), fields["Human"]


@pytest.mark.parametrize("text", CORPUS, ids=repr)
def test_timespan_matches_systemd_analyze(text: str) -> None:
    tool = support.require_tool("systemd-analyze", package="systemd")
    expected = real_timespan(tool, text)
    try:
        usec = parse_timespan(text)
    except UnitValueError:
        ours = None
    else:
        ours = (usec, format_timespan(usec))
    assert ours == expected


def test_values_of_interest() -> None:
    assert parse_timespan("90") == 90_000_000
    assert parse_timespan("1min 30s") == 90_000_000
    assert parse_timespan("1.5h") == 5_400_000_000
    assert parse_timespan("infinity") == USEC_INFINITY
    assert parse_timespan("5", default_unit=1000) == 5000
    assert format_timespan(90_000_000) == "1min 30s"
    assert format_timespan(1_500_000) == "1.500000s"
    assert format_timespan(1_500_000, accuracy=1000) == "1.500s"
    assert format_timespan(100_000, accuracy=1000) == "100ms"


def test_error_fields() -> None:
    with pytest.raises(UnitValueError) as info:
        parse_timespan("5x")
    assert info.value.value == "5x"
    assert "time span" in info.value.expected
    with pytest.raises(ValueError, match="invalid value") as negative:
        parse_timespan("-5")
    assert isinstance(negative.value, UnitValueError)
    assert negative.value.errno_text == "Numerical result out of range"


@settings(max_examples=500, deadline=None)
@given(st.integers(min_value=0, max_value=2**63))
def test_format_then_parse_round_trips(usec: int) -> None:
    # Near UINT64_MAX systemd cannot parse its own output ("584542y" is out of range), so
    # the property holds below 2**63 us (292,000 years), as in systemd.
    assert parse_timespan(format_timespan(usec)) == usec


def test_random_values_render_like_systemd_analyze() -> None:
    tool = support.require_tool("systemd-analyze", package="systemd")
    values = [1, 999, 1_000, 1_001, 59_999_999, 60_000_001, 86_400_000_000, 123_456_789_012_345]
    args = [f"{v}us" for v in values]
    proc = subprocess.run(
        [tool, "timespan", "--", *args], capture_output=True, text=True, check=True
    )
    humans = [
        line.split(":", 1)[1].strip()
        for line in proc.stdout.splitlines()
        if line.strip().startswith("Human:")
    ]
    assert humans == [format_timespan(v) for v in values]


def test_random_spans_match_systemd_analyze() -> None:
    """Seeded random spans built from the grammar's pieces, valid and invalid alike."""
    import random

    tool = support.require_tool("systemd-analyze", package="systemd")
    rng = random.Random(252)
    numbers = ["0", "1", "7", "59", "60", "90", "1.5", ".5", "1.", "0.001", "+3", "12345678"]
    units = ["", "s", "sec", "ms", "us", "m", "min", "h", "hr", "d", "w", "M", "y", "x", "s."]
    gaps = ["", " ", "  ", "\t"]
    spans = []
    for _ in range(60):
        parts = [
            rng.choice(numbers) + rng.choice(gaps[:2]) + rng.choice(units)
            for _ in range(rng.randint(1, 3))
        ]
        spans.append(rng.choice(gaps) + rng.choice(gaps[1:]).join(parts) + rng.choice(gaps))
    for text in spans:
        expected = real_timespan(tool, text)
        try:
            usec = parse_timespan(text)
        except UnitValueError:
            ours = None
        else:
            ours = (usec, format_timespan(usec))
        assert ours == expected, repr(text)
