"""/lang: the customer picks the language kefu answers in."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.context import KefuContext
from bot.core.i18n import LANGUAGE_NAMES, text
from bot.core.language import parse_language
from handlers.callbacks import PickLanguage
from handlers.common import customer_of
from ticketing.customers import choose_language


def language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(name, callback_data=PickLanguage(code).pack())] for code, name in LANGUAGE_NAMES.items()]
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


async def lang_button(update: Update, context: KefuContext, pressed: PickLanguage) -> None:
    query = update.callback_query
    customer = await customer_of(update)
    await choose_language(customer, pressed.language)
    await query.answer()
    await query.edit_message_text(text(pressed.language, "lang_set"))
