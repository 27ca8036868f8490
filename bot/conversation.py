"""Conversation memory in the database, so that any process can go on with any conversation.

Handlers keep what a conversation needs between two messages (the order number whose last
digits were asked for, the survey waiting for a comment, a supervisor's campaign draft) in
python-telegram-bot's ``context.user_data`` and ``context.chat_data``. With several processes
behind one webhook, a customer's next message may reach another process, so those dicts are
loaded from here before an update is handled and written back after, when they changed. The
inbox hands a chat's updates out one at a time (bot/inbox.py), so two processes never hold the
same chat's memory at once. Values must be JSON: strings, numbers, lists and dicts.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from bot.models import ConversationState


async def load(user_id: int | None, chat_id: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user_data, chat_data) as last saved."""
    owners = [owner for owner in (user_id, chat_id) if owner is not None]
    rows = await ConversationState.filter(owner_id__in=owners) if owners else []
    found = {(row.scope, row.owner_id): row.data for row in rows}
    return found.get(("user", user_id), {}), found.get(("chat", chat_id), {})


def snapshot(data: MutableMapping[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, default=str)


async def save(scope: str, owner_id: int, data: MutableMapping[str, Any]) -> None:
    """Write one memory back; an empty one is deleted."""
    if not data:
        await ConversationState.filter(scope=scope, owner_id=owner_id).delete()
        return
    plain = json.loads(snapshot(data))
    updated = await ConversationState.filter(scope=scope, owner_id=owner_id).update(data=plain)
    if not updated:
        await ConversationState.bulk_create(
            [ConversationState(scope=scope, owner_id=owner_id, data=plain)], ignore_conflicts=True
        )
        await ConversationState.filter(scope=scope, owner_id=owner_id).update(data=plain)


async def forget(owner_id: int) -> None:
    """Delete what is remembered of a user or chat."""
    await ConversationState.filter(owner_id=owner_id).delete()
