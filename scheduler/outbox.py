"""The outbox: messages to customers, stored before they are sent, sent at most once.

Every scheduled message (a survey, a greeting, one customer's copy of a campaign) is a row of
``OutboxMessage`` with a unique de-duplication ``key``, so enqueueing the same thing twice keeps
one row. A sender sends a row like this:

1. ``claim_due`` takes a batch of due rows for one worker: they stay ``queued`` but carry the
   worker's name (``claimed_by``, ``claimed_at``), so no other worker takes them for ``lease``;
2. ``start_sending`` marks one row ``sending`` and commits, right *before* its Bot API call;
3. the sender calls the Bot API;
4. it settles the row: ``mark_sent``, ``mark_blocked``, ``mark_failed``, ``mark_cancelled``,
   ``mark_unknown`` (a timeout after the request went out), ``retry_later`` or ``defer``.

The guarantee is **at-most-once delivery**. A crash between 2 and 4 leaves the row ``sending``:
whether Telegram got the message is not known. ``recover_after_crash`` turns such rows into
``unknown``, for a person to look at, and never sends them again blindly. A crash before 2
loses nothing: nothing went out, and the claim runs out after ``lease``, so another worker (or
the restarted one) sends the row. Only the requests on the wire at the moment of a crash become
``unknown``, not the whole batch a worker had in hand. So no customer gets a message twice, and
no message is lost silently: each row ends sent, blocked, failed, cancelled or unknown.

Several processes may share one database. On PostgreSQL ``claim_due`` locks the rows it takes
with ``SELECT ... FOR UPDATE SKIP LOCKED``, on SQLite (one writer at a time) it takes each row
with a conditional ``UPDATE ... WHERE status = 'queued'`` and keeps the rows it changed: either
way no row is claimed by two workers at once, and ``start_sending`` (conditional on the claim
being the worker's still) lets one of them send it.

Quiet hours are not applied here: the sender asks ``scheduler.quiet_hours`` and ``defer``s.

Every function takes the time as ``now`` (an aware datetime), so tests control the clock. Times
are converted to UTC before they are compared: SQLite compares stored times as text.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.functions import Count
from tortoise.transactions import in_transaction

from bot.core import sql
from bot.intake import fleet
from scheduler.models import STATUSES, Campaign, OutboxMessage
from ticketing.models import Customer

# A settle call counts for a row still being sent, or one recovery gave up on meanwhile (its
# worker was taken for gone): knowing its fate is better than ``unknown``.
_IN_FLIGHT = ("sending", "unknown")
LEASE = timedelta(seconds=30)
"""How long a claimed row stays its worker's before it is sent: a worker sends its batch within a
few seconds, so a claim older than this belongs to a process that died (or stalled) before it
sent the row, and another worker may take it."""


async def enqueue(
    customer: Customer,
    kind: str,
    key: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    campaign: Campaign | None = None,
) -> OutboxMessage | None:
    """Queue a message, or do nothing (None) when one with this key exists, sent or not.

    The unique key decides, not a look-up first, so two processes enqueueing the same key at
    once keep one row. The insert runs in its own (nested) transaction: inside a caller's
    transaction a duplicate rolls back to a savepoint instead of spoiling the whole of it.
    """
    try:
        async with in_transaction():
            return await OutboxMessage.create(
                customer=customer,
                kind=kind,
                key=key,
                due_at=due_at.astimezone(UTC),
                payload=payload or {},
                campaign=campaign,
            )
    except IntegrityError:
        if await OutboxMessage.exists(key=key):
            return None
        raise  # not the key: a customer or campaign that does not exist


async def cancel(key: str, now: datetime | None = None) -> bool:
    """Cancel the queued message with this key; False when there is none (or it went already)."""
    changed = await OutboxMessage.filter(key=key, status="queued").update(status="cancelled", settled_at=_utc(now))
    return changed > 0


async def cancel_for_customer(
    customer: Customer, kinds: Iterable[str] | None = None, now: datetime | None = None
) -> int:
    """Cancel the customer's queued messages of these kinds (all kinds when None); how many."""
    return await _cancel_queued(customer.id, kinds, _utc(now))


async def cancel_for_campaign(
    campaign_id: int, now: datetime, reason: str, connection: BaseDBAsyncClient | None = None
) -> int:
    """Cancel the campaign's queued messages, claimed or not (their sender's ``start_sending``
    then fails); rows being sent or settled stay as they are. How many."""
    return await OutboxMessage.filter(campaign_id=campaign_id, status="queued").using_db(connection).update(
        status="cancelled", settled_at=now.astimezone(UTC), last_error=reason
    )


async def _cancel_queued(customer_id: int, kinds: Iterable[str] | None, now: datetime) -> int:
    query = OutboxMessage.filter(customer_id=customer_id, status="queued")
    if kinds is not None:
        query = query.filter(kind__in=list(kinds))
    return await query.update(status="cancelled", settled_at=now)


