"""Conversation memory in the database, so that any process can go on with any conversation.

Handlers keep what a conversation needs between two messages (the order number whose last
digits were asked for, the survey waiting for a comment, a supervisor's campaign draft) in
python-telegram-bot's ``context.user_data`` and ``context.chat_data``. With several processes
behind one webhook, a customer's next message may reach another process, so those dicts are
loaded from here before an update is handled and written back after, when they changed. The
inbox hands a chat's updates out one at a time (bot/intake/inbox.py), so two processes never hold the
same chat's memory at once. Values must be JSON: strings, numbers, lists and dicts.
"""

from __future__ import annotations

import json
from collections.abc import MutableMapping, Sequence
from datetime import UTC, datetime
from typing import Any

from bot.core import sql
from bot.core.batch import Batch
from bot.core.fit import storable
from bot.intake.models import ConversationState


async def _memories(owners: Sequence[int]) -> dict[int, dict[str, Any]]:
    found: dict[int, dict[str, Any]] = {}
    for row in await sql.rows(
        "SELECT scope, owner_id, data FROM conversation_state WHERE owner_id IN ANY_OF(?)", sql.any_of(owners)
    ):
        found.setdefault(row["owner_id"], {})[row["scope"]] = sql.as_json(row["data"])
    return found


_owned: Batch[int, dict[str, Any]] = Batch(_memories)


async def load(user_id: int | None, chat_id: int | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """(user_data, chat_data) as last saved."""
    owners = [owner for owner in (user_id, chat_id) if owner is not None]
    found = dict(zip(owners, await _owned.many(owners)))
    user_data = (found.get(user_id) or {}).get("user", {}) if user_id is not None else {}
    chat_data = (found.get(chat_id) or {}).get("chat", {}) if chat_id is not None else {}
    return user_data, chat_data


def snapshot(data: MutableMapping[str, Any]) -> str:
    """The memory as JSON that both databases store: PostgreSQL's jsonb refuses ``\\u0000``, so a
    NUL someone typed (kept in a campaign draft, say) is dropped rather than failing the update."""
    return json.dumps(_storable(data), sort_keys=True, ensure_ascii=False, default=str)


def _storable(value: Any) -> Any:
    if isinstance(value, str):
        return storable(value)
    if isinstance(value, MutableMapping | dict):
        return {storable(str(key)): _storable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_storable(item) for item in value]
    return value


_SAVE = """INSERT INTO conversation_state (scope, owner_id, data, updated_at) VALUES (?, ?, ?, ?)
    ON CONFLICT (scope, owner_id) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at"""


async def save(scope: str, owner_id: int, data: MutableMapping[str, Any]) -> None:
    """Write one memory back; an empty one is deleted."""
    if not data:
        await sql.run("DELETE FROM conversation_state WHERE scope = ? AND owner_id = ?", scope, owner_id)
        return
    await sql.run(_SAVE, scope, owner_id, snapshot(data), datetime.now(UTC))


async def forget(owner_id: int) -> None:
    """Delete what is remembered of a user or chat."""
    await ConversationState.filter(owner_id=owner_id).delete()
