"""Tickets between the customer's private chat and the agent group.

A ticket has one topic in the agent group (a forum supergroup); its first post is the customer
card. What the customer writes while the ticket is active is copied into the topic; what an agent
writes in the topic reaches the customer; /note stays internal.
"""

from __future__ import annotations

import html
import logging
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import BadRequest, Forbidden
from telegram.ext import Application, ApplicationHandlerStop, ContextTypes

from bot.config import Settings
from bot.i18n import LANGUAGE_NAMES, text
from handlers.common import customer_and_language, customer_of
from knowledge_base.orders.service import orders_for
from knowledge_base.orders.sources import OrderSourceUnavailable
from ticketing.business_hours import BusinessCalendar
from ticketing.customers import mark_blocked
from ticketing.models import Agent, Customer, Ticket
from ticketing.sla import due_escalations, due_reminders
from ticketing.service import (
    SlaPolicy,
    Source,
    active_ticket,
    add_agent_reply,
    add_customer_message,
    add_note,
    claim,
    close,
    open_ticket,
    record_agent,
)

log = logging.getLogger(__name__)
CLAIM, CLOSE = "tk:claim", "tk:close"
WORKING = ("new", "open", "pending")
REMINDER_LEAD = timedelta(minutes=15)


def sla_policy(settings: Settings) -> SlaPolicy:
    opens, closes = settings.tickets.business_hours.split("-")
    calendar = BusinessCalendar(
        timezone=ZoneInfo(settings.scheduler.timezone),
        opens=time.fromisoformat(opens),
        closes=time.fromisoformat(closes),
        workdays=frozenset(d - 1 for d in settings.tickets.workdays),
        country=settings.tickets.holidays or None,
    )
    return SlaPolicy(calendar=calendar)


def _settings(context: ContextTypes.DEFAULT_TYPE) -> Settings:
    return context.bot_data["settings"]


def _now(context: ContextTypes.DEFAULT_TYPE) -> datetime:
    return context.bot_data.get("clock", lambda: datetime.now(UTC))()


def _local(context: ContextTypes.DEFAULT_TYPE, moment: datetime) -> str:
    return f"{moment.astimezone(ZoneInfo(_settings(context).scheduler.timezone)):%Y-%m-%d %H:%M}"


# -- the customer's side -----------------------------------------------------------------------


async def open_for(
    update: Update, context: ContextTypes.DEFAULT_TYPE, customer: Customer, language: str, said: str,
    source: Source, order_no: str | None = None,
) -> Ticket:
    """Open (or join) the customer's ticket with what they said, and tell them what happens next."""
    opened = await open_ticket(
        customer, text=said, source=source, now=_now(context), policy=context.bot_data["sla"], order_no=order_no
    )
    ticket = opened.ticket
    if opened.created:
        await post_ticket(context, ticket, customer, said)
        await update.effective_message.reply_text(
            text(language, "ticket_opened", number=ticket.id, due=_local(context, ticket.first_response_due))
        )
    else:
        await _post_in_topic(context, ticket, text=f"💬 {said}")
    return ticket


async def complaint_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    customer, language = await customer_and_language(update)
    said = " ".join(context.args)
    if not said:
        await update.message.reply_text(text(language, "complaint_prompt"))
        context.user_data["complaint_next"] = True
        return
    await open_for(update, context, customer, language, said, "complaint")


async def human_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    customer, language = await customer_and_language(update)
    await open_for(update, context, customer, language, " ".join(context.args) or "/human", "handoff")


async def relay_from_customer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """While a ticket is being worked, everything the customer sends goes to its topic (group -2)."""
    customer = await customer_of(update)
    ticket = await active_ticket(customer)
    message = update.effective_message
    if ticket is None or ticket.status not in WORKING:
        if context.user_data.pop("complaint_next", False) and message.text:
            await open_for(update, context, customer, customer.language, message.text, "complaint")
            raise ApplicationHandlerStop
        return
    if update.edited_message is not None:
        await _post_in_topic(context, ticket, text=text(_agent_language(context), "agent_customer_edited", text=message.text or ""))
        raise ApplicationHandlerStop
    copied = await _copy_into_topic(context, ticket, message)
    await add_customer_message(
        ticket, text=message.text or message.caption or "", now=_now(context), policy=context.bot_data["sla"],
        media=_media(message), customer_message_id=message.message_id,
    )
    log.debug("customer message %s → ticket %s topic message %s", message.message_id, ticket.id, copied)
    raise ApplicationHandlerStop


# -- the agent group ---------------------------------------------------------------------------


