"""Every change made in the console, recorded with who and when (``console_audit``).

A change to a ticket also shows in the ticket's own history (``ticket_event``, kind ``console``,
actor ``console:<telegram id>``, the action's name only: the details, which may quote a customer,
stay in the audit row, encrypted).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bot.console.models import ConsoleAudit
from bot.console.staff import Staff
from ticketing.lifecycle import log_event
from ticketing.models import Ticket


async def record(
    staff: Staff, action: str, target_kind: str, target_id: int | str, *, at: datetime | None = None, **details: Any
) -> ConsoleAudit:
    """``staff`` did ``action`` to the ``target_kind`` numbered ``target_id`` (``at``: the bot's
    clock where the change used it, else now)."""
    when = (at or datetime.now(UTC)).astimezone(UTC)
    row = await ConsoleAudit.create(
        agent_id=staff.agent.id, at=when, action=action, target_kind=target_kind, target_id=str(target_id), details=details
    )
    if target_kind == "ticket" and (ticket := await Ticket.get_or_none(id=int(target_id))) is not None:
        await log_event(ticket, "console", f"console:{staff.telegram_id}", when, action=action)
    return row
