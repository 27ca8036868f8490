"""The agent group as the desk's adapter: one topic per ticket, the customer card, what goes
between a topic and its customer, and who hears of a ticket's moves.

In a forum supergroup every ticket has its topic, named like "#123 · Logistics · Wang Fang",
whose first post is the customer card. In a plain group the card and the customer's messages are
posted in the group and agents *reply* to them. A topic deleted by hand is recreated with a fresh
card the next time something has to go there. The commands agents give in a topic are
handlers/desk.py's; the ticket's rules are ticketing's.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    MessageEntity,
    Update,
)
from telegram.constants import ChatMemberStatus
from telegram.error import BadRequest, Forbidden

from bot.context import KefuApp, KefuContext
from bot.core.fit import cut
from bot.core.i18n import LANGUAGE_NAMES, text
from bot.telegram.longtext import reply_long, send_long
from bot.telegram.request import NotSent, watch
from handlers.callbacks import ClaimTicket, CloseTicket, SetPriority, TicketSolved
from handlers.kinds import pass_on
from handlers.script import for_customer
from orders.service import orders_for
from orders.sources import OrderSourceUnavailable
from orders.views import OrderView
from scheduler.models import SurveyResponse
from scheduler.surveys import recent_ratings
from ticketing.customers import mark_blocked
from ticketing.lifecycle import CLOSED, RESOLVED, StatusChange, log_event, ticket_opened
from ticketing.models import Agent, Customer, Ticket, TicketMessage
from ticketing.service import add_agent_reply, earlier_tickets, record_agent

log = logging.getLogger(__name__)
TOPIC_NAME_LIMIT = 128  # Telegram's
FORMATTING = frozenset({
    "bold", "italic", "underline", "strikethrough", "spoiler", "code", "pre", "text_link", "blockquote",
    "expandable_blockquote",
})
_FORUM_CHECKED = timedelta(minutes=10)
Sent = TypeVar("Sent")


def local_time(context: KefuContext | KefuApp, moment: datetime | None) -> str:
    """``moment`` in the shop's time, as agents read it; "—" for none (a ticket imported or seeded
    without SLA due times)."""
    if moment is None:
        return "—"
    return f"{moment.astimezone(ZoneInfo(context.bot_data.settings.scheduler.timezone)):%Y-%m-%d %H:%M}"


# -- posting into a ticket's topic ------------------------------------------------------------


async def post_ticket(
    context: KefuContext | KefuApp, ticket: Ticket, customer: Customer, said: str
) -> None:
    """A topic for the ticket (if the group is a forum) with the customer card as its first post.

    Each is asked of Telegram once, crash or not, whoever asks: the intent is claimed on the
    ticket as the request is written (bot/telegram/request.py; a conditional UPDATE, so of two
    posters — the customer's update and the watch that posts tickets left without a card — one
    goes on, the other leaves it), the result recorded as soon as it comes. An update handled
    again after a crash finds both; one whose process died while the request was on the wire
    finds the intent alone — the topic or card may exist — and makes no second one: the card then
    goes to the group itself (agents reply to it), and a card in doubt is not posted again.
    """
    group = context.bot_data.agent_chat_id
    if group is None:
        log.warning("ticket %s opened but no agent group is configured (KEFU_TELEGRAM__AGENT_CHAT_ID)", ticket.id)
        return
    if ticket.card_message_id is not None or ticket.card_requested_at is not None:
        if ticket.card_message_id is None:
            log.warning("the card of ticket %s may have been posted when a process died: not posted again", ticket.id)
        return
    try:
        if ticket.topic_id is None and ticket.topic_requested_at is not None:
            log.warning("the topic of ticket %s may have been made when a process died: its card goes to the group", ticket.id)
            said = f"{said}\n\n{text(context.bot_data.agent_language, 'agent_topic_in_doubt', number=ticket.id)}"
        elif ticket.topic_id is None and await _is_forum(context, group):
            try:
                with watch(_Intent(ticket, "topic_requested_at")):
                    topic = await context.bot.create_forum_topic(group, topic_name(context, ticket, customer))
                ticket.topic_id = topic.message_thread_id
                await ticket.save(update_fields=["topic_id"])  # at once: a crash now must not make a second topic
            except BadRequest as exc:  # no longer a forum, or no right to manage topics: the group itself
                log.warning("no topic for ticket %s (%s): its card goes to the group", ticket.id, exc.message)
        with watch(_Intent(ticket, "card_requested_at")):
            card, *_rest = await send_long(  # a long first message follows the card in further posts
                context.bot, group, await customer_card(context, ticket, customer, said), message_thread_id=ticket.topic_id,
                reply_markup=card_buttons(context, ticket), markup_on_first=True,
            )
    except _Taken:
        log.info("ticket %s is being posted by another update or process", ticket.id)
        return
    ticket.card_message_id = card.message_id
    await ticket.save(update_fields=["card_message_id"])
    await ticket_opened(ticket)  # it reached the desk: automatic assignment places it (handlers/assigning.py)


class _Taken(NotSent):
    """Another poster claimed the ticket's topic or card first."""


