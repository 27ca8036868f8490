"""Canned replies: agents save a text once and send it with /snippet NAME.

Placeholders are filled per ticket: {customer_name}, {order_no}, {ticket_no}, {agent_name}. A
placeholder with nothing to fill (no order on the ticket) stays visible as "—" rather than
breaking the reply.

A placeholder is a name and nothing more. str.format would take more — a format spec
(``{ticket_no:x>20000}`` pads the number to 20,000 characters: five messages to the customer), a
conversion (``{ticket_no!r}``), attribute or index access (``{a.b}``, ``{a[0]}``) — so a text
with any of these, or with a name not in :data:`PLACEHOLDERS`, is refused when it is saved, naming
the placeholder. The text is read with :class:`string.Formatter`'s parser (``{{`` and ``}}`` are
literal braces, as in str.format) and filled in here, name by name, never by str.format: a
snippet an older kefu let through is refused when it is sent, the same way, and not run.
"""

from __future__ import annotations

import re
import string

from bot.core.fit import cut, storable
from ticketing.models import Agent, Customer, Snippet, Ticket

PLACEHOLDERS = ("customer_name", "order_no", "ticket_no", "agent_name")
NAME = re.compile(r"^[\w-]{1,32}$")
SHOWN = 40
"""Characters of an offending placeholder quoted back to the agent."""


class SnippetError(ValueError):
    """A snippet that cannot be saved, or sent; ``code`` names the catalog text explaining why."""

    def __init__(self, code: str, **details: str) -> None:
        super().__init__(code)
        self.code, self.details = code, details


def _check(name: str, text: str) -> None:
    if not NAME.match(name):
        raise SnippetError("snippet_bad_name")
    if not text.strip():
        raise SnippetError("snippet_empty")
    _pieces(text)


def _pieces(text: str) -> list[tuple[str, str | None]]:
    """The text as (literal text, placeholder name or None) pairs, or :class:`SnippetError` naming
    the first placeholder that is not a known name alone."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError:  # a lone { or }, or a placeholder never closed
        raise SnippetError("snippet_bad_braces") from None
    pieces: list[tuple[str, str | None]] = []
    for literal, field, spec, conversion in parsed:
        if field is not None:
            written = "{" + field + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            if spec or conversion or "." in field or "[" in field:
                raise SnippetError("snippet_not_plain", placeholder=cut(written, SHOWN))
            if field not in PLACEHOLDERS:
                raise SnippetError("snippet_unknown_placeholder", placeholder=cut(written, SHOWN))
        pieces.append((literal, field))
    return pieces


async def save_snippet(name: str, text: str, author: Agent) -> bool:
    """Create or replace; True if it is new."""
    name = name.lower()
    _check(name, text)
    _, created = await Snippet.update_or_create(name=name, defaults={"text": storable(text.strip()), "author": author})
    return created


async def delete_snippet(name: str) -> bool:
    return NAME.match(name) is not None and bool(await Snippet.filter(name=name.lower()).delete())


async def list_snippets() -> list[Snippet]:
    return await Snippet.all().order_by("name")


async def render_snippet(name: str, ticket: Ticket, customer: Customer, agent: Agent) -> str | None:
    """The snippet's text for this ticket, or None if there is no such snippet; :class:`SnippetError`
    for one saved with a placeholder that is not a known name alone (by an older kefu)."""
    snippet = await Snippet.get_or_none(name=name.lower()) if NAME.match(name) else None
    if snippet is None:
        return None
    values = {
        "customer_name": customer.display_name,
        "order_no": ticket.order_no or "—",
        "ticket_no": str(ticket.id),
        "agent_name": agent.name or "—",
    }
    return "".join(literal + (values[field] if field is not None else "") for literal, field in _pieces(snippet.text))