async def claim_due(now: datetime, worker: str, limit: int, lease: timedelta = LEASE) -> list[OutboxMessage]:
    """Take up to ``limit`` queued messages that are due, oldest first, for ``worker`` to send.

    They stay ``queued`` but are ``worker``'s (``claimed_by``, ``claimed_at``, one more attempt)
    until sent or settled, or until ``lease`` has passed: nothing has gone out yet, so a row
    whose worker died is simply claimed again later. Call ``start_sending`` right before each
    Bot API call. Call it outside any transaction: the claim must be committed.
    """
    now = now.astimezone(UTC)
    if limit <= 0:
        return []
    if OutboxMessage._meta.db.capabilities.support_for_update:
        return await _claim_locking(now, worker, limit, now - lease)
    return await _claim_conditionally(now, worker, limit, now - lease)


def _due(now: datetime, expired: datetime) -> Q:
    """Queued, due, not deferred past ``now``, and claimed by nobody (or by a claim older than ``expired``)."""
    return (
        Q(status="queued", due_at__lte=now)
        & (Q(not_before__isnull=True) | Q(not_before__lte=now))
        & (Q(claimed_at__isnull=True) | Q(claimed_at__lt=expired))
    )


async def _claim_locking(now: datetime, worker: str, limit: int, expired: datetime) -> list[OutboxMessage]:
    """PostgreSQL: lock due rows no other transaction holds, mark them, commit."""
    async with in_transaction() as connection:
        rows = await (
            OutboxMessage.filter(_due(now, expired))
            .order_by("due_at", "id")
            .limit(limit)
            .select_for_update(skip_locked=True, no_key=True)
            .using_db(connection)
        )
        if rows:
            await (
                OutboxMessage.filter(id__in=[row.id for row in rows])
                .using_db(connection)
                .update(claimed_by=worker, claimed_at=now, attempts=F("attempts") + 1)
            )
    for row in rows:
        _claimed(row, worker, now)
    return rows


async def _claim_conditionally(now: datetime, worker: str, limit: int, expired: datetime) -> list[OutboxMessage]:
    """SQLite: take each candidate with an UPDATE that only a still-unclaimed queued row passes.

    Candidates another worker took meanwhile are lost, so it looks again until it has ``limit``
    or none are left: an empty answer means nothing is due, not that another worker was faster.
    """
    claimed: list[OutboxMessage] = []
    while len(claimed) < limit:
        candidates = await OutboxMessage.filter(_due(now, expired)).order_by("due_at", "id").limit(limit - len(claimed))
        if not candidates:
            break
        for row in candidates:
            won = await OutboxMessage.filter(Q(id=row.id) & _due(now, expired)).update(
                claimed_by=worker, claimed_at=now, attempts=F("attempts") + 1
            )
            if won == 1:
                claimed.append(_claimed(row, worker, now))
    return claimed


def _claimed(row: OutboxMessage, worker: str, now: datetime) -> OutboxMessage:
    """Bring a fetched row in line with the UPDATE that claimed it."""
    row.claimed_by = worker
    row.claimed_at = now
    row.attempts += 1
    return row


async def start_sending(message: OutboxMessage, now: datetime) -> bool:
    """Mark a claimed message ``sending`` (committed), right before its Bot API call.

    False, and nothing may be sent, when the claim is no longer the worker's: the message was
    cancelled meanwhile, or the lease ran out and another worker took it. From here on a crash
    leaves the row ``sending``, to become ``unknown``.
    """
    if message.status != "queued" or message.claimed_by is None:
        return False
    now = now.astimezone(UTC)
    changed = await OutboxMessage.filter(id=message.id, status="queued", claimed_by=message.claimed_by).update(
        status="sending", claimed_at=now
    )
    if changed:
        message.status, message.claimed_at = "sending", now
    return changed > 0


def _held(message: OutboxMessage) -> Q | None:
    """The row as the caller holds it, for a conditional UPDATE: claimed by it and still queued,
    or in flight; None when the caller holds nothing (a row it never claimed)."""
    if message.status == "queued":
        return None if message.claimed_by is None else Q(status="queued", claimed_by=message.claimed_by)
    return Q(status__in=_IN_FLIGHT)


