"""The greeting calendar: lunar festivals land on the published dates, in any year."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from scheduler.festivals import FESTIVALS, festival_dates, greetings_on, is_birthday

# Published Chinese calendar dates (the same as the `holidays` package's tables).
KNOWN = {
    2024: {"spring_festival": "02-10", "lantern": "02-24", "dragon_boat": "06-10", "qixi": "08-10",
           "mid_autumn": "09-17", "double_ninth": "10-11"},
    2025: {"spring_festival": "01-29", "lantern": "02-12", "dragon_boat": "05-31", "qixi": "08-29",
           "mid_autumn": "10-06", "double_ninth": "10-29"},
    2026: {"spring_festival": "02-17", "lantern": "03-03", "dragon_boat": "06-19", "qixi": "08-19",
           "mid_autumn": "09-25", "double_ninth": "10-18"},
    2027: {"spring_festival": "02-06", "lantern": "02-20", "dragon_boat": "06-09", "qixi": "08-08",
           "mid_autumn": "09-15", "double_ninth": "10-08"},
    2028: {"spring_festival": "01-26", "lantern": "02-09", "dragon_boat": "05-28", "qixi": "08-26",
           "mid_autumn": "10-03", "double_ninth": "10-26"},
    2030: {"spring_festival": "02-03", "mid_autumn": "09-12"},
    # A year where table-based converters put Mid-Autumn a day early.
    1978: {"spring_festival": "02-07", "mid_autumn": "09-17"},
}
ALL = list(FESTIVALS)


@pytest.mark.parametrize("year", sorted(KNOWN))
def test_lunar_festivals_fall_on_the_published_dates(year: int) -> None:
    dates = festival_dates(year)
    for name, month_day in KNOWN[year].items():
        assert dates[name] == date.fromisoformat(f"{year}-{month_day}"), name


@pytest.mark.parametrize("year", [1950, 2027, 2099])
def test_every_festival_is_given_and_fixed_ones_never_move(year: int) -> None:
    dates = festival_dates(year)
    assert set(dates) == set(FESTIVALS)
    assert dates["new_year"] == date(year, 1, 1) and dates["national_day"] == date(year, 10, 1)
    assert all(day.year == year for day in dates.values())


def test_lunar_festivals_keep_their_order_and_season_every_year() -> None:
    for year in range(1950, 2100):
        d = festival_dates(year)
        assert date(year, 1, 21) <= d["spring_festival"] <= date(year, 2, 20), year
        assert d["lantern"] == d["spring_festival"] + timedelta(days=14), year
        assert d["spring_festival"] < d["dragon_boat"] < d["qixi"] < d["mid_autumn"] < d["double_ninth"], year
        assert date(year, 9, 7) <= d["mid_autumn"] <= date(year, 10, 8), year


def test_the_festivals_of_a_day_are_those_wanted() -> None:
    assert greetings_on(date(2027, 9, 15), [], ALL) == ["mid_autumn"]
    assert greetings_on(date(2027, 9, 15), [], ["spring_festival", "birthday"]) == []
    assert greetings_on(date(2027, 9, 16), [], ALL) == []
    assert greetings_on(date(2027, 2, 6), [], ALL) == ["spring_festival"]


def test_the_shops_own_dates_are_greeted_every_year() -> None:
    shop = [{"name": "anniversary", "date": "06-18"}, {"name": "double_eleven", "date": "11-11"}]
    assert greetings_on(date(2027, 6, 18), shop, ALL) == ["anniversary"]
    assert greetings_on(date(2031, 11, 11), shop, []) == ["double_eleven"]
    assert greetings_on(date(2027, 10, 1), [{"name": "founding", "date": "10-01"}], ALL) == ["national_day", "founding"]


def test_a_birthday_is_greeted_on_its_day_every_year() -> None:
    born = date(1990, 9, 15)
    assert is_birthday(born, date(2027, 9, 15))
    assert not is_birthday(born, date(2027, 9, 16))
    assert not is_birthday(None, date(2027, 9, 15))


def test_a_29_february_birthday_is_greeted_on_28_february_in_other_years() -> None:
    leapling = date(2000, 2, 29)
    assert is_birthday(leapling, date(2027, 2, 28))
    assert not is_birthday(leapling, date(2027, 3, 1))
    assert is_birthday(leapling, date(2028, 2, 29))
    assert not is_birthday(leapling, date(2028, 2, 28))
    assert greetings_on(date(2027, 2, 28), [{"name": "leap_sale", "date": "02-29"}], []) == ["leap_sale"]