class _Intent:
    """Claims on the ticket, as its first request is written, that its topic or card is asked for."""

    def __init__(self, ticket: Ticket, field: str) -> None:
        self.ticket, self.field = ticket, field

    async def writing(self, endpoint: str, parameters: dict[str, Any]) -> None:
        if getattr(self.ticket, self.field) is not None:
            return  # claimed by this poster: a later part of the card, or the same request again
        moment = datetime.now(UTC)
        if not await Ticket.filter(id=self.ticket.id, **{f"{self.field}__isnull": True}).update(**{self.field: moment}):
            raise _Taken()
        setattr(self.ticket, self.field, moment)

    async def answered(self, endpoint: str, parameters: dict[str, Any]) -> None:
        """Nothing: the caller records the result."""


async def _is_forum(context: KefuContext | KefuApp, group: int) -> bool:
    """Whether the agent group has topics (asked of Telegram at most every 10 minutes, kept with
    the application): a plain group is never asked for a topic."""
    forums = context.bot_data.agent_group_is_forum
    known = forums.get(group)
    if known is None or datetime.now(UTC) - known[1] > _FORUM_CHECKED:
        try:
            chat = await context.bot.get_chat(group)
        except (BadRequest, Forbidden) as exc:
            log.warning("cannot see the agent group %s (%s)", group, exc.message)
            return False
        known = forums[group] = (bool(chat.is_forum), datetime.now(UTC))
    return known[0]


def topic_name(context: KefuContext | KefuApp, ticket: Ticket, customer: Customer) -> str:
    category = text(context.bot_data.agent_language, "category_" + ticket.category)
    return cut(f"#{ticket.id} · {category} · {customer.display_name}", TOPIC_NAME_LIMIT)


def card_buttons(context: KefuContext | KefuApp, ticket: Ticket) -> InlineKeyboardMarkup:
    language = context.bot_data.agent_language
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(text(language, "agent_button_claim"), callback_data=ClaimTicket(ticket.id).pack()),
        InlineKeyboardButton(text(language, "agent_button_priority"), callback_data=SetPriority(ticket.id).pack()),
        InlineKeyboardButton(text(language, "agent_button_close"), callback_data=CloseTicket(ticket.id).pack()),
    ]])


@dataclass(frozen=True)
class CardFacts:
    """What the customer card tells of the customer beside their names: the card in the topic and
    the console's Ticket page read the same."""

    orders: tuple[OrderView, ...]
    orders_unavailable: bool
    """The order source did not answer: ``orders`` is empty for that, not for want of orders."""
    earlier: list[Ticket]
    rated: list[SurveyResponse]


async def card_facts(context: KefuContext | KefuApp, ticket: Ticket, customer: Customer) -> CardFacts:
    try:
        orders, unavailable = (await orders_for(customer, source=context.bot_data.orders)).orders, False
    except OrderSourceUnavailable:
        orders, unavailable = (), True
    return CardFacts(orders, unavailable, await earlier_tickets(ticket), await recent_ratings(customer))


async def customer_card(context: KefuContext | KefuApp, ticket: Ticket, customer: Customer, said: str) -> str:
    language = context.bot_data.agent_language
    none = text(language, "agent_none")
    facts = await card_facts(context, ticket, customer)
    orders, earlier, rated = facts.orders, facts.earlier, facts.rated
    username = f" @{customer.username}" if customer.username else ""
    return text(
        language, "agent_ticket_card",
        number=ticket.id, category=text(language, "category_" + ticket.category), priority=ticket.priority,
        repeat=text(language, "agent_repeat", number=ticket.repeat_of_id) if ticket.repeat_of_id else "",
        customer=customer.display_name + username, lang=LANGUAGE_NAMES.get(customer.language, customer.language),
        segment=customer.segment, phone=text(language, "agent_verified" if customer.phone else "agent_unverified"),
        orders=", ".join(f"{o.order_no} ({o.status.value})" for o in orders) or none,
        earlier=", ".join(f"#{t.id} {t.status}" for t in earlier) or none,
        satisfaction=", ".join(f"{r.subject_key.replace('ticket:', '#')} {r.score}★" for r in rated) or none,
        due=local_time(context, ticket.first_response_due), text=said,
    )


