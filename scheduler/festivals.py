"""The greeting calendar: Chinese festivals, the shop's own dates and birthdays, for any year.

Lunar festivals move in the Gregorian calendar every year; their dates are computed offline
with ``lunar_python`` (6tail's lunar-python, an astronomical calendar that agrees with the
published Chinese calendar also in the rare years where table-based converters are a day off,
e.g. Mid-Autumn 1978 on 17 September). Nothing is hard-coded per year.
"""

from __future__ import annotations

import calendar
from datetime import date
from functools import lru_cache
from typing import Final

from lunar_python import Lunar

# Fixed-date festivals: (month, day) in the Gregorian calendar.
SOLAR: Final = {"new_year": (1, 1), "national_day": (10, 1)}
# Lunar festivals: (month, day) of the Chinese lunar year that starts in the Gregorian year.
LUNAR: Final = {
    "spring_festival": (1, 1),
    "lantern": (1, 15),
    "dragon_boat": (5, 5),
    "qixi": (7, 7),
    "mid_autumn": (8, 15),
    "double_ninth": (9, 9),
}
FESTIVALS: Final = ("new_year", "spring_festival", "lantern", "dragon_boat", "qixi", "mid_autumn", "double_ninth",
                    "national_day")


def festival_dates(year: int) -> dict[str, date]:
    """Each festival's Gregorian date in ``year``, in calendar order."""
    return dict(_festival_dates(year))


@lru_cache(maxsize=64)
def _festival_dates(year: int) -> tuple[tuple[str, date], ...]:
    dates = {name: date(year, month, day) for name, (month, day) in SOLAR.items()}
    dates |= {name: lunar_to_solar(year, month, day) for name, (month, day) in LUNAR.items()}
    return tuple(sorted(dates.items(), key=lambda item: item[1]))


def lunar_to_solar(year: int, month: int, day: int) -> date:
    """The Gregorian date of a day of a (not leap) month of the Chinese lunar year ``year``."""
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def greetings_on(day: date, shop_dates: list[dict[str, str]], wanted: list[str]) -> list[str]:
    """The greetings due on ``day``: the festivals among ``wanted``, then the shop's own dates.

    ``shop_dates`` are ``{"name": ..., "date": "MM-DD"}`` every year (the shop's anniversary).
    """
    due = [name for name, when in festival_dates(day.year).items() if name in wanted and when == day]
    due += [item["name"] for item in shop_dates if _annual(item["date"], day)]
    return due


def is_birthday(birthday: date | None, day: date) -> bool:
    """Whether ``day`` is the birthday, a 29 February one being greeted on 28 February in other years."""
    return birthday is not None and _same_day_of_year(birthday.month, birthday.day, day)


def _annual(month_day: str, day: date) -> bool:
    month, dom = (int(part) for part in month_day.split("-"))
    return _same_day_of_year(month, dom, day)


def _same_day_of_year(month: int, dom: int, day: date) -> bool:
    if (month, dom) == (2, 29) and not calendar.isleap(day.year):
        return (day.month, day.day) == (2, 28)
    return (day.month, day.day) == (month, dom)
