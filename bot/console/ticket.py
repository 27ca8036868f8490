"""The console's Ticket page: one ticket's conversation, customer card and history, its media,
and the agent group's actions on it.

Every action is the chat command's, through the same services (ticketing.service) and the same
handlers' helpers, so the ticket's topic and the customer hear of it as they would of the command:
the status listeners tell the customer and the topic of moves (handlers/agent_group.py
``ticket_moved``); claim, assign, priority, pending, resolve and notes are said in the topic as the
command's answer would be, followed by "(console)". Quality inspection applies as in the group:
the closing-phrase reminder on Resolve, forbidden phrases stopping a reply (sent anyway when the
agent ticks the box, counted as /send is). Each action is audited (bot/console/audit.py, which
also writes it in the ticket's history as a ``console`` row whose actor is ``console:TELEGRAM_ID``);
the service's own rows keep their ``agent:TELEGRAM_ID`` actor, which reports and listeners read.

Media previews go through the Bot API (getFile, then the file's download) for signed-in staff
only, up to :data:`MEDIA_LIMIT`, served inline only as the few types a browser shows without
running anything; anything else is a download.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy
from telegram import Message
from telegram.error import Forbidden, TelegramError

from bot.console import audit
from bot.console.auth import CONSOLE_BOT
from bot.console.staff import STAFF, Staff
from bot.console.ticket_view import media_file, ticket_page
from bot.context import KefuApp
from bot.core.i18n import text
from handlers.agent_group import is_member, post_in_topic, text_to_customer
from handlers.desk import change_priority
from handlers.quality import closing_phrase_missing, quoted, rules
from ticketing.customers import mark_blocked
from ticketing.lifecycle import CLOSED, PENDING, can_move, log_event
from ticketing.models import Agent, Customer, Ticket, TicketMessage
from ticketing.quality import OVERRIDE, warn
from ticketing.service import (
    add_agent_reply,
    add_note,
    assign,
    claim,
    close,
    resolve,
    set_pending,
)
from ticketing.triage import PRIORITIES

log = logging.getLogger(__name__)
routes = web.RouteTableDef()
MEDIA_LIMIT = 20 * 1024 * 1024
"""Bytes of a file the console previews: the Bot API's own download limit."""
INLINE_TYPES = frozenset({
    "image/jpeg", "image/png", "image/gif", "image/webp", "audio/ogg", "audio/mpeg", "audio/mp4",
    "video/mp4", "video/webm",
})
"""Served to be shown in the page; any other file (an HTML or SVG document a customer sent) is a download."""
KIND_TYPES = {"photo": "image/jpeg", "voice": "audio/ogg", "video_note": "video/mp4", "animation": "video/mp4"}
WRITTEN_LIMIT = 4096
"""Characters of a note or reply written in the console (a Telegram message's)."""


@dataclass
class Outcome:
    """What an action did: done (and audited), or why not — a catalog text for the agent."""

    done: bool
    key: str = ""
    values: dict[str, Any] = field(default_factory=dict)
    status: int = 409
    details: dict[str, Any] = field(default_factory=dict)
    """Done: what the audit and the history keep (ids and levels, never what anyone wrote)."""
    draft: str = ""
    """Refused: the text the agent wrote, given back to edit."""


Action = Callable[[KefuApp, Staff, Ticket, MultiDictProxy[Any]], Awaitable[Outcome]]


# -- the page ---------------------------------------------------------------------------------


@routes.get(r"/console/tickets/{ticket_id:\d{1,9}}")
async def ticket_view(request: web.Request) -> web.Response:
    done = request.query.get("done", "")
    notice = text(request[STAFF].language, "console_ticket_done_" + done) if done in ACTIONS else ""
    return await _render(request, int(request.match_info["ticket_id"]), notice=notice)


async def _render(request: web.Request, ticket_id: int, *, notice: str = "", status: int = 200, draft: str = "") -> web.Response:
    staff = request[STAFF]
    page = await ticket_page(request.app[CONSOLE_BOT], ticket_id, staff.language)
    if page is None:
        raise web.HTTPNotFound(text=text(staff.language, "console_ticket_unknown", number=ticket_id))
    context = {"page": page, "notice": notice, "refused": status >= 400, "draft": draft, "priorities": PRIORITIES}
    return aiohttp_jinja2.render_template("ticket.html", request, context, status=status)


# -- media --------------------------------------------------------------------------------------