async def to_topic(
    context: KefuContext | KefuApp, ticket: Ticket,
    send: Callable[[int | None, int | None], Awaitable[Sent]],
) -> Sent | None:
    """``send(thread_id, reply_to)`` into the ticket's topic: made first if the ticket was never
    posted (a crash after the customer was answered), made again if it was deleted by hand."""
    if context.bot_data.agent_chat_id is None:
        return None
    if ticket.card_message_id is None and ticket.card_requested_at is None:  # a crash came before its card
        await post_ticket(context, ticket, await Customer.get(id=ticket.customer_id), ticket.subject)
    reply_to = None if ticket.topic_id else ticket.card_message_id
    try:
        return await send(ticket.topic_id, reply_to)
    except BadRequest as exc:
        if ticket.topic_id is None or "thread not found" not in exc.message.lower():
            raise
    log.warning("the topic of ticket %s is gone; making a new one", ticket.id)
    customer = await Customer.get(id=ticket.customer_id)
    ticket.topic_id = ticket.card_message_id = None  # both gone with the topic
    ticket.topic_requested_at = ticket.card_requested_at = None
    await ticket.save(update_fields=["topic_id", "card_message_id", "topic_requested_at", "card_requested_at"])
    await post_ticket(context, ticket, customer, text(context.bot_data.agent_language, "agent_topic_recreated"))
    await log_event(ticket, "topic_recreated", "system", context.bot_data.now(), topic=ticket.topic_id)
    return await send(ticket.topic_id, None)


async def post_in_topic(
    context: KefuContext | KefuApp, ticket: Ticket, message: str, **options: object
) -> Message | None:
    """``message`` (of any length: a long one goes as several posts) in the ticket's topic; the first post."""
    group = context.bot_data.agent_chat_id

    async def send(thread: int | None, reply_to: int | None) -> Message:
        sent = await send_long(context.bot, group, message, message_thread_id=thread, reply_to_message_id=reply_to, **options)
        return sent[0]

    return await to_topic(context, ticket, send)


async def copy_into_topic(context: KefuContext, ticket: Ticket, message: Message) -> int | None:
    """The customer's message, copied into the ticket's topic; the id of the (first) post."""
    group = context.agent_chat_id

    async def send(thread: int | None, reply_to: int | None) -> Message:
        return await pass_on(
            context.bot, message, group, context.agent_language, message_thread_id=thread, reply_to_message_id=reply_to,
        )

    copied = await to_topic(context, ticket, send)
    return copied.message_id if copied else None


# -- agents in the group, and what they write to the customer ---------------------------------


async def agent_of(update: Update, context: KefuContext) -> Agent:
    user = update.effective_user
    name = " ".join(p for p in (user.first_name, user.last_name) if p)
    return await record_agent(user.id, name, user.username, supervisor=user.id in context.settings.telegram.supervisors)


async def is_member(context: KefuContext | KefuApp, group: int | None, user_id: int) -> bool:
    if group is None:
        return False
    try:
        member = await context.bot.get_chat_member(group, user_id)
    except BadRequest:  # "user not found": never was in the group
        return False
    return member.status in (ChatMemberStatus.OWNER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.MEMBER)


async def record_member(update: Update, context: KefuContext) -> None:
    """Everyone who writes in the agent group is known as an agent, so that /assign @name finds them."""
    if update.effective_user and not update.effective_user.is_bot:
        await agent_of(update, context)


async def ticket_here(message: Message) -> Ticket | None:
    """The ticket whose topic this message is in, or, in a plain group, whose message it replies to."""
    if message.is_topic_message and message.message_thread_id:
        return await Ticket.get_or_none(topic_id=message.message_thread_id)
    replied = message.reply_to_message
    if replied is None:
        return None
    ticket = await Ticket.get_or_none(card_message_id=replied.message_id)
    if ticket is None:
        posted = await TicketMessage.get_or_none(group_message_id=replied.message_id).only("ticket_id")
        ticket = await Ticket.get_or_none(id=posted.ticket_id) if posted else None
    return ticket


