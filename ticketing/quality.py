"""Quality inspection (质检) of what agents send: the shop's rules, the messages they stop, and
the warnings counted per agent.

Chinese shop platforms inspect agents' replies: forbidden phrases (a rude word, "不知道", a
competitor's name) are stopped before the customer sees them, and a closing phrase is expected
before a conversation ends. kefu stops a message holding a forbidden phrase and keeps it,
encrypted like every message, as a *held* message of the ticket until the agent sends it anyway
(or never); /resolve reminds the agent once when none of their messages held a closing phrase.
Every warning is a ``quality_warning`` row of the ticket's audit trail, its actor the agent, so
reports count them per agent (:func:`warnings_by_agent`). Phrases are compared case-blind, width-
blind and script-blind (traditional folded to simplified), so "别乱说" also stops "你别乱说啊" and
"別亂說" written in traditional. This module knows nothing of Telegram.
"""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from bot.core.language import to_simplified
from ticketing.lifecycle import log_event
from ticketing.models import Agent, Ticket, TicketEvent, TicketMessage

HELD = "held"
"""``TicketMessage.direction`` of a message quality inspection stopped: never sent (yet)."""
WARNING = "quality_warning"
"""The audit trail's kind of every warning; ``data.rule`` says which."""
OVERRIDE = "quality_override"
"""The audit trail's kind of a held message the agent sent anyway (/send)."""
Rule = Literal["forbidden", "required_on_close"]


def folded(text: str) -> str:
    """``text`` as phrases are compared: NFKC (full-width letters), case-folded, simplified, one space."""
    return " ".join(to_simplified(unicodedata.normalize("NFKC", text)).casefold().split())


@dataclass(frozen=True)
class QualityRules:
    """The shop's ``[desk.quality]``."""

    forbidden: Sequence[str] = ()
    required_on_close: Sequence[str] = ()

    def forbidden_in(self, text: str) -> list[str]:
        """The forbidden phrases ``text`` holds, as the shop wrote them."""
        said = folded(text)
        return [p for p in self.forbidden if folded(p) in said] if said else []

    def closes_properly(self, texts: Sequence[str]) -> bool:
        """Whether one of ``texts`` holds a required closing phrase (True when none is required)."""
        if not self.required_on_close:
            return True
        said = [folded(t) for t in texts]
        return any(folded(p) in s for p in self.required_on_close for s in said)


async def warn(ticket: Ticket, agent: Agent, rule: Rule, now: datetime, **data: Any) -> None:
    """One warning to ``agent`` (their Telegram id is the audit row's actor: reports count by it)."""
    await log_event(ticket, WARNING, f"agent:{agent.telegram_id}", now.astimezone(UTC), rule=rule, **data)


async def hold(
    ticket: Ticket, agent: Agent, *, text: str, formatting: dict[str, Any], group_message_id: int, now: datetime,
) -> TicketMessage:
    """Keep the stopped message (``formatting``: its media kind and file id, its entities) for /send."""
    return await TicketMessage.create(
        ticket=ticket, direction=HELD, agent=agent, text=text, media=formatting, group_message_id=group_message_id,
        created_at=now.astimezone(UTC),
    )


async def held_message(ticket: Ticket, agent: Agent, group_message_id: int | None = None) -> TicketMessage | None:
    """The agent's held message in the ticket: the one posted as ``group_message_id``, else their
    latest one, if nothing they sent the customer came after it (a corrected message was sent)."""
    held = TicketMessage.filter(ticket=ticket, agent=agent, direction=HELD)
    if group_message_id is not None:
        return await held.filter(group_message_id=group_message_id).first()
    latest = await held.order_by("-id").first()
    if latest is None or await TicketMessage.filter(ticket=ticket, agent=agent, direction="out", id__gt=latest.id).exists():
        return None
    return latest


async def keep_edited(held: TicketMessage, text: str, formatting: dict[str, Any]) -> None:
    """The agent edited the held message and it is still stopped: /send sends it as edited."""
    held.text, held.media = text, formatting
    await held.save(update_fields=["text", "media"])


async def release(held: TicketMessage, ticket: Ticket, agent: Agent, now: datetime, *, fixed: bool = False) -> None:
    """The held message was sent: it leaves the held ones (its sending is an ``out`` message). Sent
    anyway (/send) is an override in the audit trail; ``fixed`` (edited until clean) is not."""
    await held.delete()
    if not fixed:
        await log_event(ticket, OVERRIDE, f"agent:{agent.telegram_id}", now.astimezone(UTC), message=held.group_message_id)


async def remind_on_close(ticket: Ticket, agent: Agent, rules: QualityRules, now: datetime) -> bool:
    """Whether to remind ``agent``, resolving ``ticket``, that none of their messages to its customer
    held a closing phrase; a reminder is a warning, counted. Once: after a reminder, resolving
    again with nothing sent since is not reminded (the reminder names the reply it followed)."""
    if not rules.required_on_close:
        return False
    sent = await TicketMessage.filter(ticket=ticket, agent=agent, direction="out").order_by("id")
    if rules.closes_properly([m.text for m in sent]):
        return False
    last = sent[-1].id if sent else None
    for event in await TicketEvent.filter(ticket=ticket, kind=WARNING, actor=f"agent:{agent.telegram_id}"):
        if event.data.get("rule") == "required_on_close" and event.data.get("last_reply") == last:
            return False
    await warn(ticket, agent, "required_on_close", now, last_reply=last)
    return True


async def warnings_by_agent(since: datetime, until: datetime) -> dict[int, Counter[str]]:
    """Quality warnings in [since, until), per agent's Telegram id and rule: what reports read."""
    counts: dict[int, Counter[str]] = {}
    events = await TicketEvent.filter(kind=WARNING, at__gte=since.astimezone(UTC), at__lt=until.astimezone(UTC))
    for event in events:
        kind, _, who = event.actor.partition(":")
        if kind == "agent" and who.isdigit():
            counts.setdefault(int(who), Counter())[str(event.data.get("rule"))] += 1
    return counts
