"""The commands agents give in a ticket's topic (or replying to its card in a plain group), and
the card's buttons.

Commands call ticketing and answer whoever gave them; what a move means for the others (the
customer told, the topic closed) is handlers/agent_group.py's listener, so a command and the
scheduler's life-cycle job move a ticket alike. The watch (SLA reminders, tickets left unposted)
is scheduler/jobs.py, and what it tells the topic handlers/watch.py.
"""

from __future__ import annotations

import html
import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.constants import ParseMode

from bot.context import KefuApp, KefuContext
from bot.core.crypto import blind_indexes
from bot.core.fit import cut
from bot.core.i18n import Markup, html_text, text
from bot.telegram.longtext import reply_long
from handlers.agent_group import (
    agent_of,
    customer_card,
    forgotten_explained,
    is_member,
    local_time,
    post_in_topic,
    send_to_customer,
    ticket_here,
)
from handlers.callbacks import ClaimTicket, CloseTicket, SetPriority
from handlers.common import ECHO_LIMIT, TELEGRAM_ID_MAX, number
from handlers.quality import reminds_on_resolve
from ticketing.lifecycle import CLOSED, DONE
from ticketing.models import Agent, Ticket, TicketMessage
from ticketing.service import (
    add_note,
    assign,
    claim,
    close,
    list_tickets,
    reopen,
    resolve,
    set_pending,
    set_priority,
)
from ticketing.snippets import (
    SnippetError,
    delete_snippet,
    list_snippets,
    render_snippet,
    save_snippet,
)
from ticketing.triage import PRIORITIES, Priority

log = logging.getLogger(__name__)
VIEWS = ("open", "mine", "unassigned", "breaching")


# -- commands in a ticket's topic -------------------------------------------------------------


async def note_command(update: Update, context: KefuContext) -> None:
    ticket = await _ticket_or_explain(update, context)
    if ticket is None or await forgotten_explained(context, ticket, update.effective_message):
        return
    await add_note(ticket, await agent_of(update, context), " ".join(context.args), context.now())
    await update.effective_message.reply_text(text(context.agent_language, "agent_note_saved"))


async def claim_command(update: Update, context: KefuContext) -> None:
    ticket = await _ticket_or_explain(update, context)
    if ticket is None:
        return
    agent = await agent_of(update, context)
    won = await claim(ticket.id, agent, context.now())
    # Writing in the group made the agent online, and automatic assignment may have given it to them just now.
    won = won or await Ticket.filter(id=ticket.id, assignee_id=agent.id).exists()
    language = context.agent_language
    await update.effective_message.reply_text(
        text(language, "agent_claimed", agent=agent.name) if won else text(language, "agent_already_claimed")
    )


async def assign_command(update: Update, context: KefuContext) -> None:
    """/assign @username (or in reply to the agent's message): supervisors only."""
    language = context.agent_language
    ticket = await _ticket_or_explain(update, context)
    if ticket is None or not await supervisor_or_explain(update, context):
        return
    message = update.effective_message
    target: Agent | None = None
    if context.args:
        name = context.args[0].lstrip("@")
        if name.isdigit():  # a Telegram id (a username never starts with a digit)
            telegram_id = number(name, TELEGRAM_ID_MAX)
            target = await Agent.get_or_none(telegram_id=telegram_id) if telegram_id else None
        else:  # encrypted: by its blind index
            target = await Agent.filter(username_hash__in=blind_indexes("username", name)).first()
    elif message.reply_to_message and message.reply_to_message.from_user and not message.reply_to_message.from_user.is_bot:
        target = await Agent.get_or_none(telegram_id=message.reply_to_message.from_user.id)
    if target is None:
        await message.reply_text(text(language, "agent_assign_unknown" if context.args else "agent_assign_usage"))
        return
    if not await is_member(context, context.agent_chat_id, target.telegram_id):
        await message.reply_text(text(language, "agent_assign_not_member", agent=target.name))
        return
    supervisor = await agent_of(update, context)
    await assign(ticket, target, f"agent:{supervisor.telegram_id}", context.now())
    await message.reply_text(text(language, "agent_assigned", agent=target.name, supervisor=supervisor.name))