async def forgotten_explained(context: KefuContext, ticket: Ticket, message: Message) -> bool:
    """The ticket's customer was forgotten (/forgetme): the agent is told that nothing goes to them
    and nothing is kept here (notes included) until the customer writes to the bot again."""
    if (await Customer.get(id=ticket.customer_id)).forgotten_at is None:
        return False
    await message.reply_text(text(context.agent_language, "agent_customer_is_forgotten", number=ticket.id))
    return True


async def relay_from_agent(update: Update, context: KefuContext) -> None:
    """An agent's message in a ticket topic goes to the customer, signed if the shop wants."""
    message = update.effective_message
    ticket = await ticket_here(message)
    if ticket is None or await forgotten_explained(context, ticket, message):
        return
    if ticket.status == CLOSED:
        await message.reply_text(text(context.agent_language, "agent_ticket_is_closed", number=ticket.id))
        return
    await send_to_customer(update, context, ticket, message, message.text, formatting(message.entities))


def formatting(entities: tuple[MessageEntity, ...]) -> tuple[MessageEntity, ...]:
    """The agent's own formatting (bold, links…), to pass on; Telegram finds URLs and @names itself."""
    return tuple(e for e in entities if e.type in FORMATTING)


async def send_to_customer(
    update: Update, context: KefuContext, ticket: Ticket, message: Message, said: str | None,
    entities: tuple[MessageEntity, ...] = (),
) -> bool:
    """Text (``said``, with its ``entities``) or the agent's media message, with a "problem solved"
    button under it (under the last part of a long one)."""
    agent = await agent_of(update, context)
    customer = await ticket.customer
    converted = None  # in the customer's script (handlers/script.py), when that changed it
    try:
        if said and message.forward_origin is None:  # a forward is forwarded on, saying whom it is from
            (sent, *rest), converted = await text_to_customer(context, ticket, customer, agent, said, entities)
        else:
            if message.caption and message.forward_origin is None:
                converted = for_customer(context.settings, customer, message.caption)[0]
                converted = converted if converted != message.caption else None
            signature = signature_of(context, customer, agent)
            caption = "\n\n".join(p for p in (converted or message.caption, signature) if p) or None
            sent, rest = await pass_on(
                context.bot, message, customer.telegram_id, customer.language, caption=caption,
                reply_markup=solved_button(customer, ticket),
            ), []
    except Forbidden:
        await mark_blocked(customer)
        await message.reply_text(text(context.agent_language, "agent_customer_blocked"))
        return False
    await add_agent_reply(  # an answer to a resolved ticket reopens it
        ticket, agent, text=converted or said or message.caption or "", now=context.now(), policy=context.sla,
        media=media_of(message), group_message_id=message.message_id, customer_message_id=sent.message_id,
        parts=[[message.message_id, m.message_id] for m in (sent, *rest)] if rest else None,
    )
    if converted:  # the topic shows what the customer got
        await reply_long(message, text(context.agent_language, "agent_sent_converted", text=converted))
    log.debug("agent message %s → customer message %s", message.message_id, sent.message_id)
    return True


async def text_to_customer(
    context: KefuContext | KefuApp, ticket: Ticket, customer: Customer, agent: Agent, said: str,
    entities: tuple[MessageEntity, ...] = (),
) -> tuple[list[Message], str | None]:
    """An agent's text as the customer gets it: in their script, signed, "problem solved" under its
    last part. The posts sent, and the text converted (None when the script left it as it was).
    Raises ``Forbidden`` when the customer blocked the bot."""
    in_script, entities = for_customer(context.bot_data.settings, customer, said, entities)
    signed = "\n\n".join(p for p in (in_script, signature_of(context, customer, agent)) if p)
    sent = await send_long(
        context.bot, customer.telegram_id, signed, entities=entities, reply_markup=solved_button(customer, ticket),
    )
    return sent, in_script if in_script != said else None


def signature_of(context: KefuContext | KefuApp, customer: Customer, agent: Agent | None) -> str:
    """The line that signs an agent's message to the customer ('' when the shop signs none)."""
    if agent is None or not context.bot_data.settings.tickets.sign_replies:
        return ""
    return text(customer.language, "ticket_signature", agent=agent.name)


