"""The buttons under the bot's answers: 👍/👎, "did you mean" picks, follow-ups, "talk to a person".

Callback data can be forged by a modified client, so every press is checked on the server: the
question must exist and belong to the customer who pressed.
"""

from __future__ import annotations

import re

from telegram import InlineKeyboardMarkup, Update

from bot.context import KefuContext
from bot.core.i18n import text
from handlers import tickets
from handlers.chat import FEEDBACK_DOWN, FEEDBACK_UP, FOLLOW_UP, HANDOFF, PICK, person_button, send_answer
from handlers.common import customer_of, number
from knowledge_base.questions import answered_with, give_feedback, question_of

PATTERN = "^(" + "|".join(re.escape(p) for p in (FEEDBACK_UP, FEEDBACK_DOWN, PICK, FOLLOW_UP, HANDOFF)) + r"):\d+:"


async def button(update: Update, context: KefuContext) -> None:
    query = update.callback_query
    prefix, question_id, entry_id = query.data.split(":", 2)
    customer = await customer_of(update)
    asked = number(question_id)
    question = await question_of(customer, asked) if asked else None
    if question is None:
        await query.answer(text(customer.language, "button_invalid"), show_alert=True)
        return
    language = question.language
    kb = context.kb

    if prefix in (FEEDBACK_UP, FEEDBACK_DOWN):
        first_time = await give_feedback(question, "up" if prefix == FEEDBACK_UP else "down")
        await query.answer(text(language, "feedback_thanks" if first_time else "feedback_already"))
        if first_time:
            await _drop_feedback_row(update)
            if prefix == FEEDBACK_DOWN:
                await query.message.reply_text(
                    text(language, "feedback_sorry"), reply_markup=InlineKeyboardMarkup([[person_button(language, question)]])
                )
    elif prefix in (PICK, FOLLOW_UP):
        entry = kb.kb.entry(entry_id)
        if entry is None:
            await query.answer(text(language, "button_invalid"), show_alert=True)
            return
        await query.answer()
        if prefix == PICK:
            await answered_with(question, entry.id, entry.action)
        await send_answer(update, kb, entry.id, language, question)
    elif prefix == HANDOFF:
        await query.answer()
        await tickets.open_for(update, context, customer, language, question.text, "handoff")


async def _drop_feedback_row(update: Update) -> None:
    """Once rated, the 👍/👎 row goes; other buttons (links, follow-ups) stay."""
    markup = update.callback_query.message.reply_markup
    if markup is None:
        return
    rows = [row for row in markup.inline_keyboard if not any(b.text in ("👍", "👎") for b in row)]
    await update.callback_query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None)