async def priority_command(update: Update, context: KefuContext) -> None:
    ticket = await _ticket_or_explain(update, context)
    if ticket is None:
        return
    level = context.args[0].lower() if context.args else ""
    if level not in PRIORITIES:
        await update.effective_message.reply_text(
            text(context.agent_language, "agent_priority_pick", number=ticket.id, priority=ticket.priority),
            reply_markup=_priority_buttons(ticket),
        )
        return
    await _set_priority(update, context, ticket, level)


def _priority_buttons(ticket: Ticket) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(("• " if p == ticket.priority else "") + p, callback_data=SetPriority(ticket.id, p).pack())
        for p in PRIORITIES
    ]])


async def _set_priority(update: Update, context: KefuContext, ticket: Ticket, level: str) -> None:
    await change_priority(context, ticket, await agent_of(update, context), level)


async def change_priority(context: KefuContext | KefuApp, ticket: Ticket, agent: Agent, level: Priority, origin: str = "") -> None:
    """The ticket's new priority and due times, told in its topic (``origin``: where it was changed,
    said after it, as the console's " (console)")."""
    bot_data = context.bot_data
    await set_priority(ticket, level, f"agent:{agent.telegram_id}", bot_data.now(), bot_data.sla)
    due = local_time(context, ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due)
    said = text(bot_data.agent_language, "agent_priority_set", agent=agent.name, priority=level, due=due)
    await post_in_topic(context, ticket, said + origin)


async def pending_command(update: Update, context: KefuContext) -> None:
    """Waiting for the customer: the SLA clock pauses until they write."""
    ticket = await _ticket_or_explain(update, context)
    if ticket is None:
        return
    agent = await agent_of(update, context)
    await set_pending(ticket, f"agent:{agent.telegram_id}", context.now())
    days = context.settings.tickets.pending_days
    await update.effective_message.reply_text(text(context.agent_language, "agent_pending", days=days))


async def resolve_command(update: Update, context: KefuContext) -> None:
    """Solved: the customer is told and can reopen by writing within ``reopen_days``."""
    ticket = await _ticket_or_explain(update, context)
    if ticket is None:
        return
    agent = await agent_of(update, context)
    if await reminds_on_resolve(update, context, ticket, agent):  # no closing phrase yet (质检): once
        return
    if not await resolve(ticket, f"agent:{agent.telegram_id}", context.now(), context.sla.calendar):
        await update.effective_message.reply_text(text(context.agent_language, "agent_not_open", status=ticket.status))
        return
    await update.effective_message.reply_text(text(context.agent_language, "agent_resolved", number=ticket.id, agent=agent.name))


async def close_command(update: Update, context: KefuContext) -> None:
    ticket = await _ticket_or_explain(update, context)
    if ticket is not None:
        await _close(update, context, ticket)


async def reopen_command(update: Update, context: KefuContext) -> None:
    ticket = await _ticket_or_explain(update, context)
    if ticket is None or await forgotten_explained(context, ticket, update.effective_message):
        return
    agent = await agent_of(update, context)
    if not await reopen(ticket, f"agent:{agent.telegram_id}", context.now()):  # the topic hears of it (agent_group.ticket_moved)
        key = "agent_reopen_other_active" if ticket.status in DONE else "agent_not_closed"
        await update.effective_message.reply_text(text(context.agent_language, key, number=ticket.id))


async def customer_command(update: Update, context: KefuContext) -> None:
    """The customer card again, as it stands now."""
    ticket = await _ticket_or_explain(update, context)
    if ticket is None:
        return
    customer = await ticket.customer
    await reply_long(update.effective_message, await customer_card(context, ticket, customer, ticket.subject))


