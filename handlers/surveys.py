"""The customer's side of the scheduler's surveys: CSAT stars and comment, NPS, SERVQUAL."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import ApplicationHandlerStop

from bot.context import KefuContext
from bot.core.i18n import text
from handlers.common import customer_and_language
from scheduler.buttons import NpsScore, Servqual, SkipComment, Stars
from scheduler.messages import nps_scale, servqual_scale
from scheduler.models import OutboxMessage
from scheduler.nps import ASKED_UNDER, rate_nps
from scheduler.surveys import STEPS, add_comment, answer_servqual, rate

COMMENT = "survey_comment"  # user_data: the response id waiting for the customer's comment


async def button(update: Update, context: KefuContext, pressed: Stars | SkipComment) -> None:
    """A star pressed under a survey: stored once; then an optional comment."""
    query = update.callback_query
    customer, language = await customer_and_language(update)
    message = await OutboxMessage.get_or_none(id=pressed.outbox_id, customer=customer)
    if message is None:  # someone else's survey, or a forged button
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    if isinstance(pressed, SkipComment):
        context.user_data.pop(COMMENT, None)
        await query.answer()
        await query.edit_message_reply_markup(None)
        await query.message.reply_text(text(language, "survey_thanks"))
        return
    rated = await rate(message, pressed.score, context.now())
    if not rated.first:
        await query.answer(text(language, "survey_already", stars="⭐" * rated.response.score))
        return
    await query.answer()
    context.user_data[COMMENT] = rated.response.id
    said = f"{query.message.text}\n\n{text(language, 'survey_rated', stars='⭐' * rated.response.score)}"
    if context.settings.scheduler.nps and message.kind == ASKED_UNDER:  # then "would you recommend us?"
        await query.edit_message_text(f"{said}\n\n{text(language, 'survey_nps_question')}",
                                      reply_markup=nps_scale(message.id, text(language, "survey_button_skip")))
        return
    await query.edit_message_text(said, reply_markup=_skip(language, message.id))


def _skip(language: str, outbox_id: int) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text(language, "survey_button_skip"), callback_data=SkipComment(outbox_id).pack())]])


async def nps_button(update: Update, context: KefuContext, pressed: NpsScore) -> None:
    """0–10 under the stars: stored once; the comment can still follow."""
    query = update.callback_query
    customer, language = await customer_and_language(update)
    message = await OutboxMessage.get_or_none(id=pressed.outbox_id, customer=customer, kind=ASKED_UNDER)
    if message is None:
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    rated = await rate_nps(message, pressed.score, context.now())
    if not rated.first:
        await query.answer(text(language, "survey_nps_already", score=rated.response.score))
        return
    await query.answer()
    asked = text(language, "survey_nps_question")
    said = query.message.text.removesuffix(asked).rstrip()
    await query.edit_message_text(f"{said}\n\n{text(language, 'survey_nps_rated', score=pressed.score)}",
                                  reply_markup=_skip(language, message.id))


async def servqual_button(update: Update, context: KefuContext, pressed: Servqual) -> None:
    """The SERVQUAL survey, one question at a time in the same message: expectation, then perception,
    for each of the five dimensions."""
    query = update.callback_query
    customer, language = await customer_and_language(update)
    message = await OutboxMessage.get_or_none(id=pressed.outbox_id, customer=customer, kind="servqual")
    if message is None:
        await query.answer(text(language, "button_invalid"), show_alert=True)
        return
    if pressed.answer is None:  # the start button
        step: int | None = 0
    else:
        answered_step, score = pressed.answer
        answered = await answer_servqual(message, answered_step, score, context.now())
        step = answered.next_step
        if not answered.counted:
            await query.answer(text(language, "survey_already", stars=score))
            return
    await query.answer()
    if step is None:
        await query.edit_message_text(text(language, "servqual_thanks"))
        return
    dimension, side = STEPS[step]
    question = text(language, f"servqual_{side}_{dimension}")
    await query.edit_message_text(
        text(language, "servqual_question", step=step + 1, steps=len(STEPS), question=question),
        reply_markup=servqual_scale(message.id, step),
    )


async def comment(update: Update, context: KefuContext) -> None:
    """Right after the stars, the customer's next text is their comment (group -3, before the relay)."""
    response_id = context.user_data.pop(COMMENT, None)
    if response_id is None:
        return
    customer, language = await customer_and_language(update)
    if await add_comment(response_id, customer.id, update.message.text, context.now()):
        await update.message.reply_text(text(language, "survey_comment_thanks"))
        raise ApplicationHandlerStop
