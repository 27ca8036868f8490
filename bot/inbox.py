"""The inbox: every update from Telegram is stored before it is acknowledged, and handled from here.

Acknowledging an update (answering the webhook call with 200, or asking getUpdates for the
next offset) tells Telegram it may forget it. So kefu stores it first, keyed by ``update_id``
(Telegram sends one again when unsure: storing it twice is a no-op), and only then
acknowledges. A process that dies afterwards leaves the row behind, and the row is handled
when a process starts or looks again.

Several processes share the inbox. A row is *claimed* before it is handled (a conditional
``UPDATE … WHERE status = 'new'``: one claimer wins), and a chat's updates are claimed in
``update_id`` order, one at a time, whichever process received them: a customer's second
message waits until their first is handled, so no conversation is answered out of order and
no complaint becomes two tickets.

Handling an update twice must not answer it twice. The first request with an effect marks the
row ``replying``: for an update from the agent group any such request, for a customer's update
one into the customer's own chat (what it did in the agent group on the way is found, or made
again once, when it is handled again: the ticket opened by that message, its topic and card).
A row that a dead process left ``processing`` is handled again only if it never got that far.
Otherwise its fate is unknown — the reply may or may not have reached Telegram — and it is
marked ``unknown`` and reported rather than risk a second answer (the outbox makes the same
choice, see scheduler/README.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q

from bot.models import InboxUpdate

_CHAT_KEYS = ("message", "edited_message", "channel_post", "edited_channel_post", "business_message",
              "edited_business_message", "message_reaction", "chat_member", "my_chat_member", "chat_join_request",
              "chat_boost", "removed_chat_boost")
_USER_KEYS = ("message", "edited_message", "callback_query", "inline_query", "chosen_inline_result",
              "shipping_query", "pre_checkout_query", "poll_answer", "chat_member", "my_chat_member",
              "chat_join_request", "message_reaction", "business_message", "edited_business_message")


def chat_and_user(payload: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """The chat an update belongs to (its order is kept per chat) and who sent it."""
    chat_id = user_id = None
    for key in _CHAT_KEYS:
        if isinstance(body := payload.get(key), dict):
            chat_id = (body.get("chat") or {}).get("id")
            break
    if chat_id is None and isinstance(query := payload.get("callback_query"), dict):
        chat_id = ((query.get("message") or {}).get("chat") or {}).get("id")
    for key in _USER_KEYS:
        if isinstance(body := payload.get(key), dict):
            sender = body.get("from") or body.get("user")
            user_id = sender.get("id") if isinstance(sender, dict) else None
            break
    return chat_id, user_id


async def store(payloads: Iterable[Mapping[str, Any]], now: datetime) -> None:
    """Keep updates before they are acknowledged; ones already stored are left as they are."""
    rows = []
    for payload in payloads:
        chat_id, user_id = chat_and_user(payload)
        rows.append(InboxUpdate(
            update_id=payload["update_id"], chat_id=chat_id, user_id=user_id, payload=dict(payload), received_at=now,
        ))
    if rows:
        await InboxUpdate.bulk_create(rows, ignore_conflicts=True)


async def claim(update_id: int, holder: str, now: datetime) -> InboxUpdate | None:
    """Take a new update to handle, unless its chat has an earlier one still open (or another
    process took it first)."""
    row = await InboxUpdate.get_or_none(update_id=update_id, status="new")
    if row is None or await _waits_for_earlier(row):
        return None
    taken = await InboxUpdate.filter(id=row.id, status="new").update(status="processing", claimed_by=holder, claimed_at=now)
    if not taken:
        return None
    row.status, row.claimed_by, row.claimed_at = "processing", holder, now
    return row


async def _waits_for_earlier(row: InboxUpdate) -> bool:
    if row.chat_id is None:
        return False
    return await InboxUpdate.filter(
        chat_id=row.chat_id, update_id__lt=row.update_id, status__in=("new", "processing")
    ).exists()


async def next_in_chat(chat_id: int | None) -> int | None:
    """The chat's oldest update still waiting, which may be claimed now that one finished."""
    if chat_id is None:
        return None
    row = await InboxUpdate.filter(chat_id=chat_id, status="new").order_by("update_id").first().only("update_id")
    return row.update_id if row else None


async def waiting(older_than: datetime, limit: int = 100) -> list[int]:
    """Updates stored but not claimed for a while: their process died, or their chat was busy."""
    rows = await InboxUpdate.filter(status="new", received_at__lte=older_than).order_by("update_id").limit(limit).only("update_id")
    return [row.update_id for row in rows]


async def mark_replying(update_id: int) -> None:
    await InboxUpdate.filter(update_id=update_id, replying=False).update(replying=True)


async def finish(update_id: int, now: datetime, status: str = "done") -> None:
    """``done`` once handled, or ``throttled`` when the flood limit kept it from the handlers."""
    await InboxUpdate.filter(update_id=update_id, status="processing").update(status=status, finished_at=now)


async def release(update_ids: Sequence[int]) -> None:
    """Give back claimed updates this process will not handle (it is shutting down) to others."""
    if update_ids:
        await InboxUpdate.filter(update_id__in=list(update_ids), status="processing", replying=False).update(
            status="new", claimed_by=None, claimed_at=None
        )


async def recover(now: datetime, *, holder: str | None = None, stale: timedelta | None = None) -> list[InboxUpdate]:
    """Rows a dead process left ``processing``: those of ``holder`` (this process, restarted) or
    claimed longer ago than ``stale``. Never-replied ones go back to ``new``; the others become
    ``unknown`` and are returned, to be reported."""
    dead = Q(status="processing")
    if holder is not None and stale is not None:
        dead &= Q(claimed_by=holder) | Q(claimed_at__lte=now - stale)
    elif holder is not None:
        dead &= Q(claimed_by=holder)
    elif stale is not None:
        dead &= Q(claimed_at__lte=now - stale)
    unknown = await InboxUpdate.filter(dead, replying=True)
    if unknown:
        await InboxUpdate.filter(id__in=[row.id for row in unknown]).update(status="unknown", finished_at=now)
    await InboxUpdate.filter(dead, replying=False).update(status="new", claimed_by=None, claimed_at=None)
    return unknown


async def sent_before(update_id: int, window: timedelta) -> int:
    """How many updates its sender sent into its chat in ``window`` up to this one, this one
    included (flood control); 0 for an update not in the inbox."""
    row = await InboxUpdate.get_or_none(update_id=update_id).only("user_id", "chat_id", "received_at", "update_id")
    if row is None or row.user_id is None or row.chat_id is None:
        return 0
    return await InboxUpdate.filter(
        user_id=row.user_id, chat_id=row.chat_id, update_id__lte=row.update_id, received_at__gte=row.received_at - window
    ).count()


async def purge(before: datetime) -> int:
    """Forget handled updates received before ``before`` (they hold customers' words)."""
    return await InboxUpdate.filter(received_at__lt=before, status__in=("done", "throttled", "unknown")).delete()
