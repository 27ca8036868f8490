"""Albums: several photos or files sent together, relayed together, once, by one process of a fleet.

A chat app sends an album as separate messages sharing one group id, and a bot hears each as an
update of its own — maybe on different processes sharing the database. Relayed one by one they
would reach the other side as N posts; relayed by each process that saw a part, as several
albums. So every part is written here first (:func:`add_part`; a part handled again after a crash
is the same row), and the album is relayed when no part has come for ``wait`` (:func:`take`):
whoever asks then takes every part not yet taken with one conditional UPDATE that marks them
with its own token, so each part is taken exactly once however many processes ask at the same
moment. A part that comes after its album was taken starts an album of its own (Telegram's
clients send the parts within a second; the wait is counted from the last part).

The rows are deleted once relayed: what stays of the album is the ticket's message, with every
part's pair of message ids (``TicketMessage.parts``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from tortoise.exceptions import IntegrityError

from ticketing.models import AlbumPart, Ticket

Direction = Literal["in", "out"]


@dataclass(frozen=True)
class Pending:
    """An album still being collected: when it can be taken (its last part's arrival + the wait)."""

    ready_at: datetime


def album_key(chat_id: int, media_group_id: str) -> str:
    """An album's key: Telegram's media_group_id within its chat."""
    return f"{chat_id}:{media_group_id}"


async def add_part(
    ticket: Ticket, album: str, direction: Direction, message_id: int, *, media: dict[str, Any] | None,
    caption: str, agent_id: int | None = None, received_at: datetime | None = None,
) -> bool:
    """Keep one part until its album is relayed; False if it was kept before (handled again)."""
    try:
        await AlbumPart.create(
            ticket=ticket, album=album, direction=direction, message_id=message_id, media=media, caption=caption,
            agent_id=agent_id, received_at=(received_at or datetime.now(UTC)).astimezone(UTC),
        )
    except IntegrityError:
        return False
    return True


async def take(album: str, wait: timedelta, now: datetime | None = None) -> list[AlbumPart] | Pending:
    """The album's parts not yet taken, in message order, if none has come for ``wait`` (each part
    goes to one caller only; [] when another took them); else when to ask again."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    newest = await AlbumPart.filter(album=album, claim__isnull=True).order_by("-received_at").first()
    if newest is None:
        return []
    latest = newest.received_at
    if now < latest + wait:
        return Pending(latest + wait)
    token = secrets.token_hex(8)
    await AlbumPart.filter(album=album, claim__isnull=True).update(claim=token)
    return list(await AlbumPart.filter(album=album, claim=token).order_by("message_id"))


async def relayed(parts: list[AlbumPart]) -> None:
    """The parts went across: their rows go (what they said is the ticket's message now)."""
    await AlbumPart.filter(id__in=[p.id for p in parts]).delete()


async def stale_albums(older_than: datetime) -> list[str]:
    """Albums whose parts wait since before ``older_than`` (their process stopped before relaying them)."""
    rows = await AlbumPart.filter(claim__isnull=True, received_at__lt=older_than.astimezone(UTC)).distinct().values_list("album", flat=True)
    return sorted(set(rows))
