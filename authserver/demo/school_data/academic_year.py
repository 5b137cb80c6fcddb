"""Dates of the academic year being seeded: its start, today, and the register window."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _london() -> dt.tzinfo:
    try:
        return ZoneInfo("Europe/London")
    except ZoneInfoNotFoundError:  # pragma: no cover - no tz database: times shift in summer
        return dt.UTC


LONDON = _london()
TERMS = (("Autumn", 9, 12), ("Spring", 1, 3), ("Summer", 4, 8))


def local_time(day: dt.date, time: dt.time) -> dt.datetime:
    """A school's wall-clock time on a day, in UTC."""
    return dt.datetime.combine(day, time, tzinfo=LONDON).astimezone(dt.UTC)


def next_school_day(day: dt.date) -> dt.date:
    """The day itself if it is a weekday, else the Monday after."""
    return day + dt.timedelta(days=max(0, 7 - day.weekday()) if day.weekday() > 4 else 0)


@dataclass(frozen=True)
class AcademicYear:
    """The academic year containing `today`, and the weekdays of the attendance window."""

    today: dt.date
    start: dt.date
    days: tuple[dt.date, ...]

    @classmethod
    def of(cls, today: dt.date, *, weeks: int) -> AcademicYear:
        """The year around `today`, with registers for the `weeks` before it."""
        start = dt.date(today.year if today.month >= 9 else today.year - 1, 9, 1)
        first = today - dt.timedelta(days=7 * weeks)
        days = tuple(
            first + dt.timedelta(days=n)
            for n in range((today - first).days)
            if (first + dt.timedelta(days=n)).weekday() < 5
        )
        return cls(today=today, start=start, days=days)

    @property
    def year(self) -> int:
        """The calendar year the academic year starts in."""
        return self.start.year

    @property
    def term(self) -> str:
        """The name of today's term."""
        return next(name for name, first, last in TERMS if first <= self.today.month <= last)

    def day_before_today(self, days_back: int) -> dt.date:
        """The date `days_back` days before today."""
        return self.today - dt.timedelta(days=days_back)

    def recent_day(self, rng: random.Random) -> dt.date:
        """A school day in the attendance window, or a recent weekday without one."""
        if self.days:
            return rng.choice(self.days)
        day = self.today - dt.timedelta(days=rng.randint(1, 28))
        return day - dt.timedelta(days=max(0, day.weekday() - 4))
