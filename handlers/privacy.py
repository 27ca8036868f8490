"""/forgetme: the customer confirms with a button, kefu deletes their personal data
(:func:`bot.privacy.forget_customer`) and tells the agent group in each of their tickets.

Telegram keeps what was posted in the agent group: a bot may delete messages only within 48
hours, so kefu leaves the topics' history alone and says so in each topic. It does remove the
customer's name from the topic's title and replaces the customer card, which it posted itself.

Afterwards the customer stays forgotten until they write again themselves (what counts:
``handlers/common.py``): :func:`refuse_forgotten` turns away every other update of theirs, and
the desk refuses to reopen their tickets or write into them (``handlers/desk.py``, ``handlers/agent_group.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.constants import ChatType
from telegram.error import BadRequest, Forbidden
from telegram.ext import ApplicationHandlerStop

from bot.context import KefuContext
from bot.core.i18n import text
from bot.privacy import Forgotten, forget_customer
from handlers import agent_group
from handlers.callbacks import ForgetMe, KeepMyData
from handlers.common import customer_and_language, customer_of, writes_themselves
from ticketing.customers import known_customer
from ticketing.models import Customer, Ticket

log = logging.getLogger(__name__)


async def forgetme(update: Update, context: KefuContext) -> None:
    """What is deleted and what stays, and two buttons: nothing happens without the first."""
    _, language = await customer_and_language(update)
    buttons = InlineKeyboardMarkup([
        [InlineKeyboardButton(text(language, "forgetme_button_yes"), callback_data=ForgetMe().pack())],
        [InlineKeyboardButton(text(language, "forgetme_button_no"), callback_data=KeepMyData().pack())],
    ])
    await update.message.reply_text(text(language, "forgetme_confirm"), reply_markup=buttons)


async def button(update: Update, context: KefuContext, pressed: ForgetMe | KeepMyData) -> None:
    query = update.callback_query
    customer = await customer_of(update)
    language = customer.language
    if query.message is None or query.message.chat.type != "private":
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    await query.answer()
    if isinstance(pressed, KeepMyData):
        await query.edit_message_text(text(language, "forgetme_kept"))
        return
    forgotten = await forget_customer(customer, context.now(), context.sla.calendar)
    context.user_data.clear()  # else saved again after this update (bot/intake/conversation.py)
    if context.chat_data is not None:
        context.chat_data.clear()
    await query.edit_message_text(text(language, "forgetme_done"))
    await _tell_agents(context, customer, forgotten)


async def refuse_forgotten(update: Update, context: KefuContext) -> None:
    """Before every handler (group -98): a forgotten customer's update that is not a message of
    their own gets a polite word at most — a pressed button an answer, a shared contact a reply —
    and nothing is handled, so nothing is stored."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or chat.type != ChatType.PRIVATE or writes_themselves(update):
        return
    customer = await known_customer(user.id)
    if customer is None or customer.forgotten_at is None:
        return
    refused = text(customer.language, "forgotten_refused")
    if update.callback_query is not None:
        await update.callback_query.answer(refused, show_alert=True)
    elif update.message is not None:
        await update.message.reply_text(refused, reply_markup=ReplyKeyboardRemove())
    raise ApplicationHandlerStop


async def _tell_agents(context: KefuContext, customer: Customer, forgotten: Forgotten) -> None:
    """In each ticket's topic (or under its card in a plain group): the notice, a title without
    the name, the card replaced, the topic closed. A topic deleted by hand is left deleted."""
    group = context.agent_chat_id
    language = context.agent_language
    if group is None:
        return
    for ticket in forgotten.tickets:
        if ticket.topic_id is None and ticket.card_message_id is None:
            continue
        try:
            await context.bot.send_message(
                group, text(language, "agent_customer_forgotten", number=ticket.id),
                message_thread_id=ticket.topic_id, reply_to_message_id=None if ticket.topic_id else ticket.card_message_id,
            )
        except (BadRequest, Forbidden) as exc:  # the topic was deleted by hand, or the bot left
            log.info("ticket %s: no notice of the forgotten customer (%s)", ticket.id, exc.message)
            continue
        await _anonymise_topic(context, group, ticket, customer, language)


async def _anonymise_topic(
    context: KefuContext, group: int, ticket: Ticket, customer: Customer, language: str
) -> None:
    bot, topic, card = context.bot, ticket.topic_id, ticket.card_message_id
    steps: list[Callable[[], Awaitable[object]]] = []
    if card is not None:
        notice = text(language, "agent_card_forgotten", number=ticket.id)
        steps.append(lambda: bot.edit_message_text(notice, chat_id=group, message_id=card))
    if topic is not None:
        name = agent_group.topic_name(context, ticket, customer)
        steps += [lambda: bot.edit_forum_topic(group, topic, name=name), lambda: bot.close_forum_topic(group, topic)]
    for step in steps:
        try:
            await step()
        except BadRequest as exc:  # unchanged, already closed, or the card was deleted by hand
            log.info("ticket %s: %s", ticket.id, exc.message)
