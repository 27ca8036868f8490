"""Free text from customers, and whatever else they send that no other handler takes."""

from __future__ import annotations

from telegram import Update
from telegram.ext import ContextTypes

from bot.i18n import text
from handlers.common import customer_and_language, customer_of
from knowledge_base.smalltalk import match_smalltalk


async def message(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    customer, language = await customer_and_language(update)
    kind = match_smalltalk(update.message.text)
    if kind is not None:
        await update.message.reply_text(text(language, kind, name=customer.first_name))
        return
    await update.message.reply_text(text(language, "unknown_text"))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    customer = await customer_of(update)
    command = update.message.text.split()[0].split("@")[0]
    await update.message.reply_text(text(customer.language, "unknown_command", command=command))


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    customer = await customer_of(update)
    await update.message.reply_text(text(customer.language, "unsupported_message"))