async def post_ticket(context: ContextTypes.DEFAULT_TYPE, ticket: Ticket, customer: Customer, said: str) -> None:
    """A topic named "#123 · Logistics · Wang Fang" and the customer card as its first post."""
    group = _settings(context).telegram.agent_chat_id
    if group is None:
        log.warning("ticket %s opened but no agent group is configured (KEFU_TELEGRAM__AGENT_CHAT_ID)", ticket.id)
        return
    language = _agent_language(context)
    name = f"#{ticket.id} · {text(language, 'category_' + ticket.category)} · {customer.display_name}"[:128]
    try:
        topic = await context.bot.create_forum_topic(group, name)
        ticket.topic_id = topic.message_thread_id
    except BadRequest:  # not a forum: tickets go to the group itself, agents reply to the card
        ticket.topic_id = None
    card = await context.bot.send_message(
        group, await _card(context, ticket, customer, said), message_thread_id=ticket.topic_id,
        reply_markup=InlineKeyboardMarkup([[
            InlineKeyboardButton(text(language, "agent_button_claim"), callback_data=f"{CLAIM}:{ticket.id}"),
            InlineKeyboardButton(text(language, "agent_button_close"), callback_data=f"{CLOSE}:{ticket.id}"),
        ]]),
    )
    ticket.card_message_id = card.message_id
    await ticket.save(update_fields=["topic_id", "card_message_id"])


async def _card(context: ContextTypes.DEFAULT_TYPE, ticket: Ticket, customer: Customer, said: str) -> str:
    language = _agent_language(context)
    none = text(language, "agent_none")
    try:
        orders = (await orders_for(customer, source=context.bot_data["orders"])).orders
    except OrderSourceUnavailable:
        orders = ()
    earlier = await Ticket.filter(customer=customer).exclude(id=ticket.id).order_by("-id").limit(5)
    username = f" @{customer.username}" if customer.username else ""
    return text(
        language, "agent_ticket_card",
        number=ticket.id, category=text(language, "category_" + ticket.category), priority=ticket.priority,
        repeat=text(language, "agent_repeat", number=ticket.repeat_of_id) if ticket.repeat_of_id else "",
        customer=customer.display_name + username, lang=LANGUAGE_NAMES.get(customer.language, customer.language),
        phone=text(language, "agent_verified" if customer.phone else "agent_unverified"),
        orders=", ".join(f"{o.order_no} ({o.status.value})" for o in orders) or none,
        earlier=", ".join(f"#{t.id} {t.status}" for t in earlier) or none,
        due=_local(context, ticket.first_response_due), text=said,
    )


async def relay_from_agent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """An agent's message in a ticket topic goes to the customer, signed if the shop wants."""
    message = update.effective_message
    ticket = await _ticket_here(message)
    if ticket is None or ticket.status == "closed":
        return
    agent = await _agent(update, context)
    customer = await ticket.customer
    signature = text(customer.language, "ticket_signature", agent=agent.name) if _settings(context).tickets.sign_replies else ""
    try:
        if message.text:
            sent = await context.bot.send_message(customer.telegram_id, "\n\n".join(p for p in (message.text, signature) if p))
            sent_id = sent.message_id
        else:
            caption = "\n\n".join(p for p in (message.caption, signature) if p) or None
            sent_id = (await message.copy(customer.telegram_id, caption=caption)).message_id
    except Forbidden:
        await mark_blocked(customer)
        await message.reply_text(text(_agent_language(context), "agent_customer_blocked"))
        return
    await add_agent_reply(
        ticket, agent, text=message.text or message.caption or "", now=_now(context), media=_media(message),
        group_message_id=message.message_id,
    )
    log.debug("agent message %s → customer message %s", message.message_id, sent_id)


async def note_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ticket = await _ticket_here(update.effective_message)
    language = _agent_language(context)
    if ticket is None:
        await update.effective_message.reply_text(text(language, "agent_not_a_ticket"))
        return
    await add_note(ticket, await _agent(update, context), " ".join(context.args), _now(context))
    await update.effective_message.reply_text(text(language, "agent_note_saved"))


async def close_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ticket = await _ticket_here(update.effective_message)
    if ticket is None:
        await update.effective_message.reply_text(text(_agent_language(context), "agent_not_a_ticket"))
        return
    await _close(update, context, ticket)


async def claim_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ticket = await _ticket_here(update.effective_message)
    if ticket is None:
        await update.effective_message.reply_text(text(_agent_language(context), "agent_not_a_ticket"))
        return
    agent = await _agent(update, context)
    won = await claim(ticket.id, agent, _now(context))
    language = _agent_language(context)
    await update.effective_message.reply_text(
        text(language, "agent_claimed", agent=agent.name) if won else text(language, "agent_already_claimed")
    )


