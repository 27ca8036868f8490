"""The inbox: every update from Telegram is stored before it is acknowledged, and handled from here.

Acknowledging an update (answering the webhook call with 200, or asking getUpdates for the
next offset) tells Telegram it may forget it. So kefu stores it first, keyed by ``update_id``
(Telegram sends one again when unsure: storing it twice is a no-op), and only then
acknowledges. A process that dies afterwards leaves the row behind, and the row is handled
when a process starts or looks again.

Several processes share the inbox. A row is *claimed* before it is handled (a conditional
``UPDATE … WHERE status = 'new' AND no earlier update of its chat is open … RETURNING``: one
claimer wins), and a chat's updates are claimed in ``update_id`` order, one at a time,
whichever process received them: a customer's second message waits until their first is
handled, so no conversation is answered out of order and no complaint becomes two tickets.
One statement claims a whole getUpdates batch; finishing, marking and claiming the next are
batched across the updates being handled (bot/core/batch.py).

Handling an update twice must not answer it twice. A request with an effect marks the row
``replying`` and, while it is on the wire (written, its answer not yet read), ``on_wire`` — at
the last moment, after the rate limits and the wait for a connection (bot/telegram/request.py):
for an update from the agent group any such request, for a customer's update one into the
customer's own chat (what it did in the agent group on the way is found, or made once, when it
is handled again: the ticket opened by that message, its topic and card). A process that is
gone (bot/intake/fleet.py: its heartbeat lapsed, or it started again) leaves its rows ``processing``:
one that never replied is handled again; one that had replied (nothing on the wire) is done;
one with a reply on the wire is of unknown fate — it may or may not have reached Telegram — and
is marked ``unknown`` and reported rather than risk a second answer (the outbox makes the same
choice, see scheduler/README.md). With ``[telegram] connections`` requests on the wire at most,
so many updates of a process can be in doubt when it dies. Rows are stored encrypted (they hold
names and phones: bot/core/crypto.py), and an update that cannot be read, or whose handling kills its
process again and again, is set aside as ``failed``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F

from bot.core import crypto, sql
from bot.core.batch import Batch
from bot.intake import fleet
from bot.intake.models import InboxUpdate

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


@dataclass(frozen=True)
class Claimed:
    """An update this process has taken to handle."""

    update_id: int
    chat_id: int | None
    user_id: int | None
    received_at: datetime
    payload: dict[str, Any] | None
    """As stored; None when claimed without it (the process that received it has it)."""


_NOTHING_EARLIER_OPEN = """NOT EXISTS (SELECT 1 FROM inbox_update AS earlier
    WHERE earlier.chat_id = inbox_update.chat_id AND earlier.update_id < inbox_update.update_id
    AND earlier.status IN ('new', 'processing'))"""
_CLAIM = f"""UPDATE inbox_update SET status = 'processing', claimed_by = ?, claimed_at = ?, attempts = attempts + 1
    WHERE update_id IN ANY_OF(?) AND status = 'new' AND {_NOTHING_EARLIER_OPEN}
    RETURNING update_id, chat_id, user_id, received_at"""
_CLAIM_WITH_PAYLOAD = f"{_CLAIM}, payload"
_CLAIM_NEXT = f"""UPDATE inbox_update SET status = 'processing', claimed_by = ?, claimed_at = ?, attempts = attempts + 1
    WHERE chat_id IN ANY_OF(?) AND status = 'new' AND {_NOTHING_EARLIER_OPEN}
    RETURNING update_id, chat_id, user_id, received_at, payload"""


def _claimed(row: Mapping[str, Any]) -> Claimed:
    received_at = sql.as_datetime(row["received_at"])
    assert received_at is not None
    payload = crypto.reveal_json(row["payload"]) if "payload" in row else None
    return Claimed(row["update_id"], row["chat_id"], row["user_id"], received_at, payload)


async def claim(update_ids: Sequence[int], holder: str, now: datetime, *, payloads: bool = True) -> list[Claimed]:
    """Take new updates to handle, in ``update_id`` order, in one statement: each one unless
    its chat has an earlier one still open (or another process took it first)."""
    if not update_ids:
        return []
    found = await sql.rows(_CLAIM_WITH_PAYLOAD if payloads else _CLAIM, holder, now, sql.any_of(update_ids))
    return sorted((_claimed(row) for row in found), key=lambda claimed: claimed.update_id)


async def _claim_next(keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], Claimed]:
    taken: dict[tuple[int, str], Claimed] = {}
    for holder in {holder for _chat, holder in keys}:
        chats = [chat for chat, by in keys if by == holder]
        for row in await sql.rows(_CLAIM_NEXT, holder, datetime.now(UTC), sql.any_of(chats)):
            claimed = _claimed(row)
            taken[(claimed.chat_id, holder)] = claimed  # type: ignore[index]
    return taken


_next_in_chat: Batch[tuple[int, str], Claimed] = Batch(_claim_next)


async def claim_next(chat_id: int | None, holder: str) -> Claimed | None:
    """Take the chat's oldest waiting update, now that the one before it is finished."""
    if chat_id is None:
        return None
    return await _next_in_chat((chat_id, holder))


