"""Tickets, the customer's side: opening one, writing to it, confirming its category, marking it
solved, and /mytickets.

While a ticket is active, everything the customer sends is copied into its topic in the agent
group (see :mod:`handlers.agent_group`); writing to a resolved ticket reopens it.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop

from bot.context import KefuContext
from bot.core.i18n import text
from handlers import agent_group, media
from handlers.callbacks import TicketCategory, TicketSolved
from handlers.common import customer_and_language, customer_of
from ticketing import copies
from ticketing.lifecycle import CLOSED, RESOLVED, can_move
from ticketing.models import Customer, Ticket
from ticketing.service import (
    Source,
    active_ticket,
    add_customer_message,
    handled_before,
    open_ticket,
    reopen,
    resolve,
    set_category,
)
from ticketing.triage import CATEGORIES

log = logging.getLogger(__name__)


async def open_for(
    update: Update, context: KefuContext, customer: Customer, language: str, said: str,
    source: Source, order_no: str | None = None,
) -> Ticket:
    """Open (or join) the customer's ticket with what they said, and tell them what happens next."""
    # Keyed by the customer's message, so that handling it again after a crash finds its ticket.
    message_id = update.message.message_id if update.message is not None else None
    opened = await open_ticket(
        customer, text=said, source=source, now=context.now(), policy=context.sla, order_no=order_no,
        valuable_customer=customer.segment == "vip", customer_message_id=message_id,
    )
    ticket = opened.ticket
    if not opened.created:
        await agent_group.post_in_topic(context, ticket, f"💬 {said}")
        return ticket
    told = text(language, "ticket_opened", number=ticket.id, due=agent_group.local_time(context, ticket.first_response_due))
    if ticket.is_complaint:  # the customer confirms what the complaint is about
        told += "\n\n" + text(language, "ticket_category_question", category=text(language, "category_" + ticket.category))
        await update.effective_message.reply_text(told, reply_markup=_category_buttons(language, ticket))
    else:
        await update.effective_message.reply_text(told)
    # After the customer's answer: in a burst the group's posts wait for Telegram's 20 a minute.
    # A crash between the two leaves the ticket without them, and the watch posts it.
    await agent_group.post_ticket(context, ticket, customer, said)
    return ticket


def _category_buttons(language: str, ticket: Ticket) -> InlineKeyboardMarkup:
    right = InlineKeyboardButton(
        text(language, "ticket_category_right"), callback_data=TicketCategory(ticket.id, ticket.category).pack()
    )
    others = [
        InlineKeyboardButton(text(language, "category_" + c), callback_data=TicketCategory(ticket.id, c).pack())
        for c in CATEGORIES if c != ticket.category
    ]
    return InlineKeyboardMarkup([[right], *(others[i:i + 2] for i in range(0, len(others), 2))])


async def complaint_command(update: Update, context: KefuContext) -> None:
    customer, language = await customer_and_language(update)
    said = after_command(update.message)
    if not said:
        await update.message.reply_text(text(language, "complaint_prompt"))
        context.user_data["complaint_next"] = True
        return
    await open_for(update, context, customer, language, said, "complaint")


async def human_command(update: Update, context: KefuContext) -> None:
    customer, language = await customer_and_language(update)
    await open_for(update, context, customer, language, after_command(update.message) or "/human", "handoff")


def after_command(message: Message) -> str:
    """What follows ``/command`` in a message, its lines kept (context.args would join the words)."""
    parts = (message.text or "").split(None, 1)
    return parts[1].strip() if len(parts) == 2 else ""


async def my_tickets(update: Update, context: KefuContext) -> None:
    """The customer's own tickets, newest first: never anyone else's."""
    customer, language = await customer_and_language(update)
    tickets = await Ticket.filter(customer=customer).order_by("-id").limit(10)
    if not tickets:
        await update.message.reply_text(text(language, "my_tickets_none"))
        return
    lines = [text(language, "my_tickets_title")]
    lines += [
        text(language, "my_tickets_line", number=t.id, category=text(language, "category_" + t.category),
             status=text(language, "ticket_status_" + t.status), opened=f"{t.created_at:%Y-%m-%d}")
        for t in tickets
    ]
    await update.message.reply_text("\n".join(lines))