async def card_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Claim / Close under a card: only members of the agent group, only for a real ticket."""
    query = update.callback_query
    language = _agent_language(context)
    action, _, number = query.data.rpartition(":")
    group = _settings(context).telegram.agent_chat_id
    ticket = await Ticket.get_or_none(id=int(number)) if number.isdigit() else None
    if ticket is None or query.message is None or query.message.chat_id != group or not await _is_member(context, group, query.from_user.id):
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    agent = await _agent(update, context)
    if action == CLAIM:
        won = await claim(ticket.id, agent, _now(context))
        await query.answer(text(language, "agent_claimed" if won else "agent_already_claimed", agent=agent.name))
        if won:
            await context.bot.send_message(group, text(language, "agent_claimed", agent=agent.name), message_thread_id=ticket.topic_id)
    else:
        await query.answer()
        await _close(update, context, ticket)


async def _close(update: Update, context: ContextTypes.DEFAULT_TYPE, ticket: Ticket) -> None:
    agent = await _agent(update, context)
    await close(ticket, f"agent:{agent.telegram_id}", _now(context))
    customer = await ticket.customer
    try:
        await context.bot.send_message(customer.telegram_id, text(customer.language, "ticket_closed", number=ticket.id))
    except Forbidden:
        await mark_blocked(customer)
    await _post_in_topic(context, ticket, text=text(_agent_language(context), "agent_ticket_closed", number=ticket.id, agent=agent.name))
    if ticket.topic_id is not None:
        try:
            await context.bot.close_forum_topic(_settings(context).telegram.agent_chat_id, ticket.topic_id)
        except BadRequest:
            log.info("topic of ticket %s could not be closed (deleted by hand?)", ticket.id)


# -- helpers -----------------------------------------------------------------------------------


def _agent_language(context: ContextTypes.DEFAULT_TYPE) -> str:
    return _settings(context).telegram.agent_language


async def _agent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Agent:
    user = update.effective_user
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    return await record_agent(user.id, name, user.username, supervisor=user.id in _settings(context).telegram.supervisors)


async def _is_member(context: ContextTypes.DEFAULT_TYPE, group: int, user_id: int) -> bool:
    member = await context.bot.get_chat_member(group, user_id)
    return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER)


async def _ticket_here(message: Message) -> Ticket | None:
    """The ticket whose topic this message is in (or whose card it replies to, in a plain group)."""
    if message.is_topic_message and message.message_thread_id:
        return await Ticket.get_or_none(topic_id=message.message_thread_id)
    replied = message.reply_to_message
    return await Ticket.get_or_none(card_message_id=replied.message_id) if replied else None


async def _post_in_topic(context: ContextTypes.DEFAULT_TYPE, ticket: Ticket, *, text: str) -> None:
    group = _settings(context).telegram.agent_chat_id
    if group is not None:
        await context.bot.send_message(group, text, message_thread_id=ticket.topic_id,
                                       reply_to_message_id=None if ticket.topic_id else ticket.card_message_id)


async def _copy_into_topic(context: ContextTypes.DEFAULT_TYPE, ticket: Ticket, message: Message) -> int | None:
    group = _settings(context).telegram.agent_chat_id
    if group is None:
        return None
    copied = await message.copy(group, message_thread_id=ticket.topic_id,
                                reply_to_message_id=None if ticket.topic_id else ticket.card_message_id)
    return copied.message_id


def _media(message: Message) -> dict | None:
    if message.photo:
        return {"kind": "photo", "file_id": message.photo[-1].file_id}
    for kind in ("document", "voice", "video", "audio"):
        item = getattr(message, kind)
        if item is not None:
            return {"kind": kind, "file_id": item.file_id}
    return None


async def check_sla(app: Application) -> None:
    """Remind in the topic before a first response is due; at a breach, mention the supervisors."""
    settings: Settings = app.bot_data["settings"]
    group = settings.telegram.agent_chat_id
    if group is None:
        return
    now = app.bot_data.get("clock", lambda: datetime.now(UTC))()
    policy: SlaPolicy = app.bot_data["sla"]
    language = settings.telegram.agent_language
    zone = ZoneInfo(settings.scheduler.timezone)
    for ticket in await due_reminders(now, policy.calendar, REMINDER_LEAD):
        due = f"{ticket.first_response_due.astimezone(zone):%Y-%m-%d %H:%M}"
        await app.bot.send_message(group, text(language, "agent_sla_reminder", number=ticket.id, due=due),
                                   message_thread_id=ticket.topic_id)
    breached = await due_escalations(now)
    if not breached:
        return
    mentions = " ".join([
        f'<a href="tg://user?id={user_id}">{html.escape(await _supervisor_name(user_id))}</a>'
        for user_id in settings.telegram.supervisors
    ])
    for ticket in breached:
        notice = html.escape(text(language, "agent_sla_breached", number=ticket.id))
        await app.bot.send_message(group, f"{notice} {mentions}".strip(), parse_mode=ParseMode.HTML,
                                   message_thread_id=ticket.topic_id)


async def _supervisor_name(user_id: int) -> str:
    agent = await Agent.get_or_none(telegram_id=user_id)
    return agent.name if agent and agent.name else str(user_id)


async def sla_job(context: ContextTypes.DEFAULT_TYPE) -> None:
    await check_sla(context.application)
