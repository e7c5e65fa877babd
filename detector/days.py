"""Day arithmetic: the one place that says what a day is and how days are counted.

A day is a UTC calendar day written ``YYYY-MM-DD`` (ISO 8601), which sorts and compares as
text. Every module that shifts, parses, bounds or enumerates days calls these functions;
none of them does date arithmetic of its own. Pure: no I/O, no clock except
:func:`yesterday_utc`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pandas as pd

from detector.errors import UsageError


def parse_day(text: str, option: str) -> str:
    """``text`` as a canonical ``YYYY-MM-DD``; a :class:`UsageError` naming ``option`` if it
    is not a date."""
    try:
        return date.fromisoformat(text).isoformat()
    except (TypeError, ValueError):
        raise UsageError(f"{option} must be a date like 2026-11-21, got {text!r}") from None


def shift_day(day: str, days: int) -> str:
    """The day ``days`` after ``day`` (before it when negative)."""
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


def days_between(first: str, last: str) -> list[str]:
    """Every day from ``first`` to ``last``, both included (empty when ``first`` is after)."""
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


def day_bounds(day: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[day 00:00 UTC, day+1 00:00 UTC)``: the events a night of ``day`` scores."""
    start = pd.Timestamp(day, tz="UTC")
    return start, start + pd.Timedelta(days=1)


def yesterday_utc() -> str:
    """The nightly run's default day."""
    return (datetime.now(UTC).date() - timedelta(days=1)).isoformat()


@dataclass(frozen=True)
class DayRange:
    """Days asked for on the command line: one day, a range, or open ends (``None``).

    Built with :meth:`parse`, which validates every bound once, so commands and pipelines
    receive a range that is known to be in order.
    """

    first: str | None = None
    last: str | None = None

    @classmethod
    def parse(cls, *, day: str | None = None, first: str | None = None, last: str | None = None) -> DayRange:
        """From ``--date`` or ``--from``/``--to``; ``--date`` with either of the others, an
        unparseable bound or ``--from`` after ``--to`` is a :class:`UsageError`."""
        if day is not None:
            if first is not None or last is not None:
                raise UsageError("--date gives one day: use it without --from and --to")
            one = parse_day(day, "--date")
            return cls(one, one)
        lo = parse_day(first, "--from") if first is not None else None
        hi = parse_day(last, "--to") if last is not None else None
        if lo and hi and lo > hi:
            raise UsageError(f"--from {lo} is after --to {hi}")
        return cls(lo, hi)

    @property
    def empty(self) -> bool:
        """Neither end given."""
        return self.first is None and self.last is None

    def contains(self, day: str) -> bool:
        return (self.first is None or day >= self.first) and (self.last is None or day <= self.last)
