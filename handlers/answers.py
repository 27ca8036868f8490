"""The buttons under the bot's answers: 👍/👎, "did you mean" picks, follow-ups, "talk to a person".

Callback data can be forged by a modified client, so every press is checked on the server: the
question must exist and belong to the customer who pressed (handlers/callbacks.py has checked
that it names a question at all). A pick, and a 👍 after a middle-band answer, are the customer
confirming an entry for their words: a candidate example for /kb_learn (knowledge_base/learning.py).
"""

from __future__ import annotations

from telegram import InlineKeyboardMarkup, Update

from bot.context import KefuContext
from bot.core.i18n import text
from handlers import tickets
from handlers.callbacks import AskPerson, FeedbackDown, FeedbackUp, FollowUp, PickEntry
from handlers.chat import person_button, send_answer
from handlers.common import customer_of
from knowledge_base.learning import confirmed
from knowledge_base.questions import answered_with, give_feedback, question_of


async def button(
    update: Update, context: KefuContext, pressed: FeedbackUp | FeedbackDown | PickEntry | FollowUp | AskPerson
) -> None:
    query = update.callback_query
    customer = await customer_of(update)
    question = await question_of(customer, pressed.question_id)
    if question is None:
        await query.answer(text(customer.language, "button_invalid"), show_alert=True)
        return
    language = question.language
    kb = context.kb

    if isinstance(pressed, FeedbackUp | FeedbackDown):
        first_time = await give_feedback(question, "up" if isinstance(pressed, FeedbackUp) else "down")
        await query.answer(text(language, "feedback_thanks" if first_time else "feedback_already"))
        if first_time:
            await _drop_feedback_row(update)
            if isinstance(pressed, FeedbackUp) and question.band == "middle" and question.entry_id:
                await confirmed(kb, question, question.entry_id, context.settings.knowledge_base.auto_learn)
            if isinstance(pressed, FeedbackDown):
                await query.message.reply_text(
                    text(language, "feedback_sorry"), reply_markup=InlineKeyboardMarkup([[person_button(language, question)]])
                )
    elif isinstance(pressed, PickEntry | FollowUp):
        entry = kb.kb.entry(pressed.entry_id)
        if entry is None:
            await query.answer(text(language, "button_invalid"), show_alert=True)
            return
        await query.answer()
        if isinstance(pressed, PickEntry):
            await answered_with(question, entry.id, entry.action)
            await confirmed(kb, question, entry.id, context.settings.knowledge_base.auto_learn)
        await send_answer(update, kb, entry.id, language, question)
    else:
        await query.answer()
        await tickets.open_for(update, context, customer, language, question.text, "handoff")


async def _drop_feedback_row(update: Update) -> None:
    """Once rated, the 👍/👎 row goes; other buttons (links, follow-ups) stay."""
    markup = update.callback_query.message.reply_markup
    if markup is None:
        return
    rows = [row for row in markup.inline_keyboard if not any(b.text in ("👍", "👎") for b in row)]
    await update.callback_query.edit_message_reply_markup(InlineKeyboardMarkup(rows) if rows else None)
