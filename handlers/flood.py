"""Flood control: a customer who sends more than ``[telegram] flood_messages`` messages in
``flood_seconds`` gets one polite notice; the messages over the limit are not handled (the inbox
keeps them, marked ``throttled``), so one customer cannot take the bot from the others.

Button presses are counted apart from messages: tapping through a survey (ten presses in a few
seconds) must not cost the customer their next message, nor a burst of messages their next press.
Presses have the same allowance of their own, and a press over it is answered with a short
"please wait" toast — a press left unanswered spins on the customer's screen until Telegram
gives up — and not handled.

The inbox counts the sender's updates of both kinds together (bot/intake/inbox.py: one batched query
serves every update). Only past that count are the two kinds told apart, from the stored updates
themselves: their payload is encrypted, so they are read newest first, at most
:data:`READ_AT_MOST` times the allowance (a customer past that is flooding either way).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Update
from telegram.constants import ChatType
from telegram.error import BadRequest
from telegram.ext import ApplicationHandlerStop

from bot.context import KefuContext
from bot.core import crypto, sql
from bot.core.i18n import text
from bot.core.language import language_from_telegram
from bot.intake import inbox
from handlers.common import customer_and_language
from ticketing.customers import known_customer

log = logging.getLogger(__name__)
READ_AT_MOST = 4
_RECEIVED = "SELECT received_at FROM inbox_update WHERE update_id = ?"
_RECENT = """SELECT earlier.payload FROM inbox_update AS earlier, inbox_update AS this
    WHERE this.update_id = ? AND earlier.user_id = this.user_id AND earlier.chat_id = this.chat_id
    AND earlier.update_id <= this.update_id AND earlier.received_at >= ?
    ORDER BY earlier.update_id DESC LIMIT ?"""


async def slow_down(update: Update, context: KefuContext) -> None:
    settings = context.settings
    limit = settings.telegram.flood_messages
    chat = update.effective_chat
    if limit == 0 or chat is None or chat.type != ChatType.PRIVATE:
        return
    window = timedelta(seconds=settings.telegram.flood_seconds)
    if await inbox.sent_before(update.update_id, window) <= limit:
        return  # both kinds together are within the allowance, so each is
    pressed = update.callback_query is not None
    sent = await _alike_before(update.update_id, pressed, window, enough=limit + 2, read_at_most=READ_AT_MOST * (limit + 1))
    if sent <= limit:
        return
    await inbox.finish(update.update_id, status="throttled")
    if pressed:
        await _please_wait(update)
    elif sent == limit + 1:
        _customer, language = await customer_and_language(update)
        await context.bot.send_message(chat.id, text(language, "flood_slow_down"))
    raise ApplicationHandlerStop


async def _alike_before(update_id: int, pressed: bool, window: timedelta, *, enough: int, read_at_most: int) -> int:
    """How many updates of this one's kind (a press, or anything else) its sender sent into its
    chat in ``window`` up to it, this one included, counted up to ``enough``; ``enough`` as well
    when more than ``read_at_most`` updates of either kind came in the window."""
    this = await sql.rows(_RECEIVED, update_id)
    if not this:
        return 0
    since = sql.as_datetime(this[0]["received_at"]) - window  # type: ignore[operator]
    recent = await sql.rows(_RECENT, update_id, since, read_at_most + 1)
    alike = 0
    for row in recent[:read_at_most]:
        alike += ("callback_query" in crypto.reveal_json(row["payload"])) == pressed
        if alike >= enough:
            return alike
    return enough if len(recent) > read_at_most else alike


async def _please_wait(update: Update) -> None:
    """The toast under a throttled press, in the customer's language (nothing is written)."""
    user = update.callback_query.from_user
    customer = await known_customer(user.id)
    language = customer.language if customer else language_from_telegram(user.language_code)
    try:
        await update.callback_query.answer(text(language, "flood_please_wait"))
    except BadRequest as exc:  # handled after Telegram stopped waiting for the answer
        log.info("throttled press %s not answered: %s", update.update_id, exc.message)
