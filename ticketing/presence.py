"""Who is at the desk: agents' presence, their hours and their teams.

Automatic assignment (ticketing/assignment.py) gives tickets to agents who are *online*, so
presence is a rule everyone must be able to predict, and it is stored, not remembered by one
process: every process of a fleet reads the same ``agent`` rows.

- An agent is **online** from their first message (or ``/online``) in the agent group within
  their hours, and stays so while they keep writing; **away** after ``[desk] idle_minutes``
  without a message; **offline** outside their hours, and before their first message of the day.
- ``/away`` and ``/offline`` hold for the rest of that (shop-local) day, until ``/online``: a
  note written meanwhile does not bring tickets. The next day the agent's first message makes
  them online again, so an agent who never uses the commands is online while they work.
- Supervisors (``[telegram] supervisors``) are in the rotation only after ``/online``: an /assign
  or a /report of theirs does not make them an agent taking tickets.
- An agent's hours are the shop's (``[tickets] business_hours`` and ``workdays``), or their own
  (``[desk.hours]``: ``"@wang" = "mon-fri 09:00-18:00"``, or ``"HH:MM-HH:MM"`` on the shop's
  workdays); public holidays are the shop's.
- Teams (``[desk.teams]``: ``logistics = ["@wang", "@li"]``) name the agents of a category by
  @username; the names are compared by their blind index, as usernames are stored encrypted.

Times are the bot's clock (tests and the sandbox move it); nothing here knows Telegram.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum

from tortoise.functions import Count

from bot.core.config import Settings
from bot.core.crypto import blind_indexes
from ticketing.business_hours import BusinessCalendar
from ticketing.models import WORKING, Agent, Ticket

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Monday = 0, as ``date.weekday()``."""


class Presence(StrEnum):
    """What an agent is now; the stored strings of what they said (``agent.presence``)."""

    ONLINE = "online"
    AWAY = "away"
    OFFLINE = "offline"


class Assignment(StrEnum):
    """``[desk] assignment``."""

    MANUAL = "manual"
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


def _days(spec: str) -> frozenset[int]:
    """``"mon-fri,sun"`` → {0, 1, 2, 3, 4, 6} (a range may wrap: ``"sat-mon"``)."""
    days: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        start, end = DAYS.index(first), DAYS.index(last or first)
        days.update(DAYS.index(DAYS[(start + i) % 7]) for i in range((end - start) % 7 + 1))
    return frozenset(days)


def agent_calendar(spec: str, shop: BusinessCalendar) -> BusinessCalendar:
    """An agent's own hours (validated by bot/core/config.py), on the shop's time zone and holidays."""
    *days, hours = spec.split()
    opens, closes = hours.split("-")
    return BusinessCalendar(
        timezone=shop.timezone, opens=time.fromisoformat(opens), closes=time.fromisoformat(closes),
        workdays=_days(days[0]) if days else shop.workdays, country=shop.country,
    )