@routes.get(r"/console/media/{message_id:\d{1,9}}")
async def media(request: web.Request) -> web.StreamResponse:
    """A file of a ticket's message (``?part=N``: the Nth of an album), fetched from Telegram."""
    bot = request.app[CONSOLE_BOT]
    part = request.query.get("part", "0")
    message = await TicketMessage.get_or_none(id=int(request.match_info["message_id"]))
    item = media_file(message, int(part)) if message is not None and part.isdigit() and len(part) < 4 else None
    if item is None:
        raise web.HTTPNotFound()
    try:
        file = await bot.bot.get_file(item["file_id"])
        if file.file_size is not None and file.file_size > MEDIA_LIMIT:
            raise web.HTTPRequestEntityTooLarge(MEDIA_LIMIT, file.file_size)
        data = bytes(await file.download_as_bytearray())
    except TelegramError as exc:  # gone from Telegram, too big for the Bot API, or Telegram unreachable
        log.info("media of ticket message %s not fetched: %s", message.id, exc)
        raise web.HTTPNotFound() from exc
    if len(data) > MEDIA_LIMIT:
        raise web.HTTPRequestEntityTooLarge(MEDIA_LIMIT, len(data))
    kind = item["kind"]
    guessed = KIND_TYPES.get(kind) or mimetypes.guess_type(file.file_path or "")[0] or "application/octet-stream"
    inline = guessed in INLINE_TYPES
    return web.Response(
        body=data, content_type=guessed if inline else "application/octet-stream",
        headers={"Content-Disposition": "inline" if inline else f'attachment; filename="{kind}-{message.id}"'},
    )


# -- actions ------------------------------------------------------------------------------------


@routes.post(r"/console/tickets/{ticket_id:\d{1,9}}/{action:[a-z]+}")
async def act(request: web.Request) -> web.Response:
    """One action on the ticket; done: back to the page saying so, else the page saying why not."""
    staff, bot = request[STAFF], request.app[CONSOLE_BOT]
    action = ACTIONS.get(request.match_info["action"])
    ticket = await Ticket.get_or_none(id=int(request.match_info["ticket_id"]))
    if action is None or ticket is None:
        raise web.HTTPNotFound()
    name = request.match_info["action"]
    outcome = await action(bot, staff, ticket, await request.post())
    if not outcome.done:
        said = text(staff.language, outcome.key, **outcome.values)
        return await _render(request, ticket.id, notice=said, status=outcome.status, draft=outcome.draft)
    await audit.record(staff, name, "ticket", ticket.id, at=bot.bot_data.now(), **outcome.details)  # and in the ticket's history
    raise web.HTTPSeeOther(f"/console/tickets/{ticket.id}?done={name}")


async def _in_topic(app: KefuApp, ticket: Ticket, said: str) -> Message | None:
    """``said`` in the ticket's topic; the change is made (and is audited) even when Telegram fails here."""
    try:
        return await post_in_topic(app, ticket, said)
    except TelegramError as exc:
        log.warning("ticket %s: the console's post in the topic failed (%s)", ticket.id, exc)
        return None


def _via(app: KefuApp) -> str:
    """What follows a post in the topic made from the console."""
    return text(app.bot_data.agent_language, "console_ticket_via")


def _actor(staff: Staff) -> str:
    """The service's actor for the agent: the chat commands' (reports and the listeners read it)."""
    return f"agent:{staff.telegram_id}"


async def _claim(app: KefuApp, staff: Staff, ticket: Ticket, _form: MultiDictProxy[Any]) -> Outcome:
    if await claim(ticket.id, staff.agent, app.bot_data.now()):
        language = app.bot_data.agent_language
        await _in_topic(app, ticket, text(language, "agent_claimed", agent=staff.agent.name) + _via(app))
        return Outcome(True)
    mine = await Ticket.filter(id=ticket.id, assignee_id=staff.agent.id).exists()
    return Outcome(False, "console_ticket_already_yours" if mine else "agent_already_claimed")


async def _assign(app: KefuApp, staff: Staff, ticket: Ticket, form: MultiDictProxy[Any]) -> Outcome:
    """Supervisors only, to an agent who is in the agent group (as /assign)."""
    if not staff.supervisor:
        return Outcome(False, "agent_supervisors_only", status=403)
    given = str(form.get("agent", ""))
    target = await Agent.get_or_none(id=int(given)) if given.isdigit() and len(given) < 10 else None
    if target is None:
        return Outcome(False, "console_ticket_assign_pick", status=400)
    if not await is_member(app, app.bot_data.agent_chat_id, target.telegram_id):
        return Outcome(False, "agent_assign_not_member", {"agent": target.name})
    await assign(ticket, target, _actor(staff), app.bot_data.now())
    said = text(app.bot_data.agent_language, "agent_assigned", agent=target.name, supervisor=staff.agent.name)
    await _in_topic(app, ticket, said + _via(app))
    return Outcome(True, details={"agent": target.telegram_id})


async def _priority(app: KefuApp, staff: Staff, ticket: Ticket, form: MultiDictProxy[Any]) -> Outcome:
    level = str(form.get("priority", ""))
    if level not in PRIORITIES:
        return Outcome(False, "console_ticket_priority_pick", status=400)
    await change_priority(app, ticket, staff.agent, level, _via(app))  # type: ignore[arg-type]
    return Outcome(True, details={"priority": level})


