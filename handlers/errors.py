"""The last line of defence: log the failure, and tell the customer rather than fall silent."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError

from bot.context import KefuContext
from bot.core.i18n import text
from bot.core.language import language_from_telegram

log = logging.getLogger(__name__)


async def error_handler(update: object, context: KefuContext) -> None:
    log.error("update %s failed", getattr(update, "update_id", "?"), exc_info=context.error)
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    if update.effective_chat.type != ChatType.PRIVATE:
        return
    user = update.effective_user
    language = language_from_telegram(user.language_code if user else None)
    try:
        await context.bot.send_message(update.effective_chat.id, text(language, "error"))
    except TelegramError:
        log.warning("could not tell chat %s about the failure", update.effective_chat.id)