async def defer(message: OutboxMessage, until: datetime, *, attempted: bool = True) -> bool:
    """Put a claimed message back in the queue until ``until`` (quiet hours, a retry); due_at stays.

    Its attempts stay too, unless ``attempted=False`` says the claim tried nothing (quiet hours,
    the per-chat gap): then the claim's attempt is given back, so waiting never uses up the
    attempts ``retry_later`` allows. False when the worker does not hold it (any more).
    """
    held = _held(message)
    if held is None:
        return False
    until = until.astimezone(UTC)
    given_back = 1 if not attempted and message.attempts > 0 else 0
    changed = await OutboxMessage.filter(Q(id=message.id) & held).update(
        status="queued", not_before=until, claimed_by=None, claimed_at=None, attempts=F("attempts") - given_back
    )
    if changed:
        message.status, message.not_before, message.claimed_by, message.claimed_at = "queued", until, None, None
        message.attempts -= given_back
    return changed > 0


async def mark_sent(message: OutboxMessage, now: datetime, telegram_message_id: int | None) -> bool:
    """Telegram accepted it."""
    now = now.astimezone(UTC)
    return await _settle(message, "sent", now, sent_at=now, telegram_message_id=telegram_message_id, last_error=None)


async def mark_blocked(message: OutboxMessage, now: datetime, error: str) -> bool:
    """The customer blocked the bot (403): mark them blocked and cancel their other queued messages."""
    now = now.astimezone(UTC)
    async with in_transaction():
        settled = await _settle(message, "blocked", now, last_error=error)
        await Customer.filter(id=message.customer_id).update(blocked=True)
        await _cancel_queued(message.customer_id, None, now)
    return settled


async def mark_failed(message: OutboxMessage, now: datetime, error: str) -> bool:
    """It cannot be sent (a permanent error, or too many attempts)."""
    return await _settle(message, "failed", now.astimezone(UTC), last_error=error)


async def mark_cancelled(message: OutboxMessage, now: datetime, reason: str) -> bool:
    """A claimed message that must not go after all (the customer unsubscribed), not sent."""
    return await _settle(message, "cancelled", now.astimezone(UTC), last_error=reason)


async def mark_unknown(message: OutboxMessage, now: datetime, error: str) -> bool:
    """Telegram may or may not have taken it (a timeout after the request went out): not resent, reported."""
    return await _settle(message, "unknown", now.astimezone(UTC), last_error=error)


async def retry_later(
    message: OutboxMessage, now: datetime, error: str, delay: timedelta, max_attempts: int
) -> bool:
    """A temporary error: queue it again after ``delay``, or fail it when its attempts are used up.

    Only for errors where Telegram surely did not take the message (a flood limit, a 5xx before
    sending): a retry after a timeout could deliver it twice.
    """
    now = now.astimezone(UTC)
    if message.attempts >= max_attempts:
        return await mark_failed(message, now, error)
    held = _held(message)
    if held is None:
        return False
    until = now + delay
    changed = await OutboxMessage.filter(Q(id=message.id) & held).update(
        status="queued", not_before=until, last_error=error, claimed_by=None, claimed_at=None
    )
    if changed:
        message.status, message.not_before, message.last_error = "queued", until, error
        message.claimed_by = message.claimed_at = None
    return changed > 0


async def _settle(message: OutboxMessage, status: str, now: datetime, **values: Any) -> bool:
    """Give a claimed or in-flight message its final status; False when the caller does not hold it."""
    held = _held(message)
    if held is None:
        return False
    changed = await OutboxMessage.filter(Q(id=message.id) & held).update(
        status=status, settled_at=now, **values
    )
    if changed:
        message.status, message.settled_at = status, now
        for name, value in values.items():
            setattr(message, name, value)
    return changed > 0


async def recover_after_crash(now: datetime) -> list[OutboxMessage]:
    """Rows left ``sending`` by a worker that is gone (bot/intake/fleet.py: its heartbeat lapsed, or it
    started again since) become ``unknown``; they are returned to report. A slow send of a live
    worker is left alone, however long it waits for Telegram's rate limits.

    They are never sent again: the crash may have come after Telegram took the message. One
    conditional UPDATE changes them all, so with several processes recovering, one reports each.
    Rows a dead worker had claimed but not started need nothing: their claim runs out.
    """
    now = now.astimezone(UTC)
    changed = await sql.rows(
        f"UPDATE outbox SET status = 'unknown', settled_at = ? WHERE status = 'sending' "
        f"AND {fleet.holder_gone('outbox')} RETURNING id",
        now, now - fleet.LAPSE,
    )
    return await OutboxMessage.filter(id__in=[row["id"] for row in changed]).order_by("id")


async def counts(campaign: Campaign | None = None) -> dict[str, int]:
    """How many messages are in each status (every status listed, zeros too); of one campaign if given."""
    query = OutboxMessage.all() if campaign is None else OutboxMessage.filter(campaign_id=campaign.id)
    rows = await query.annotate(n=Count("id")).group_by("status").values("status", "n")
    result = dict.fromkeys(STATUSES, 0)
    for row in rows:
        result[row["status"]] = row["n"]
    return result


def _utc(now: datetime | None) -> datetime:
    return (now or datetime.now(UTC)).astimezone(UTC)
