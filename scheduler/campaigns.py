"""Campaigns: one message to a segment of customers, sent through the outbox at its rate.

Segments, as shops use them: ``all``; ``new`` (first seen in the last 30 days); ``returning``
(known for longer, and back in the last 30 days); ``vip`` (segment "vip", set by the customer reports or an import);
``inactive_N`` (not seen for N days). Customers who blocked the bot, unsubscribed or were banned are never in.

**Starting** (:func:`start_campaign`) only writes the campaign: its audience is fixed (the
segment's customers up to the highest id it has now) and it is ``queueing``, held by the process
that started it. **Queueing** (:func:`queue_rows`) then writes one outbox row per customer in
chunks of :data:`CHUNK`, in customer-id order, each chunk in one transaction with the campaign's
``queued_through_id``: a handler never waits for it, the agent group is answered between two
chunks, and 100,000 customers are never in memory at once. When the last chunk is written the
campaign is ``running`` and the sender does the rest.

**A crash while queueing** leaves a campaign ``queueing`` with its rows written up to
``queued_through_id``. Its process is gone (bot/intake/fleet.py: its heartbeat lapsed, or it started
again since it took the campaign), so the scheduler's sweep (:func:`resume_abandoned`) takes the
campaign over and writes the rest, from the customer after ``queued_through_id``; so does it when
the queueing stopped on an error (each chunk renews ``claimed_at``: none for a while means none
is coming). No customer
gets a row twice: a row's key is ``campaign:<id>:customer:<id>`` and the outbox keeps one row per
key, so even a chunk written again is skipped row by row.

**Cancelling** (:func:`cancel_campaign`) marks the campaign ``cancelled`` and its ``queued``
rows ``cancelled`` in one transaction; rows being sent or sent are left as they are, and other
campaigns', surveys' and greetings' rows are not touched. The campaign's row is the lock both
sides take first (``SELECT … FOR UPDATE`` in a chunk, the ``UPDATE`` in the cancel), so a chunk
is either written before the cancel, which then cancels its rows, or sees the campaign cancelled
and writes nothing. A row a sender had claimed is cancelled as well: its sender's
``start_sending`` is conditional on the row being ``queued`` still, so it is not sent; a row on
the wire whose send fails and is retried later is cancelled by the sender then
(scheduler/sender.py).

**Length.** Telegram takes 4,096 characters (UTF-16 units) in a message, and kefu does not split a
campaign into several. :func:`longest_message` renders the text with the widest name a customer
can have (ticketing/customers.py keeps :data:`NAME_LIMIT` characters, 2 units each at worst),
through the sender's own ``render``, in every language for a catalog template; a campaign longer
than Telegram takes is refused before it starts.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from tortoise.functions import Count
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from bot.core import sql
from bot.core.fit import utf16_len
from bot.core.language import LANGUAGES
from bot.intake import fleet
from bot.telegram.longtext import MAX_TEXT
from scheduler import outbox
from scheduler.messages import render
from scheduler.models import Campaign, OutboxMessage
from ticketing.customers import NAME_LIMIT
from ticketing.models import Customer
from ticketing.moderation import Standing

SEGMENTS = ("all", "new", "returning", "vip", "inactive_30", "inactive_90")
RECENT = timedelta(days=30)
TEMPLATES = ("new_arrivals", "sale", "we_miss_you")
"""Catalog texts ``campaign_template_<name>``: sent in each customer's own language."""
CHUNK = 500
"""Outbox rows written in one statement (and one transaction) while a campaign is queued: on
SQLite a query of the agent group waits for at most one (about 15 ms)."""
WIDEST_NAME = "\U0001d49c" * NAME_LIMIT
"""The longest name a customer can have, in characters that take 2 UTF-16 units each."""
CANCELLED = "the campaign was cancelled"
ACTIVE = ("queueing", "running")


class TooLong(Exception):
    """The campaign's longest message is more than Telegram takes in one message."""

    def __init__(self, length: int) -> None:
        super().__init__(f"the longest message has {length} characters, over {MAX_TEXT}")
        self.length = length


class Cancellation(NamedTuple):
    stopped: int
    """Messages that will not go out: queued rows cancelled, and customers not yet queued."""
    gone: int
    """Messages sent, being sent, or of unknown fate (they may have arrived)."""