async def snippet_command(update: Update, context: KefuContext) -> None:
    """/snippet NAME: send the canned reply, filled in for this ticket, to the customer."""
    ticket = await _ticket_or_explain(update, context)
    if ticket is None:
        return
    language = context.agent_language
    if not context.args:
        await _list_snippets(update, language)
        return
    if await forgotten_explained(context, ticket, update.effective_message):
        return
    customer = await ticket.customer
    name = context.args[0]
    try:
        rendered = await render_snippet(name, ticket, customer, await agent_of(update, context))
    except SnippetError as refused:  # saved by an older kefu, which let more than names through
        placeholder = refused.details.get("placeholder", "{")
        await update.effective_message.reply_text(text(language, "agent_snippet_stored_bad", name=name, placeholder=placeholder))
        return
    if rendered is None:
        await update.effective_message.reply_text(text(language, "agent_snippet_unknown", name=cut(name, ECHO_LIMIT)))
        return
    if ticket.status == CLOSED:
        await update.effective_message.reply_text(text(language, "agent_ticket_is_closed", number=ticket.id))
        return
    if await send_to_customer(update, context, ticket, update.effective_message, rendered):
        await reply_long(update.effective_message, text(language, "agent_snippet_sent", text=rendered))


async def snippets_command(update: Update, context: KefuContext) -> None:
    """/snippets · /snippets add NAME TEXT · /snippets delete NAME (adding and deleting: supervisors)."""
    language = context.agent_language
    message = update.effective_message
    args = context.args
    if not args:
        await _list_snippets(update, language)
        return
    if args[0] not in ("add", "delete") or len(args) < 2 or (args[0] == "add" and len(args) < 3):
        await message.reply_text(text(language, "agent_snippets_usage"))
        return
    if not await supervisor_or_explain(update, context):
        return
    name = args[1]
    if args[0] == "delete":
        key = "agent_snippet_deleted" if await delete_snippet(name) else "agent_snippet_unknown"
        await message.reply_text(text(language, key, name=cut(name, ECHO_LIMIT)))
        return
    body = message.text.split(None, 3)[3] if len(message.text.split(None, 3)) == 4 else ""
    try:
        await save_snippet(name, body, await agent_of(update, context))
    except SnippetError as refused:
        await message.reply_text(text(language, "agent_" + refused.code, **refused.details))
        return
    await message.reply_text(text(language, "agent_snippet_saved", name=name.lower()))


async def _list_snippets(update: Update, language: str) -> None:
    snippets = await list_snippets()
    if not snippets:
        await update.effective_message.reply_text(text(language, "agent_snippets_none"))
        return
    lines = [f"• {s.name}: {cut(s.text, 80)}" for s in snippets]
    await reply_long(update.effective_message, "\n".join([text(language, "agent_snippets_title"), *lines]))


async def tickets_command(update: Update, context: KefuContext) -> None:
    """/tickets [open|mine|unassigned|breaching]: the queue, most urgent first."""
    language = context.agent_language
    view = context.args[0].lower() if context.args else "open"
    if view not in VIEWS:
        await update.effective_message.reply_text(text(language, "agent_tickets_usage"))
        return
    agent = await agent_of(update, context)
    found = await list_tickets(view, agent, context.now())  # type: ignore[arg-type]
    if not found:
        await update.effective_message.reply_text(text(language, "agent_tickets_none", view=view))
        return
    lines = [html_text(language, "agent_tickets_title", view=view, count=len(found))]
    lines += [_ticket_line(context, t) for t in found]
    await reply_long(update.effective_message, "\n".join(lines), parse_mode=ParseMode.HTML, disable_web_page_preview=True)


