"""The numeric settings every PUBLISHER_* number goes through (publisher.deliver.settings):
the default when unset, the bounds, and the one line naming the variable and its range."""

from __future__ import annotations

import pytest

from publisher.deliver.settings import number
from publisher.errors import PublisherError


def test_unset_or_blank_is_the_default() -> None:
    assert number({}, "PUBLISHER_X", 5, int, 1, 10) == 5
    assert number({"PUBLISHER_X": "  "}, "PUBLISHER_X", 2.5, float, 0, 10) == 2.5


def test_a_value_within_the_bounds_is_taken_bounds_included() -> None:
    assert number({"PUBLISHER_X": " 10 "}, "PUBLISHER_X", 5, int, 1, 10) == 10
    found = number({"PUBLISHER_X": "1"}, "PUBLISHER_X", 5, int, 1, 10)
    assert found == 1 and type(found) is int
    assert number({"PUBLISHER_X": "0.001"}, "PUBLISHER_X", 1.0, float, 0.001, 3600) == 0.001


@pytest.mark.parametrize(("kind", "text", "expected"), [
    (int, "0", "a whole number from 1 to 100"),
    (int, "101", "a whole number from 1 to 100"),
    (int, "1.5", "a whole number from 1 to 100"),
    (int, "lots", "a whole number from 1 to 100"),
    (float, "nan", "a number from 1 to 100"),
    (float, "inf", "a number from 1 to 100"),
    (float, "-inf", "a number from 1 to 100"),
    (float, "1e300", "a number from 1 to 100"),
])
def test_anything_else_is_one_line_naming_the_variable_and_the_range(
        kind: type, text: str, expected: str) -> None:
    with pytest.raises(PublisherError) as caught:
        number({"PUBLISHER_X": text}, "PUBLISHER_X", kind(5), kind, 1, 100)
    assert str(caught.value) == f"PUBLISHER_X is {text!r}: expected {expected}"


def test_the_unit_can_be_worded() -> None:
    with pytest.raises(PublisherError, match=r"^PUBLISHER_STORE_TIMEOUT is '-1': expected a "
                                             r"number of seconds from 0 to 999999$"):
        number({"PUBLISHER_STORE_TIMEOUT": "-1"}, "PUBLISHER_STORE_TIMEOUT", 60.0, float, 0,
               999999, unit="a number of seconds")