async def relay_from_customer(update: Update, context: KefuContext) -> None:
    """While a ticket is active, everything the customer sends goes to its topic (group -2)."""
    customer = await customer_of(update)
    ticket = await active_ticket(customer)
    message = update.effective_message
    if ticket is None:
        if context.user_data.pop("complaint_next", False) and message.text:
            await open_for(update, context, customer, customer.language, message.text, "complaint")
            raise ApplicationHandlerStop
        return
    if message.contact is not None and message.contact.user_id == message.from_user.id:
        return  # their own phone: it verifies them (handlers/orders.py), not a message for the agents
    if update.edited_message is not None:
        if message.text is not None or message.caption is not None:  # not a live location moving
            await media.customer_edited(context, ticket, message)
        raise ApplicationHandlerStop
    if ticket.status == RESOLVED:  # writing again within the reopen window: not solved after all (the topic is told)
        await reopen(ticket, "customer", context.now())
    if (earlier := await handled_before(customer, message.message_id)) is not None:  # again, after a crash
        if earlier.created:  # it opened the ticket: the topic, the card and the answer may be missing
            await open_for(update, context, customer, customer.language, message.text or "", ticket.source)
        raise ApplicationHandlerStop
    if media.IN_ALBUM.filter(message):  # relayed with the rest of its album, once all of it is in
        if await copies.find(ticket, "in", message.message_id) is None:  # not again, after a crash
            await media.collect(context, ticket, message, "in")
        raise ApplicationHandlerStop
    copied = await agent_group.copy_into_topic(context, ticket, message)
    await add_customer_message(
        ticket, text=message.text or message.caption or "", now=context.now(), policy=context.sla,
        media=agent_group.media_of(message), customer_message_id=message.message_id, group_message_id=copied,
    )
    log.debug("customer message %s → ticket %s group message %s", message.message_id, ticket.id, copied)
    raise ApplicationHandlerStop


async def button(update: Update, context: KefuContext, pressed: TicketCategory | TicketSolved) -> None:
    """The customer's ticket buttons: confirm the category, or mark the problem solved.

    The ticket must be the presser's own and still active; anything else is refused.
    """
    query = update.callback_query
    customer, language = await customer_and_language(update)
    ticket = await Ticket.get_or_none(id=pressed.ticket_id, customer=customer)
    if ticket is None or ticket.status == CLOSED:
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    if isinstance(pressed, TicketCategory):
        await set_category(ticket, pressed.category, "customer", context.now())
        await query.answer()
        chosen = text(language, "ticket_category_chosen", category=text(language, "category_" + ticket.category))
        await query.edit_message_text(f"{query.message.text}\n\n{chosen}")
        await _rename_topic(context, ticket, customer)
        return
    if not can_move(ticket, RESOLVED):
        await query.answer(text(language, "ticket_already_resolved"))
        return
    # The customer is answered first, the topic told after (agent_group.ticket_moved): the group's posts
    # may wait for Telegram's 20 a minute, a pressed button should not.
    await query.answer()
    await query.edit_message_reply_markup(None)
    await query.message.reply_text(text(language, "ticket_solved_thanks", number=ticket.id, days=context.settings.tickets.reopen_days))
    await resolve(ticket, "customer", context.now(), context.sla.calendar)


async def _rename_topic(context: KefuContext, ticket: Ticket, customer: Customer) -> None:
    group = context.settings.telegram.agent_chat_id
    if ticket.topic_id is None or group is None:
        return
    try:
        await context.bot.edit_forum_topic(group, ticket.topic_id, name=agent_group.topic_name(context, ticket, customer))
    except BadRequest as exc:  # unchanged name, or the topic was deleted by hand
        log.info("topic of ticket %s not renamed: %s", ticket.id, exc.message)
    category = text(context.agent_language, "category_" + ticket.category)
    await agent_group.post_in_topic(context, ticket, text(context.agent_language, "agent_category_confirmed", category=category))