async def waiting(older_than: datetime, limit: int = 100) -> list[int]:
    """Updates stored but not claimed for a while: their process died, or their chat was busy."""
    rows = await InboxUpdate.filter(status="new", received_at__lte=older_than).order_by("update_id").limit(limit).only("update_id")
    return [row.update_id for row in rows]


async def _mark_on_wire(keys: Sequence[tuple[int, bool]]) -> dict[tuple[int, bool], None]:
    for on_wire in (True, False):
        if ids := [update_id for update_id, wanted in keys if wanted is on_wire]:
            await sql.run(
                "UPDATE inbox_update SET replying = ?, on_wire = ? WHERE update_id IN ANY_OF(?)",
                True, on_wire, sql.any_of(ids),
            )
    return {}


_on_wire: Batch[tuple[int, bool], None] = Batch(_mark_on_wire)


async def mark_on_wire(update_id: int, on_wire: bool) -> None:
    """A request with an effect is about to be written (True: the update is ``replying`` from now
    on), or it is over (False). Committed before the call returns."""
    await _on_wire((update_id, on_wire))


async def _finish(keys: Sequence[tuple[int, str]]) -> dict[tuple[int, str], None]:
    now = datetime.now(UTC)
    for status in {status for _update, status in keys}:
        ids = [update_id for update_id, wanted in keys if wanted == status]
        await sql.run(
            "UPDATE inbox_update SET status = ?, finished_at = ? WHERE update_id IN ANY_OF(?) AND status = 'processing'",
            status, now, sql.any_of(ids),
        )
    return {}


_finished: Batch[tuple[int, str], None] = Batch(_finish)


async def finish(update_id: int, status: str = "done") -> None:
    """``done`` once handled, or ``throttled`` when the flood limit kept it from the handlers."""
    await _finished((update_id, status))


async def release(update_ids: Sequence[int]) -> None:
    """Give back claimed updates this process will not handle (it is shutting down) to others."""
    if update_ids:
        await InboxUpdate.filter(update_id__in=list(update_ids), status="processing", replying=False).update(
            status="new", claimed_by=None, claimed_at=None, attempts=F("attempts") - 1
        )


MAX_ATTEMPTS = 3
"""An update whose process died this many times while handling it (before it answered) is set
aside as ``failed``: it is what kills them."""


@dataclass(frozen=True)
class Recovered:
    """What became of the updates processes that are gone had been handling."""

    unknown: list[tuple[int, int | None]]
    """(update, chat) of those whose reply was on the wire: in doubt, not answered again."""
    answered: int
    """Those that had replied (nothing on the wire): done."""
    failed: list[tuple[int, int | None]]
    """Those handled :data:`MAX_ATTEMPTS` times without finishing: set aside."""
    taken_over: int
    """Those given back to be handled again."""


_GONE = f"status = 'processing' AND {fleet.holder_gone('inbox_update')}"


async def recover(now: datetime) -> Recovered:
    """Updates whose process is gone (bot/intake/fleet.py): in doubt if a request of theirs was on the
    wire (``unknown``), done if they had replied, set aside if they keep killing their process,
    else handled again. A slow update whose process is alive is left alone."""
    lapsed = now - fleet.LAPSE
    unknown = await sql.rows(
        f"UPDATE inbox_update SET status = 'unknown', finished_at = ? WHERE {_GONE} AND on_wire RETURNING update_id, chat_id",
        now, lapsed,
    )
    answered = await sql.run(
        f"UPDATE inbox_update SET status = 'done', finished_at = ? WHERE {_GONE} AND replying AND NOT on_wire", now, lapsed
    )
    failed = await sql.rows(
        f"UPDATE inbox_update SET status = 'failed', finished_at = ?, error = ? WHERE {_GONE} AND NOT replying "
        "AND attempts >= ? RETURNING update_id, chat_id",
        now, f"its process died {MAX_ATTEMPTS} times while handling it", lapsed, MAX_ATTEMPTS,
    )
    taken_over = await sql.run(
        f"UPDATE inbox_update SET status = 'new', claimed_by = NULL, claimed_at = NULL WHERE {_GONE} AND NOT replying",
        lapsed,
    )
    return Recovered(
        sorted((row["update_id"], row["chat_id"]) for row in unknown), answered,
        sorted((row["update_id"], row["chat_id"]) for row in failed), taken_over,
    )


