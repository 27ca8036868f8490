"""/start and /help."""

from __future__ import annotations

from telegram import Update

from bot.context import KefuContext
from bot.core.i18n import text
from handlers.common import customer_of


async def start(update: Update, context: KefuContext) -> None:
    customer = await customer_of(update)
    await update.message.reply_text(text(customer.language, "start", name=customer.first_name))


async def help_command(update: Update, context: KefuContext) -> None:
    customer = await customer_of(update)
    await update.message.reply_text(text(customer.language, "help"))
