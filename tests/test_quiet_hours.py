"""Quiet hours are wall-clock time in the customer's zone, across midnight and clock changes."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from scheduler.quiet_hours import customer_zone, next_allowed

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def at(zone: ZoneInfo, *args: int) -> datetime:
    return datetime(*args, tzinfo=zone)


@pytest.mark.parametrize("hour", [9, 12, 20])
def test_a_moment_outside_quiet_hours_is_allowed_as_it_is(hour: int) -> None:
    moment = at(SHANGHAI, 2027, 9, 15, hour, 0)
    assert next_allowed(moment, "21:00-09:00", SHANGHAI) == moment
    assert next_allowed(moment, "21:00-09:00", SHANGHAI).tzinfo == UTC


@pytest.mark.parametrize(
    "local",
    [(2027, 9, 15, 21, 0), (2027, 9, 15, 23, 30), (2027, 9, 16, 0, 0), (2027, 9, 16, 3, 0), (2027, 9, 16, 8, 59)],
)
def test_a_moment_in_overnight_quiet_hours_waits_for_the_morning(local: tuple[int, ...]) -> None:
    allowed = next_allowed(at(SHANGHAI, *local), "21:00-09:00", SHANGHAI)
    assert allowed == at(SHANGHAI, 2027, 9, 16, 9, 0)
    assert allowed.tzinfo == UTC and allowed.hour == 1


def test_quiet_hours_are_the_customers_not_the_shops() -> None:
    moment = at(SHANGHAI, 2027, 9, 15, 15, 0)  # afternoon in Shanghai, 09:00 in Berlin (summer)
    assert next_allowed(moment, "21:00-09:00", BERLIN) == moment
    early = at(SHANGHAI, 2027, 9, 15, 14, 0)  # 08:00 in Berlin
    assert next_allowed(early, "21:00-09:00", BERLIN) == at(BERLIN, 2027, 9, 15, 9, 0)


def test_a_same_day_range_defers_to_its_end_and_only_within_it() -> None:
    assert next_allowed(at(SHANGHAI, 2027, 9, 15, 12, 30), "12:00-14:00", SHANGHAI) == at(SHANGHAI, 2027, 9, 15, 14, 0)
    for hour in (11, 14, 23, 2):
        moment = at(SHANGHAI, 2027, 9, 15, hour, 0)
        assert next_allowed(moment, "12:00-14:00", SHANGHAI) == moment


def test_no_quiet_hours_when_the_setting_is_empty() -> None:
    moment = at(SHANGHAI, 2027, 9, 15, 3, 0)
    assert next_allowed(moment, "", SHANGHAI) == moment


def test_the_night_clocks_go_forward_still_ends_at_nine_local_time() -> None:
    """Berlin, 28-29 March 2026: the night is an hour shorter, 09:00 is 07:00 UTC, not 08:00."""
    allowed = next_allowed(at(BERLIN, 2026, 3, 28, 22, 0), "21:00-09:00", BERLIN)
    assert allowed == datetime(2026, 3, 29, 7, 0, tzinfo=UTC)
    assert allowed.astimezone(BERLIN).hour == 9


def test_the_night_clocks_go_back_still_ends_at_nine_local_time() -> None:
    """Berlin, 24-25 October 2026: the night is an hour longer, 09:00 is 08:00 UTC."""
    allowed = next_allowed(at(BERLIN, 2026, 10, 24, 23, 0), "21:00-09:00", BERLIN)
    assert allowed == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)
    in_the_repeated_hour = datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # 02:30 CET, the second time
    assert next_allowed(in_the_repeated_hour, "21:00-09:00", BERLIN) == datetime(2026, 10, 25, 8, 0, tzinfo=UTC)


def test_quiet_hours_ending_in_the_skipped_hour_end_after_the_gap() -> None:
    """01:00-02:30 on the night 02:00-03:00 does not exist: quiet ends at 03:30 summer time."""
    allowed = next_allowed(datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "01:00-02:30", BERLIN)  # 01:30 CET
    assert allowed == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert next_allowed(allowed, "01:00-02:30", BERLIN) == allowed


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError):
        next_allowed(datetime(2027, 9, 15, 3, 0), "21:00-09:00", SHANGHAI)


def test_the_customers_zone_is_used_when_it_is_known() -> None:
    assert customer_zone("Europe/Berlin", "Asia/Shanghai") == BERLIN


@pytest.mark.parametrize("unknown", [None, "", "Mars/Olympus", "Europe", "../etc/passwd"])
def test_an_unset_or_unknown_customer_zone_falls_back_to_the_shops(unknown: str | None) -> None:
    assert customer_zone(unknown, "Asia/Shanghai") == SHANGHAI