async def ticket_command(update: Update, context: KefuContext) -> None:
    """/ticket N: one ticket's state and a link to its topic."""
    language = context.agent_language
    given = context.args[0].lstrip("#") if context.args else ""
    ticket_id = number(given)
    ticket = await Ticket.get_or_none(id=ticket_id).prefetch_related("customer", "assignee") if ticket_id else None
    if ticket is None:
        await update.effective_message.reply_text(text(language, "agent_ticket_unknown", number=cut(given, ECHO_LIMIT) or "?"))
        return
    due = ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due
    await reply_long(
        update.effective_message,
        html_text(
            language, "agent_ticket_summary", line=Markup(_ticket_line(context, ticket)), status=ticket.status,
            category=text(language, "category_" + ticket.category),
            assignee=ticket.assignee.name if ticket.assignee else text(language, "agent_nobody"),
            due=local_time(context, due) if due else "—", reopened=ticket.reopen_count,
            messages=await TicketMessage.filter(ticket=ticket).count(),
        ),
        parse_mode=ParseMode.HTML, disable_web_page_preview=True,
    )


def _ticket_line(context: KefuContext, ticket: Ticket) -> str:
    group = str(context.agent_chat_id or "")
    name = html.escape(f"#{ticket.id} · {ticket.customer.display_name}")
    if ticket.topic_id and group.startswith("-100"):
        name = f'<a href="https://t.me/c/{group[4:]}/{ticket.topic_id}">{name}</a>'
    who = html.escape(ticket.assignee.name) if ticket.assignee else "—"
    due = ticket.first_response_due if ticket.first_response_at is None else ticket.resolution_due
    return f"{name} · {html.escape(ticket.status)} · {html.escape(ticket.priority)} · {who} · ⏱ {local_time(context, due) if due else '—'}"


async def card_button(update: Update, context: KefuContext, pressed: ClaimTicket | SetPriority | CloseTicket) -> None:
    """Claim / Priority / Close under a card: only members of the agent group, only for a real ticket."""
    query = update.callback_query
    language = context.agent_language
    group = context.agent_chat_id
    ticket = await Ticket.get_or_none(id=pressed.ticket_id)
    if ticket is None or query.message is None or query.message.chat_id != group or not await is_member(context, group, query.from_user.id):
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    if isinstance(pressed, ClaimTicket):
        agent = await agent_of(update, context)
        won = await claim(ticket.id, agent, context.now())
        await query.answer(text(language, "agent_claimed" if won else "agent_already_claimed", agent=agent.name))
        if won:
            await post_in_topic(context, ticket, text(language, "agent_claimed", agent=agent.name))
    elif isinstance(pressed, SetPriority) and pressed.level is None:
        await query.answer()
        await post_in_topic(context, ticket, text(language, "agent_priority_pick", number=ticket.id, priority=ticket.priority),
                            reply_markup=_priority_buttons(ticket))
    elif isinstance(pressed, SetPriority):
        await query.answer()
        await _set_priority(update, context, ticket, pressed.level)
    else:
        await query.answer()
        await _close(update, context, ticket)


async def _close(update: Update, context: KefuContext, ticket: Ticket) -> None:
    """The customer and the topic are told, the topic closed (agent_group.ticket_moved), as when the job closes it."""
    agent = await agent_of(update, context)
    if not await close(ticket, f"agent:{agent.telegram_id}", context.now(), context.sla.calendar):
        await post_in_topic(context, ticket, text(context.agent_language, "agent_ticket_is_closed", number=ticket.id))


async def supervisor_or_explain(update: Update, context: KefuContext) -> bool:
    if update.effective_user.id in context.settings.telegram.supervisors:
        return True
    await update.effective_message.reply_text(text(context.agent_language, "agent_supervisors_only"))
    return False


async def _ticket_or_explain(update: Update, context: KefuContext) -> Ticket | None:
    ticket = await ticket_here(update.effective_message)
    if ticket is None:
        await update.effective_message.reply_text(text(context.agent_language, "agent_not_a_ticket"))
    return ticket