async def _pending(app: KefuApp, staff: Staff, ticket: Ticket, _form: MultiDictProxy[Any]) -> Outcome:
    if not can_move(ticket, PENDING):
        return Outcome(False, "agent_not_open", {"status": ticket.status})
    await set_pending(ticket, _actor(staff), app.bot_data.now())
    if ticket.status != PENDING:  # moved by someone else meanwhile
        return Outcome(False, "agent_not_open", {"status": ticket.status})
    days = app.bot_data.settings.tickets.pending_days
    await _in_topic(app, ticket, text(app.bot_data.agent_language, "agent_pending", days=days) + _via(app))
    return Outcome(True)


async def _resolve(app: KefuApp, staff: Staff, ticket: Ticket, _form: MultiDictProxy[Any]) -> Outcome:
    """As /resolve: reminded once of a closing phrase (质检); the customer is told by the listener."""
    now = app.bot_data.now()
    phrases = await closing_phrase_missing(app.bot_data.settings, ticket, staff.agent, now)
    if phrases is not None:
        return Outcome(False, "console_ticket_close_reminder", {"phrases": phrases})
    if not await resolve(ticket, _actor(staff), now, app.bot_data.sla.calendar):
        return Outcome(False, "agent_not_open", {"status": ticket.status})
    said = text(app.bot_data.agent_language, "agent_resolved", number=ticket.id, agent=staff.agent.name)
    await _in_topic(app, ticket, said + _via(app))
    return Outcome(True)


async def _close(app: KefuApp, staff: Staff, ticket: Ticket, _form: MultiDictProxy[Any]) -> Outcome:
    """As /close: the customer and the topic are told and the topic closed, by the listener."""
    if not await close(ticket, _actor(staff), app.bot_data.now(), app.bot_data.sla.calendar):
        return Outcome(False, "agent_not_open", {"status": ticket.status})
    return Outcome(True)


async def _note(app: KefuApp, staff: Staff, ticket: Ticket, form: MultiDictProxy[Any]) -> Outcome:
    """An internal note: kept with the ticket and shown in its topic, never sent to the customer."""
    written = _written(form)
    refused = await _cannot_write(ticket, written, closed_too=False)
    if refused is not None:
        return refused
    await add_note(ticket, staff.agent, written, app.bot_data.now())
    said = text(app.bot_data.agent_language, "console_ticket_topic_note", agent=staff.agent.name, text=written)
    await _in_topic(app, ticket, said)
    return Outcome(True)


async def _reply(app: KefuApp, staff: Staff, ticket: Ticket, form: MultiDictProxy[Any]) -> Outcome:
    """An agent's reply to the customer, as one written in the topic: inspected (质检), in the
    customer's script, signed, with "problem solved" under it, and shown in the topic."""
    written = _written(form)
    refused = await _cannot_write(ticket, written, closed_too=True)
    if refused is not None:
        return refused
    bot_data, agent = app.bot_data, staff.agent
    now, language = bot_data.now(), bot_data.agent_language
    if found := rules(bot_data.settings).forbidden_in(written):
        await warn(ticket, agent, "forbidden", now, phrases=found, message=None)
        if not form.get("anyway"):
            return Outcome(False, "console_ticket_quality_stopped", {"phrases": quoted(found)}, draft=written)
        await log_event(ticket, OVERRIDE, f"agent:{agent.telegram_id}", now, message=None)
    customer = await Customer.get(id=ticket.customer_id)
    try:
        sent, converted = await text_to_customer(app, ticket, customer, agent, written)
    except Forbidden:
        await mark_blocked(customer)
        return Outcome(False, "agent_customer_blocked", draft=written)
    message = await add_agent_reply(  # kept as soon as sent; an answer to a resolved ticket reopens it
        ticket, agent, text=converted or written, now=now, policy=bot_data.sla, customer_message_id=sent[0].message_id,
    )
    posted = await _in_topic(app, ticket, text(language, "console_ticket_topic_reply", agent=agent.name, text=written))
    if posted is not None:
        message.group_message_id = posted.message_id
        await message.save(update_fields=["group_message_id"])
    if converted:  # the topic shows what the customer got
        await _in_topic(app, ticket, text(language, "agent_sent_converted", text=converted))
    return Outcome(True, details={"message": message.id})


def _written(form: MultiDictProxy[Any]) -> str:
    value = form.get("text", "")
    return value.strip() if isinstance(value, str) else ""


async def _cannot_write(ticket: Ticket, written: str, *, closed_too: bool) -> Outcome | None:
    """Why nothing written can go with the ticket now, or None."""
    if not written:
        return Outcome(False, "console_ticket_write_something", status=400)
    if len(written) > WRITTEN_LIMIT:
        return Outcome(False, "console_ticket_too_long", {"limit": WRITTEN_LIMIT}, status=400, draft=written)
    if (await Customer.get(id=ticket.customer_id)).forgotten_at is not None:
        return Outcome(False, "agent_customer_is_forgotten", {"number": ticket.id})
    if closed_too and ticket.status == CLOSED:
        return Outcome(False, "console_ticket_is_closed", {"number": ticket.id}, draft=written)
    return None


ACTIONS: dict[str, Action] = {
    "claim": _claim, "assign": _assign, "priority": _priority, "pending": _pending, "resolve": _resolve,
    "close": _close, "note": _note, "reply": _reply,
}
