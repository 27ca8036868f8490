"""Business hours: SLA clocks run only while the shop is open.

A :class:`BusinessCalendar` knows the shop's time zone, its opening hours and which days are
working days — weekdays, minus public holidays, plus the weekend days a holiday's make-up
schedule turns into working days (调休), both from the maintained ``holidays`` library.
All inputs and outputs are aware datetimes; arithmetic happens in the shop's local time.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

import holidays

_MAX_DAYS = 3 * 366  # no SLA reaches further; guards against a calendar with no working day


@dataclass(frozen=True)
class BusinessCalendar:
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    opens: time = time(9, 0)
    closes: time = time(18, 0)
    workdays: frozenset[int] = frozenset({0, 1, 2, 3, 4})  # Monday = 0
    country: str | None = "CN"  # public holidays and make-up working days; None for none

    @cached_property
    def _holidays(self) -> holidays.HolidayBase | None:
        if self.country is None:
            return None
        return holidays.country_holidays(self.country)

    def is_working_day(self, day: date) -> bool:
        if self._holidays is None:
            return day.weekday() in self.workdays
        if day in self._holidays:
            return False
        if day in self._holidays.weekend_workdays:  # a Saturday or Sunday worked to make up for a holiday
            return True
        return day.weekday() in self.workdays

    def _window(self, day: date) -> tuple[datetime, datetime] | None:
        if not self.is_working_day(day):
            return None
        return (
            datetime.combine(day, self.opens, self.timezone),
            datetime.combine(day, self.closes, self.timezone),
        )

    def is_open(self, moment: datetime) -> bool:
        """Whether ``moment`` falls within opening hours on a working day."""
        local = moment.astimezone(self.timezone)
        window = self._window(local.date())
        return window is not None and window[0] <= local < window[1]

    def opened(self, moment: datetime) -> datetime:
        """When the day of ``moment`` opens (its opening time, local), whether or not it is a working day."""
        local = moment.astimezone(self.timezone)
        return datetime.combine(local.date(), self.opens, self.timezone)

    def add(self, start: datetime, duration: timedelta) -> datetime:
        """The moment ``duration`` of business time after ``start``."""
        remaining = duration
        moment = start.astimezone(self.timezone)
        day = moment.date()
        for _ in range(_MAX_DAYS):
            window = self._window(day)
            if window is not None:
                begin = max(window[0], moment)
                if begin < window[1]:
                    available = window[1] - begin
                    if remaining <= available:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= available
            day += timedelta(days=1)
        raise ValueError("no working day within three years: check the business calendar")

    def between(self, start: datetime, end: datetime) -> timedelta:
        """Business time from ``start`` to ``end`` (zero if end is not after start)."""
        if end <= start:
            return timedelta(0)
        total = timedelta(0)
        first = start.astimezone(self.timezone)
        last = end.astimezone(self.timezone)
        day = first.date()
        while day <= last.date():
            window = self._window(day)
            if window is not None:
                begin, finish = max(window[0], first), min(window[1], last)
                if finish > begin:
                    total += finish - begin
            day += timedelta(days=1)
        return total
