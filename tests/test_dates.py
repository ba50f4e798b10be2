"""Partial dates: every written form, what each can mean, and what is refused."""

from __future__ import annotations

from datetime import date

import pytest

from atmptrack.dates import PartialDate


@pytest.mark.parametrize(
    ("text", "year", "month", "day", "precision"),
    [
        ("2025", 2025, None, None, "year"),
        ("2025-03", 2025, 3, None, "month"),
        ("2025-03-24", 2025, 3, 24, "day"),
        ("--06", None, 6, None, "month"),
        ("--06-10", None, 6, 10, "month-day"),
        ("0001", 1, None, None, "year"),
        ("9999-12-31", 9999, 12, 31, "day"),
    ],
)
def test_every_written_form_parses_with_its_precision(
    text: str, year: int | None, month: int | None, day: int | None, precision: str
) -> None:
    parsed = PartialDate.parse(text)
    assert (parsed.year, parsed.month, parsed.day) == (year, month, day)
    assert parsed.precision == precision
    assert str(parsed) == text


def test_surrounding_spaces_are_ignored() -> None:
    assert PartialDate.parse(" 2025-03 ") == PartialDate(2025, 3)
    assert PartialDate.parse("2025\n") == PartialDate(2025)


@pytest.mark.parametrize(
    ("text", "earliest", "latest"),
    [
        ("2025", date(2025, 1, 1), date(2025, 12, 31)),
        ("2025-02", date(2025, 2, 1), date(2025, 2, 28)),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29)),
        ("2025-04", date(2025, 4, 1), date(2025, 4, 30)),
        ("2025-03-24", date(2025, 3, 24), date(2025, 3, 24)),
        ("0001", date(1, 1, 1), date(1, 12, 31)),
        ("9999", date(9999, 1, 1), date(9999, 12, 31)),
        ("9999-12-31", date(9999, 12, 31), date(9999, 12, 31)),
    ],
)
def test_earliest_and_latest_days(text: str, earliest: date, latest: date) -> None:
    parsed = PartialDate.parse(text)
    assert parsed.earliest() == earliest
    assert parsed.latest() == latest


@pytest.mark.parametrize("text", ["--06", "--06-10", "--02-29"])
def test_without_a_year_no_day_is_known(text: str) -> None:
    parsed = PartialDate.parse(text)
    assert parsed.earliest() is None
    assert parsed.latest() is None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("2025-03", "2025-03"),
        ("2025", "2025"),
        ("--06-10", "10 June, year unknown"),
        ("--06", "June, year unknown"),
    ],
)
def test_describe_says_what_is_known(text: str, words: str) -> None:
    assert PartialDate.parse(text).describe() == words


@pytest.mark.parametrize("text", ["2024-02-29", "2000-02-29", "--02-29"])
def test_leap_days_exist_in_leap_years_and_when_the_year_is_unknown(text: str) -> None:
    assert PartialDate.parse(text).day == 29


@pytest.mark.parametrize("text", ["2025-02-29", "1900-02-29", "2100-02-29"])
def test_leap_days_do_not_exist_in_other_years(text: str) -> None:
    with pytest.raises(ValueError, match="day 29 does not exist in that month"):
        PartialDate.parse(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("0000", "year 0 does not exist"),
        ("2025-00", "month 0 is not between 01 and 12"),
        ("2025-13", "month 13 is not between 01 and 12"),
        ("--13", "month 13 is not between 01 and 12"),
        ("2025-04-31", "day 31 does not exist"),
        ("2025-01-00", "day 0 does not exist"),
        ("2025-12-32", "day 32 does not exist"),
        ("--02-30", "day 30 does not exist"),
    ],
)
def test_impossible_dates_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        PartialDate.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "25",
        "20250",
        "10000-01-01",
        "2025-3",
        "2025-03-5",
        "2025/03/24",
        "24.03.2025",
        "2025-03-24T10:00",
        "+2025",
        "-2025",
        "2025-",
        "--",
        "--6",
        "---06",
        "2025\nx",
        "2025-03\n-24",
        "march 2025",
    ],
)
def test_malformed_dates_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a partial date; write YYYY"):
        PartialDate.parse(text)


@pytest.mark.parametrize(
    "text",
    [
        "٢٠٢٥",  # Arabic-Indic
        "۲۰۲۵-۰۳",  # extended Arabic-Indic (Persian)
        "２０２５-０３-２４",  # fullwidth
        "२०२५",  # Devanagari
        "2025-٠٣",  # one part only
        "--٠٦-١٠",
    ],
)
def test_only_ascii_digits_are_read(text: str) -> None:
    # int() would read every one of these: the pattern must not let them through.
    with pytest.raises(ValueError, match="use the ASCII digits 0-9"):
        PartialDate.parse(text)


def test_the_message_for_ascii_mistakes_does_not_mention_digits() -> None:
    with pytest.raises(ValueError) as caught:
        PartialDate.parse("2025/03")
    assert "ASCII" not in str(caught.value)


def test_dates_compare_by_value() -> None:
    assert PartialDate.parse("2025-03") == PartialDate(2025, 3, None)
    assert PartialDate.parse("2025-03") != PartialDate.parse("2025-03-01")
    assert len({PartialDate.parse("2025"), PartialDate(2025)}) == 1


def test_messages_stay_on_one_line() -> None:
    with pytest.raises(ValueError) as caught:
        PartialDate.parse("2025\n-03")
    assert "\n" not in str(caught.value)
    assert "'2025\\n-03'" in str(caught.value)