@dataclass(frozen=True)
class Desk:
    """The desk's rules as configured: how tickets are given, to whom, and when agents work."""

    mode: Assignment = Assignment.LEAST_LOADED
    max_open: int = 5
    sticky: timedelta = timedelta(hours=72)
    idle: timedelta = timedelta(minutes=15)
    nudge: timedelta = timedelta(seconds=100)
    calendar: BusinessCalendar = field(default_factory=BusinessCalendar)
    """The shop's hours: an agent's unless they have their own."""
    hours: Mapping[str, BusinessCalendar] = field(default_factory=dict)
    """Agents' own hours, by every blind index their username may carry."""
    teams: Mapping[str, frozenset[str]] = field(default_factory=dict)
    """Category → the blind indexes of its agents' usernames."""
    team_names: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Category → its agents' @usernames, as configured (for /agents)."""
    supervisors: frozenset[int] = frozenset()

    @classmethod
    def from_settings(cls, settings: Settings, calendar: BusinessCalendar) -> Desk:
        desk = settings.desk
        hours: dict[str, BusinessCalendar] = {}
        for name, spec in desk.hours.items():
            own = agent_calendar(spec, calendar)
            hours.update(dict.fromkeys(blind_indexes("username", name.lstrip("@").strip()), own))
        teams = {
            category: frozenset(index for name in names for index in blind_indexes("username", name.lstrip("@").strip()))
            for category, names in desk.teams.items()
        }
        return cls(
            mode=Assignment(desk.assignment), max_open=desk.max_open, sticky=timedelta(hours=desk.sticky_hours),
            idle=timedelta(minutes=desk.idle_minutes), nudge=timedelta(seconds=desk.nudge_seconds), calendar=calendar,
            hours=hours, teams=teams,
            team_names={c: tuple("@" + n.lstrip("@").strip() for n in names) for c, names in desk.teams.items()},
            supervisors=frozenset(settings.telegram.supervisors),
        )

    @property
    def automatic(self) -> bool:
        return self.mode is not Assignment.MANUAL

    def calendar_of(self, agent: Agent) -> BusinessCalendar:
        return self.hours.get(agent.username_hash or "", self.calendar)

    def status(self, agent: Agent, now: datetime) -> Presence:
        """What the agent is at ``now`` (see the module's docstring for the rules)."""
        calendar = self.calendar_of(agent)
        if not agent.active or not calendar.is_open(now):
            return Presence.OFFLINE
        said = Presence(agent.presence) if agent.presence else None
        today = calendar.opened(now)
        if said in (Presence.AWAY, Presence.OFFLINE) and agent.presence_at and _same_day(agent.presence_at, now, calendar):
            return said
        if agent.telegram_id in self.supervisors and said is not Presence.ONLINE:
            return Presence.OFFLINE
        if agent.last_seen is None or agent.last_seen < today - self.idle:
            return Presence.OFFLINE  # not yet at work today
        return Presence.AWAY if now - agent.last_seen >= self.idle else Presence.ONLINE

    def team(self, category: str) -> frozenset[str] | None:
        """The blind indexes of the category's team; None: the category has no team (anyone)."""
        return self.teams.get(category)

    def serves(self, agent: Agent, category: str) -> bool:
        team = self.team(category)
        return team is None or (agent.username_hash or "") in team


def _same_day(earlier: datetime, now: datetime, calendar: BusinessCalendar) -> bool:
    return earlier.astimezone(calendar.timezone).date() == now.astimezone(calendar.timezone).date()


async def seen(agent: Agent, now: datetime) -> None:
    """The agent wrote in the agent group (their activity keeps them online)."""
    now = now.astimezone(UTC)
    agent.last_seen = now
    await Agent.filter(id=agent.id).update(last_seen=now)


async def say(agent: Agent, presence: Presence, now: datetime) -> None:
    """``/online``, ``/away`` or ``/offline``: kept until another, or (away, offline) the next day."""
    now = now.astimezone(UTC)
    agent.presence, agent.presence_at, agent.last_seen = presence, now, now
    await Agent.filter(id=agent.id).update(presence=presence, presence_at=now, last_seen=now)


async def open_counts(agent_ids: list[int]) -> dict[int, int]:
    """Each agent's open tickets (new, open or pending: someone still has to act), by agent id."""
    if not agent_ids:
        return {}
    rows = await (
        Ticket.filter(assignee_id__in=agent_ids, status__in=WORKING)
        .annotate(n=Count("id")).group_by("assignee_id").values("assignee_id", "n")
    )
    return {row["assignee_id"]: row["n"] for row in rows}


@dataclass(frozen=True, slots=True)
class AgentLoad:
    """A line of /agents."""

    agent: Agent
    status: Presence
    open: int
    teams: tuple[str, ...]


async def roster(desk: Desk, now: datetime) -> list[AgentLoad]:
    """Every active agent with what they are and their open tickets: online first, then away, then
    offline, the least loaded first."""
    agents = await Agent.filter(active=True)
    counts = await open_counts([a.id for a in agents])
    order = {Presence.ONLINE: 0, Presence.AWAY: 1, Presence.OFFLINE: 2}
    lines = [
        AgentLoad(agent, desk.status(agent, now), counts.get(agent.id, 0),
                  tuple(c for c, team in desk.teams.items() if (agent.username_hash or "") in team))
        for agent in agents
    ]
    return sorted(lines, key=lambda line: (order[line.status], line.open, line.agent.id))
