"""Canned replies: agents save a text once and send it with /snippet NAME.

Placeholders are filled per ticket: {customer_name}, {order_no}, {ticket_no}, {agent_name}. A
placeholder with nothing to fill (no order on the ticket) stays visible as "—" rather than
breaking the reply; an unknown one is refused when the snippet is saved.
"""

from __future__ import annotations

import re
import string

from ticketing.models import Agent, Customer, Snippet, Ticket

PLACEHOLDERS = ("customer_name", "order_no", "ticket_no", "agent_name")
NAME = re.compile(r"^[\w-]{1,32}$")


class SnippetError(ValueError):
    """A snippet that cannot be saved; ``code`` names the catalog text explaining why."""

    def __init__(self, code: str, **details: str) -> None:
        super().__init__(code)
        self.code, self.details = code, details


def _check(name: str, text: str) -> None:
    if not NAME.match(name):
        raise SnippetError("snippet_bad_name")
    if not text.strip():
        raise SnippetError("snippet_empty")
    try:
        used = {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}
    except ValueError:
        raise SnippetError("snippet_bad_braces") from None
    unknown = used - set(PLACEHOLDERS)
    if unknown:
        raise SnippetError("snippet_unknown_placeholder", placeholder="{" + sorted(unknown)[0] + "}")


async def save_snippet(name: str, text: str, author: Agent) -> bool:
    """Create or replace; True if it is new."""
    name = name.lower()
    _check(name, text)
    _, created = await Snippet.update_or_create(name=name, defaults={"text": text.strip(), "author": author})
    return created


async def delete_snippet(name: str) -> bool:
    return bool(await Snippet.filter(name=name.lower()).delete())


async def list_snippets() -> list[Snippet]:
    return await Snippet.all().order_by("name")


async def render_snippet(name: str, ticket: Ticket, customer: Customer, agent: Agent) -> str | None:
    """The snippet's text for this ticket, or None if there is no such snippet."""
    snippet = await Snippet.get_or_none(name=name.lower())
    if snippet is None:
        return None
    values = {
        "customer_name": customer.display_name,
        "order_no": ticket.order_no or "—",
        "ticket_no": str(ticket.id),
        "agent_name": agent.name or "—",
    }
    return snippet.text.format_map(values)
