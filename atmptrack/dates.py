"""Partial dates: a year, a year and month, a full date, or a month (and day) with the year unknown."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import date

from atmptrack.vocab import quote

# ISO 8601 forms, plus the truncated `--MM` and `--MM-DD` for dates whose year no source states.
# [0-9], not \d: \d and int() also take Arabic-Indic, fullwidth and other Unicode digits, which
# would let `٢٠٢٤` pass as 2024 in the data while every other tool sees no date. The pattern is
# used with fullmatch, since `$` also matches before a trailing newline.
_PATTERN = re.compile(
    r"(?:(?P<year>[0-9]{4})(?:-(?P<month>[0-9]{2})(?:-(?P<day>[0-9]{2}))?)?"
    r"|--(?P<m2>[0-9]{2})(?:-(?P<d2>[0-9]{2}))?)"
)


@dataclass(frozen=True, slots=True, order=False)
class PartialDate:
    year: int | None
    month: int | None = None
    day: int | None = None

    @classmethod
    def parse(cls, text: str) -> PartialDate:
        """Parse the written form; raise ValueError saying what is wrong."""
        match = _PATTERN.fullmatch(text.strip())
        if not match:
            digits = "use the ASCII digits 0-9 and " if _foreign_digit(text) else ""
            raise ValueError(
                f"{quote(text)} is not a partial date; {digits}write YYYY, YYYY-MM, YYYY-MM-DD, "
                "or --MM / --MM-DD when the year is unknown"
            )
        year_text = match["year"]
        month_text = match["month"] or match["m2"]
        day_text = match["day"] or match["d2"]
        year = int(year_text) if year_text else None
        month = int(month_text) if month_text else None
        day = int(day_text) if day_text else None
        if year is not None and year < 1:
            raise ValueError(f"{quote(text)}: year 0 does not exist")
        if month is not None and not 1 <= month <= 12:
            raise ValueError(f"{quote(text)}: month {month} is not between 01 and 12")
        if day is not None and month is not None:
            # Without a year, 29 February stays possible.
            last = calendar.monthrange(year if year is not None else 2000, month)[1]
            if not 1 <= day <= last:
                raise ValueError(f"{quote(text)}: day {day} does not exist in that month")
        return cls(year, month, day)

    def __str__(self) -> str:
        if self.year is None:
            return f"--{self.month:02d}" + (f"-{self.day:02d}" if self.day else "")
        text = f"{self.year:04d}"
        if self.month is not None:
            text += f"-{self.month:02d}"
            if self.day is not None:
                text += f"-{self.day:02d}"
        return text

    @property
    def precision(self) -> str:
        if self.year is None:
            return "month-day" if self.day else "month"
        if self.day is not None:
            return "day"
        return "month" if self.month is not None else "year"

    def earliest(self) -> date | None:
        """First day the date can mean, or None when the year is unknown."""
        if self.year is None:
            return None
        return date(self.year, self.month or 1, self.day or 1)

    def latest(self) -> date | None:
        """Last day the date can mean, or None when the year is unknown."""
        if self.year is None:
            return None
        month = self.month or 12
        return date(self.year, month, self.day or calendar.monthrange(self.year, month)[1])

    def describe(self) -> str:
        """What is known, in words, for people: `2025-03`, `2025`, `10 June, year unknown`."""
        if self.year is not None:
            return str(self)
        name = calendar.month_name[self.month or 1]
        return f"{self.day} {name}, year unknown" if self.day else f"{name}, year unknown"


def _foreign_digit(text: str) -> bool:
    """Whether text holds a digit other than 0-9 (`٢`, `２`), to say why it is no date."""
    return any(c.isdigit() and not c.isascii() for c in text)
