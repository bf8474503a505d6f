"""Property tests of meshlab/durations.py: Istio-style durations such as 3s, 0.5s, 250ms."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import example, given, strategies as st

from meshlab.durations import ALLOWED, format_duration, parse_duration

ALLOWED_FORMS = "a number followed by one of us, ms, s, m, h"


# format_duration spells seconds with "%g", which switches to an exponent (1e-07s, 1e+06s) below
# 1e-4 s (unless a whole number of ms) and from 1e6 s up; parse_duration rejects those spellings.
# Formatting never writes an exponent, so the round trip holds from tiny to huge durations.
ROUND_TRIP = st.one_of(st.just(0.0), st.floats(min_value=1e-9, max_value=1e9))


@given(ROUND_TRIP)
@example(0.0)
@example(0.25)
@example(2.5)
@example(1e-4)
@example(0.0009999999)
@example(999_999.0)
def test_format_then_parse_round_trips(seconds):
    """Formatting a non-negative number of seconds (0, or from 0.1 ms to about 11.5 days) and parsing
    the result gives the number back, to within format_duration's six significant digits."""
    text = format_duration(seconds)
    back = parse_duration(text)
    assert back >= 0
    assert math.isclose(back, seconds, rel_tol=1e-5, abs_tol=1e-9), (seconds, text, back)


@given(st.integers(min_value=0, max_value=999))
def test_whole_milliseconds_below_one_second_use_ms(ms):
    """A whole number of milliseconds under one second is written in ms and parses back exactly."""
    text = format_duration(ms / 1000)
    assert text == ("0s" if ms == 0 else f"{ms}ms")
    assert parse_duration(text) == pytest.approx(ms / 1000)


@given(ROUND_TRIP)
def test_formatted_durations_are_plain(seconds):
    """format_duration writes a plain decimal number and a unit, never an exponent."""
    text = format_duration(seconds)
    assert text.endswith(("ms", "s"))
    assert "e" not in text


@pytest.mark.parametrize("seconds", [1e-7, 5e-5, 1e6, 123_456_789.0])
def test_round_trip_of_tiny_and_huge_durations(seconds):
    """Very small (under 0.1 ms) and very large (a million seconds or more) durations should round-trip
    too; today format_duration writes them with an exponent that parse_duration refuses."""
    assert math.isclose(parse_duration(format_duration(seconds)), seconds, rel_tol=1e-5, abs_tol=1e-9)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("3s", 3.0),
        ("0.5s", 0.5),
        (".5s", 0.5),
        ("250ms", 0.25),
        ("1m", 60.0),
        ("1h", 3600.0),
        ("10us", 1e-5),
        ("10µs", 1e-5),
        (" 2s ", 2.0),
        ("1.5 s", 1.5),
        ("0s", 0.0),
    ],
)
def test_parse_known_durations(text, seconds):
    """The forms Istio documents parse to the right number of seconds."""
    assert parse_duration(text) == pytest.approx(seconds)


@given(st.one_of(st.integers(), st.floats(allow_nan=True, allow_infinity=True)))
def test_parse_rejects_bare_numbers(value):
    """A bare number (int or float) has no unit and is rejected with a ValueError naming the allowed forms."""
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert ALLOWED_FORMS in str(info.value)
    assert "bare number" in str(info.value)


@pytest.mark.parametrize("value", [True, False])
def test_parse_rejects_bools(value):
    """true and false are not durations, even though Python counts them as numbers."""
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert ALLOWED_FORMS in str(info.value)
    assert repr(value) in str(info.value)


@pytest.mark.parametrize("value", [None, [], {}, b"3s", object()])
def test_parse_rejects_other_types(value):
    """Values that are neither strings nor numbers are rejected, naming their type."""
    with pytest.raises(ValueError) as info:
        parse_duration(value)
    assert ALLOWED_FORMS in str(info.value)
    assert type(value).__name__ in str(info.value)


# What a duration looks like; any text that is not of this shape must be rejected.
_DURATION_SHAPE = re.compile(r"\s*(\d+(\.\d+)?|\.\d+)\s*(us|µs|ms|s|m|h)\s*")


@given(st.text().filter(lambda s: _DURATION_SHAPE.fullmatch(s) is None))
@example("")
@example("3")
@example("3 sec")
@example("-1s")
@example("1e3s")
@example("1.s")
@example("3S")
@example("1h30m")
@example("infs")
@example("nans")
def test_parse_rejects_garbage_strings(text):
    """Strings that are not <number><unit> raise a ValueError that repeats the input and names the
    allowed forms."""
    with pytest.raises(ValueError) as info:
        parse_duration(text)
    assert ALLOWED_FORMS in str(info.value)
    assert repr(text) in str(info.value)


def test_allowed_text_is_what_errors_say():
    """The ALLOWED constant the loader reuses is the text in parse_duration's errors."""
    with pytest.raises(ValueError, match="for example 3s, 0.5s, 250ms"):
        parse_duration("soon")
    assert ALLOWED.startswith(ALLOWED_FORMS)