def valid_segment(segment: str) -> bool:
    return segment in SEGMENTS or re.fullmatch(r"inactive_[1-9]\d{0,3}", segment) is not None


def audience(segment: str, now: datetime) -> QuerySet[Customer]:
    now = now.astimezone(UTC)
    customers = Customer.filter(blocked=False, opted_out=False).exclude(standing=Standing.BANNED)
    if segment == "new":
        return customers.filter(first_seen__gte=now - RECENT)
    if segment == "returning":
        return customers.filter(first_seen__lt=now - RECENT, last_seen__gte=now - RECENT)
    if segment == "vip":
        return customers.filter(segment="vip")
    if segment.startswith("inactive_"):
        return customers.filter(last_seen__lt=now - timedelta(days=int(segment.removeprefix("inactive_"))))
    return customers


def _payload(text: str | None, template: str | None) -> dict[str, str]:
    return {"text": text} if text is not None else {"template": template or ""}


def rendered(text: str | None, template: str | None, language: str, name: str) -> str:
    """The campaign's message as a customer called ``name`` who reads ``language`` gets it
    (the sender's own ``render``)."""
    row = OutboxMessage(kind="campaign", payload=_payload(text, template))
    return render(row, Customer(first_name=name, language=language))[0]


def longest_message(text: str | None, template: str | None) -> int:
    """The length, as Telegram counts it, of the longest message this campaign can send."""
    return max(utf16_len(rendered(text, template, language, WIDEST_NAME)) for language in LANGUAGES)


async def audience_languages(segment: str, now: datetime) -> dict[str, int]:
    """How many customers of the segment a campaign started now reaches, per language (the
    language each gets it in), most first; the same customers :func:`start_campaign` counts."""
    rows = await audience(segment, now).annotate(n=Count("id")).group_by("language").values("language", "n")
    return dict(sorted(((row["language"], int(row["n"])) for row in rows), key=lambda item: (-item[1], item[0])))


async def start_campaign(
    segment: str, *, text: str | None, template: str | None, author_telegram_id: int, now: datetime, worker: str,
    progress_chat_id: int | None = None, progress_message_id: int | None = None,
) -> Campaign:
    """Write the campaign, ``queueing`` and held by ``worker``, its audience fixed; its rows are
    written by :func:`queue_rows`. Raises :class:`TooLong` when a message could not be sent whole."""
    longest = longest_message(text, template)
    if longest > MAX_TEXT:
        raise TooLong(longest)
    now = now.astimezone(UTC)
    members = audience(segment, now)
    total = await members.count()
    until = await members.order_by("-id").first().values_list("id", flat=True)
    return await Campaign.create(
        segment=segment, template=text if text is not None else f"template:{template}", payload=_payload(text, template),
        created_by_telegram_id=author_telegram_id, status="queueing", total=total, audience_until_id=until or 0,
        claimed_by=worker, claimed_at=datetime.now(UTC),  # heartbeats are real time, not the bot's clock
        progress_chat_id=progress_chat_id, progress_message_id=progress_message_id, created_at=now,
    )


async def queue_rows(campaign_id: int, worker: str, running: Callable[[], bool] = lambda: True) -> bool:
    """Write the campaign's outbox rows, a chunk at a time, while ``worker`` holds it and
    ``running()``; True once all are written (the campaign is then ``running``)."""
    while running():
        more = await _queue_chunk(campaign_id, worker)
        if more is None:
            return False  # cancelled, or taken over by another process
        if not more:
            return True
        await asyncio.sleep(0)  # the updates waiting for the database go first
    return False


