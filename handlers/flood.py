"""Flood control: a customer who sends more than ``[telegram] flood_messages`` updates in
``flood_seconds`` gets one polite notice; the updates over the limit are not handled (the inbox
keeps them, marked ``throttled``), so one customer cannot take the bot from the others."""

from __future__ import annotations

from datetime import timedelta

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from bot import inbox
from bot.config import Settings
from bot.i18n import text
from handlers.common import customer_and_language


async def slow_down(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    settings: Settings = context.bot_data["settings"]
    limit = settings.telegram.flood_messages
    chat = update.effective_chat
    if limit == 0 or chat is None or chat.type != ChatType.PRIVATE:
        return
    sent = await inbox.sent_before(update.update_id, timedelta(seconds=settings.telegram.flood_seconds))
    if sent <= limit:
        return
    await inbox.finish(update.update_id, status="throttled")
    if sent == limit + 1:
        _customer, language = await customer_and_language(update)
        await context.bot.send_message(chat.id, text(language, "flood_slow_down"))
    raise ApplicationHandlerStop
