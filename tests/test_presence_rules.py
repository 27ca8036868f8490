"""The presence rules on their own (ticketing/presence.py): when an agent is online, away or
offline, from what they said, when they last wrote, and their hours."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.config import DeskSettings, Settings, TelegramSettings
from bot.core.crypto import blind_index
from ticketing.business_hours import BusinessCalendar
from ticketing.models import Agent
from ticketing.presence import Desk, Presence, agent_calendar

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
SHOP = BusinessCalendar()
SUPERVISOR = 900_001


def desk(**desk_settings: object) -> Desk:
    settings = Settings(desk=DeskSettings(**desk_settings), telegram=TelegramSettings(supervisors=[SUPERVISOR]))
    return Desk.from_settings(settings, SHOP)


def agent(username: str = "wang", telegram_id: int = 1, **fields: object) -> Agent:
    return Agent(telegram_id=telegram_id, name=username, username_hash=blind_index("username", username), active=True, **fields)


def test_an_agent_who_wrote_lately_is_online_then_away_when_idle_and_offline_before_their_first_message() -> None:
    rules = desk(idle_minutes=15)
    assert rules.status(agent(), MONDAY_10) is Presence.OFFLINE  # never wrote
    assert rules.status(agent(last_seen=MONDAY_10), MONDAY_10 + timedelta(minutes=14)) is Presence.ONLINE
    assert rules.status(agent(last_seen=MONDAY_10), MONDAY_10 + timedelta(minutes=15)) is Presence.AWAY
    yesterday = agent(last_seen=MONDAY_10 - timedelta(days=1, hours=-7))  # Sunday 17:00
    assert rules.status(yesterday, MONDAY_10) is Presence.OFFLINE  # not yet at work today


def test_away_and_offline_hold_for_the_day_only() -> None:
    rules = desk()
    said_away = agent(presence="away", presence_at=MONDAY_10, last_seen=MONDAY_10 + timedelta(minutes=5))
    assert rules.status(said_away, MONDAY_10 + timedelta(minutes=6)) is Presence.AWAY
    tuesday = MONDAY_10 + timedelta(days=1)
    said_off = agent(presence="offline", presence_at=MONDAY_10, last_seen=tuesday)
    assert rules.status(said_off, tuesday + timedelta(minutes=1)) is Presence.ONLINE  # wrote on the next day


def test_outside_their_hours_everyone_is_offline_and_own_hours_replace_the_shops() -> None:
    rules = desk(hours={"@li": "sat-sun 10:00-16:00"})
    evening = MONDAY_10.replace(hour=19)
    assert rules.status(agent(last_seen=evening), evening) is Presence.OFFLINE
    saturday = datetime(2026, 12, 12, 11, 0, tzinfo=SHANGHAI)
    assert rules.status(agent("li", last_seen=saturday), saturday) is Presence.ONLINE
    assert rules.status(agent("li", last_seen=MONDAY_10), MONDAY_10) is Presence.OFFLINE
    assert rules.status(agent("wang", last_seen=saturday), saturday) is Presence.OFFLINE  # the shop's hours
    assert agent_calendar("sat-mon 08:00-12:00", SHOP).workdays == frozenset({5, 6, 0})
    assert agent_calendar("12:00-21:00", SHOP).workdays == SHOP.workdays


def test_a_supervisor_takes_tickets_only_after_online() -> None:
    rules = desk()
    boss = agent("boss", telegram_id=SUPERVISOR, last_seen=MONDAY_10)
    assert rules.status(boss, MONDAY_10) is Presence.OFFLINE
    boss.presence, boss.presence_at = "online", MONDAY_10
    assert rules.status(boss, MONDAY_10) is Presence.ONLINE


def test_teams_are_matched_by_the_blind_index_of_the_username() -> None:
    rules = desk(teams={"logistics": ["@Wang", "li"]})
    assert rules.serves(agent("wang"), "logistics") and rules.serves(agent("li"), "logistics")
    assert not rules.serves(agent("zhao"), "logistics")
    assert rules.serves(agent("zhao"), "payment")  # no team: anyone
    assert rules.team_names["logistics"] == ("@Wang", "@li")