def solved_button(customer: Customer, ticket: Ticket) -> InlineKeyboardMarkup:
    """The "problem solved" button under an agent's message."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(text(customer.language, "ticket_button_solved"), callback_data=TicketSolved(ticket.id).pack())
    ]])


def media_of(message: Message) -> dict | None:
    if message.photo:
        return {"kind": "photo", "file_id": message.photo[-1].file_id}
    for kind in ("document", "voice", "video", "audio", "animation", "video_note", "sticker"):
        item = getattr(message, kind)
        if item is not None:
            return {"kind": kind, "file_id": item.file_id}
    return None


# -- who hears of a ticket's moves ------------------------------------------------------------


async def ticket_moved(app: KefuApp, change: StatusChange) -> None:
    """What a ticket's move means for the people around it, whoever made it (a status listener,
    see ticketing/lifecycle.py; bot/app.py registers it while the bot runs).

    Resolved by an agent: the customer is told; by the customer's button: the topic is; by the
    life-cycle job (no reply while pending): both. Closed by an agent: the customer and the topic
    are told and the topic is closed (when the agent banned the customer: the topic only closed, the ban says why); by the job: the topic is told and closed; when the customer
    is forgotten: nothing (handlers/privacy.py tells the topic once the data is gone). Reopened:
    a closed topic opens again, and the topic is told who reopened it — unless an agent did by
    writing to the customer. Whoever moved it gets their own answer from their handler.
    """
    ticket, by, tickets = change.ticket, change.by, app.bot_data.settings.tickets
    language = app.bot_data.agent_language
    if change.after is RESOLVED:
        if by == "system":
            await _tell(app, ticket, "ticket_auto_resolved", days=tickets.reopen_days)
            await post_in_topic(app, ticket, text(language, "agent_auto_resolved", number=ticket.id, days=tickets.pending_days))
        elif by == "customer":
            await post_in_topic(app, ticket, text(language, "agent_customer_solved", number=ticket.id))
        else:
            await _tell(app, ticket, "ticket_resolved", days=tickets.reopen_days)
    elif change.after is CLOSED and change.reason != "forgotten":
        if change.agent_telegram_id is not None and change.reason != "banned":  # a ban tells the customer nothing (handlers/spam.py)
            await _tell(app, ticket, "ticket_closed")
            agent = await agent_name(change.agent_telegram_id)
            await post_in_topic(app, ticket, text(language, "agent_ticket_closed", number=ticket.id, agent=agent))
        elif by == "system":
            await post_in_topic(app, ticket, text(language, "agent_auto_closed", number=ticket.id))
        await _topic_open(app, ticket, False)
    elif change.reopened:
        if change.before is CLOSED:
            await _topic_open(app, ticket, True)
        if by == "customer":
            await post_in_topic(app, ticket, text(language, "agent_customer_reopened", number=ticket.id))
        elif change.agent_telegram_id is not None and change.reason != "replied":
            agent = await agent_name(change.agent_telegram_id)
            await post_in_topic(app, ticket, text(language, "agent_reopened", number=ticket.id, agent=agent))


async def _topic_open(app: KefuApp, ticket: Ticket, open_: bool) -> None:
    """Close the ticket's topic, or reopen it (a topic deleted by hand stays as it is)."""
    group = app.bot_data.agent_chat_id
    if ticket.topic_id is None or group is None:
        return
    try:
        if open_:
            await app.bot.reopen_forum_topic(group, ticket.topic_id)
        else:
            await app.bot.close_forum_topic(group, ticket.topic_id)
    except BadRequest:
        log.info("topic of ticket %s could not be %s (deleted by hand?)", ticket.id, "reopened" if open_ else "closed")


async def _tell(app: KefuApp, ticket: Ticket, key: str, **values: object) -> None:
    """The ticket's customer gets the message ``key`` in their language (one who blocked the bot is marked so)."""
    customer = await Customer.get(id=ticket.customer_id)
    try:
        await app.bot.send_message(customer.telegram_id, text(customer.language, key, number=ticket.id, **values))
    except Forbidden:
        await mark_blocked(customer)


async def agent_name(user_id: int) -> str:
    """The agent's name, for posts that mention them (their Telegram id if none is known)."""
    agent = await Agent.get_or_none(telegram_id=user_id)
    return agent.name if agent and agent.name else str(user_id)