async def _queue_chunk(campaign_id: int, worker: str) -> bool | None:
    """One chunk: True when there may be more, False when all are written, None when the
    campaign is not ``worker``'s to queue (any more).

    The customers are read and the rows built before the transaction: on SQLite (one writer)
    every other query waits while it is open, so it holds only the INSERT and the cursor's move.
    """
    campaign = await Campaign.get_or_none(id=campaign_id)
    if campaign is None or campaign.status != "queueing" or campaign.claimed_by != worker:
        return None
    members = audience(campaign.segment, campaign.created_at).filter(
        id__gt=campaign.queued_through_id, id__lte=campaign.audience_until_id or 0
    )
    ids = await members.order_by("id").limit(CHUNK).values_list("id", flat=True)
    rows = [
        OutboxMessage(customer_id=customer_id, kind="campaign", key=f"campaign:{campaign.id}:customer:{customer_id}",
                      due_at=campaign.created_at, payload=campaign.payload, campaign_id=campaign.id)
        for customer_id in ids
    ]
    async with in_transaction() as connection:
        locked = await Campaign.filter(id=campaign_id).select_for_update().using_db(connection).first()
        if locked is None or locked.status != "queueing" or locked.claimed_by != worker:
            return None  # cancelled, or taken over, meanwhile
        if locked.queued_through_id != campaign.queued_through_id:
            return True  # written by another holder meanwhile: read again
        if rows:
            # A row whose key exists is skipped: should a chunk ever be written again, no
            # customer gets a second row (the outbox's never-twice key).
            await OutboxMessage.bulk_create(rows, ignore_conflicts=True, using_db=connection)
            locked.queued_through_id, locked.claimed_at = ids[-1], datetime.now(UTC)  # the hold renewed
            await locked.save(update_fields=["queued_through_id", "claimed_at"], using_db=connection)
            return True
        locked.status = "running"
        locked.total = await OutboxMessage.filter(campaign_id=campaign_id).using_db(connection).count()
        await locked.save(update_fields=["status", "total"], using_db=connection)
        return False


async def resume_abandoned(worker: str, running: Callable[[], bool] = lambda: True) -> list[int]:
    """Take over the campaigns left ``queueing`` by a process that is gone, or whose queueing
    stopped (no chunk for :data:`bot.intake.fleet.LAPSE`: an error), and write the rest of their rows;
    their ids. One conditional UPDATE takes each, so of several processes sweeping one does."""
    now = datetime.now(UTC)
    taken = await sql.rows(
        f"UPDATE campaign SET claimed_by = ?, claimed_at = ? WHERE status = 'queueing' "
        f"AND (claimed_at IS NULL OR claimed_at < ? OR {fleet.holder_gone('campaign')}) RETURNING id",
        worker, now, now - fleet.LAPSE, now - fleet.LAPSE,
    )
    ids = sorted(row["id"] for row in taken)
    for campaign_id in ids:
        await queue_rows(campaign_id, worker, running)
    return ids


async def cancel_campaign(campaign_id: int, now: datetime) -> Cancellation | None:
    """Cancel a campaign being queued or sent: its queued rows become ``cancelled``, nothing more
    is queued. None when it is not (any more) queueing or running."""
    now = now.astimezone(UTC)
    async with in_transaction() as connection:
        changed = await Campaign.filter(id=campaign_id, status__in=ACTIVE).using_db(connection).update(
            status="cancelled", finished_at=now
        )
        if not changed:
            return None
        cancelled = await outbox.cancel_for_campaign(campaign_id, now, CANCELLED, connection=connection)
    campaign = await Campaign.get(id=campaign_id)
    counts = await progress(campaign, now)
    never_queued = max(0, campaign.total - sum(counts.values()))
    return Cancellation(stopped=cancelled + never_queued, gone=counts["sent"] + counts["sending"] + counts["unknown"])


async def progress(campaign: Campaign, now: datetime) -> dict[str, int]:
    """Counts by outcome, kept on the campaign; a ``running`` campaign is ``done`` once none of its
    rows is waiting or being sent. The status is read first: once ``running`` no row is added."""
    await campaign.refresh_from_db(fields=["status", "finished_at", "total"])
    counts = await outbox.counts(campaign)
    if campaign.status == "running" and counts["queued"] == counts["sending"] == 0:
        finished = now.astimezone(UTC)
        if await Campaign.filter(id=campaign.id, status="running").update(status="done", finished_at=finished):
            campaign.status, campaign.finished_at = "done", finished
    campaign.sent, campaign.blocked = counts["sent"], counts["blocked"]
    # A row cancelled in a campaign that goes on: its customer unsubscribed meanwhile.
    campaign.failed = counts["failed"] + counts["unknown"] + (counts["cancelled"] if campaign.status != "cancelled" else 0)
    await Campaign.filter(id=campaign.id).update(sent=campaign.sent, blocked=campaign.blocked, failed=campaign.failed)
    return counts