async def set_aside(failures: Mapping[int, str], now: datetime) -> list[tuple[int, int | None]]:
    """Updates that cannot be read or handled (``update_id`` → why) become ``failed``: they never
    hold up their chat's later updates. Returns (update, chat) of those that were not already."""
    marked = []
    for update_id, error in failures.items():
        marked += await sql.rows(
            "UPDATE inbox_update SET status = 'failed', error = ?, finished_at = ? "
            "WHERE update_id = ? AND status IN ('new', 'processing') RETURNING update_id, chat_id",
            error[:2000], now, update_id,
        )
    return sorted((row["update_id"], row["chat_id"]) for row in marked)


async def _count_recent(keys: Sequence[tuple[int, timedelta]]) -> dict[tuple[int, timedelta], int]:
    targets = {
        row["update_id"]: row for row in await sql.rows(
            "SELECT update_id, user_id, chat_id, received_at FROM inbox_update WHERE update_id IN ANY_OF(?)",
            sql.any_of(sorted({update_id for update_id, _window in keys})),
        )
        if row["user_id"] is not None and row["chat_id"] is not None
    }
    if not targets:
        return {}
    for row in targets.values():
        row["received_at"] = sql.as_datetime(row["received_at"])
    longest = max(window for _update, window in keys)
    recent = await sql.rows(
        "SELECT user_id, chat_id, update_id, received_at FROM inbox_update WHERE user_id IN ANY_OF(?) AND received_at >= ?",
        sql.any_of(sorted({row["user_id"] for row in targets.values()})),
        min(row["received_at"] for row in targets.values()) - longest,
    )
    for row in recent:
        row["received_at"] = sql.as_datetime(row["received_at"])
    counts = {}
    for update_id, window in keys:
        if (target := targets.get(update_id)) is None:
            continue
        counts[(update_id, window)] = sum(
            1 for row in recent
            if row["user_id"] == target["user_id"] and row["chat_id"] == target["chat_id"]
            and row["update_id"] <= update_id and row["received_at"] >= target["received_at"] - window
        )
    return counts


_recent: Batch[tuple[int, timedelta], int] = Batch(_count_recent)


async def sent_before(update_id: int, window: timedelta) -> int:
    """How many updates its sender sent into its chat in ``window`` up to this one, this one
    included (flood control); 0 for an update not in the inbox."""
    return await _recent((update_id, window)) or 0


async def purge(before: datetime) -> int:
    """Forget handled updates received before ``before`` (they hold customers' words), and the
    ones held back from a new customer who never got through (see :func:`release_held`)."""
    return await InboxUpdate.filter(
        received_at__lt=before, status__in=("done", "throttled", "unknown", "failed", "held", "dropped")
    ).delete()


# -- updates held back from the handlers (handlers/spam.py) ------------------------------------------
#
# A new customer's updates wait, ``held``, while they have not pressed the first-contact button or
# while a supervisor decides on their first message; released, they are ``new`` again and handled
# as if they had just arrived, in their order, by whichever process takes them. A banned customer's
# update is ``dropped``: its payload is erased at once, only the row's fact (chat, sender, time) stays.


async def held(chat_id: int, user_id: int) -> list[datetime]:
    """When each of the sender's updates held in this chat arrived, oldest first."""
    rows = await InboxUpdate.filter(chat_id=chat_id, user_id=user_id, status="held").order_by("update_id").only("received_at")
    return [row.received_at for row in rows]


async def release_held(chat_id: int, user_id: int) -> list[int]:
    """The sender's held updates in this chat become ``new`` again, to be handled now; their ids."""
    rows = await sql.rows(
        "UPDATE inbox_update SET status = 'new', claimed_by = NULL, claimed_at = NULL, finished_at = NULL, "
        "attempts = 0, replying = ?, on_wire = ? WHERE chat_id = ? AND user_id = ? AND status = 'held' RETURNING update_id",
        False, False, chat_id, user_id,
    )
    return sorted(row["update_id"] for row in rows)


async def drop(update_id: int) -> None:
    """The update being handled is dropped unseen: its payload is erased now, not in a week."""
    await sql.run(
        "UPDATE inbox_update SET status = 'dropped', payload = ?, finished_at = ? WHERE update_id = ? AND status = 'processing'",
        crypto.seal_json({"update_id": update_id}), datetime.now(UTC), update_id,
    )


async def drop_held(chat_id: int, user_id: int) -> int:
    """The sender's held updates in this chat are dropped (they were banned): payloads erased."""
    rows = await InboxUpdate.filter(chat_id=chat_id, user_id=user_id, status="held").only("update_id")
    for row in rows:
        await sql.run(
            "UPDATE inbox_update SET status = 'dropped', payload = ?, finished_at = ? WHERE update_id = ? AND status = 'held'",
            crypto.seal_json({"update_id": row.update_id}), datetime.now(UTC), row.update_id,
        )
    return len(rows)
