"""/lang: the customer picks the language kefu answers in."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.context import KefuContext
from bot.core.i18n import LANGUAGE_NAMES, text
from bot.core.language import Language, parse_language
from handlers.common import customer_of
from ticketing.customers import choose_language

CALLBACK_PREFIX = "lang:"


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(name, callback_data=CALLBACK_PREFIX + code)] for code, name in LANGUAGE_NAMES.items()]
    )


async def lang_command(update: Update, context: KefuContext) -> None:
    customer = await customer_of(update)
    if context.args:
        language = parse_language(" ".join(context.args))
        if language is not None:
            await choose_language(customer, language)
            await update.message.reply_text(text(language, "lang_set"))
            return
        prompt = text(customer.language, "lang_unknown", value=" ".join(context.args))
    else:
        prompt = text(customer.language, "lang_prompt")
    await update.message.reply_text(prompt, reply_markup=language_keyboard())


async def lang_button(update: Update, context: KefuContext) -> None:
    query = update.callback_query
    language: Language | None = parse_language(query.data.removeprefix(CALLBACK_PREFIX))
    if language is None:  # a forged or outdated button
        await query.answer()
        return
    customer = await customer_of(update)
    await choose_language(customer, language)
    await query.answer()
    await query.edit_message_text(text(language, "lang_set"))
