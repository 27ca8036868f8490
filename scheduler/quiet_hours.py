"""Quiet hours: no care or marketing message reaches a customer at night in *their* time zone.

The sender asks ``next_allowed`` before it sends, and defers the message to the answer when it
is later than now. The quiet period is wall-clock time ("21:00-09:00" ends at nine in the
morning also on the night the clocks change), so it is worked out in the zone, not by adding
hours in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def parse_quiet(quiet: str) -> tuple[time, time] | None:
    """``"HH:MM-HH:MM"`` as (start, end); None for ``""`` or an empty range (start equals end)."""
    if not quiet.strip():
        return None
    first, last = (part.strip() for part in quiet.split("-", 1))
    start, end = time.fromisoformat(first), time.fromisoformat(last)
    return None if start == end else (start, end)


def next_allowed(moment: datetime, quiet: str, zone: ZoneInfo) -> datetime:
    """``moment`` (in UTC) when it is outside the quiet hours in ``zone``, else when they end (in UTC)."""
    if moment.tzinfo is None:
        raise ValueError("moment must be an aware datetime")
    moment = moment.astimezone(UTC)
    bounds = parse_quiet(quiet)
    if bounds is None:
        return moment
    today = moment.astimezone(zone).date()
    # The period that began yesterday evening may still run (21:00-09:00 at 03:00), or today's.
    for first_day in (today - timedelta(days=1), today):
        begin, end = _period(first_day, bounds, zone)
        if begin <= moment < end:
            return end
    return moment


def _period(first_day: date, bounds: tuple[time, time], zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The quiet period that starts on ``first_day``, as UTC instants."""
    start, end = bounds
    last_day = first_day if start < end else first_day + timedelta(days=1)
    return _instant(first_day, start, zone), _instant(last_day, end, zone)


def _instant(day: date, clock: time, zone: ZoneInfo) -> datetime:
    """A wall-clock time in the zone as a UTC instant.

    A time the clocks skip (02:30 when spring comes) maps past the gap, an hour that happens twice
    (autumn) to its first occurrence.
    """
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def customer_zone(customer_timezone: str | None, shop_zone: str) -> ZoneInfo:
    """The customer's IANA time zone, or the shop's when theirs is unset or not a known zone."""
    if customer_timezone:
        try:
            return ZoneInfo(customer_timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # unknown, malformed, a folder such as "Europe"
            pass
    return ZoneInfo(shop_zone)
