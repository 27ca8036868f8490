"""Free text from customers: small talk, FAQ answers, "did you mean", or an honest "I don't know".

Every routed question is logged (the learning loop): answers carry 👍/👎 buttons, and a 👎 or an
unanswered question offers a person. An angry customer (:attr:`Route.angry`) is offered a person
with the answer, and where nothing is answered outright gets one at once: a complaint ticket.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.context import KefuContext
from bot.core.i18n import text
from bot.core.language import to_traditional
from bot.telegram.longtext import reply_long
from handlers import orders, tickets
from handlers.callbacks import AskPerson, FeedbackDown, FeedbackUp, FollowUp, PickEntry
from handlers.common import customer_and_language, customer_of, other_language_note
from knowledge_base.entries import Entry
from knowledge_base.live import LiveKnowledgeBase
from knowledge_base.models import Question
from knowledge_base.questions import record_question


def person_button(language: str, question: Question) -> InlineKeyboardButton:
    return InlineKeyboardButton(text(language, "button_person"), callback_data=AskPerson(question.id).pack())


def answer_markup(
    kb: LiveKnowledgeBase, entry: Entry, language: str, question: Question, offer_person: bool = False
) -> InlineKeyboardMarkup:
    rows = []
    for button in entry.buttons:
        label = kb.kb.button_text(button.text, language)
        if button.url:
            rows.append([InlineKeyboardButton(label, url=button.url)])
        elif button.entry:
            rows.append([InlineKeyboardButton(label, callback_data=FollowUp(question.id, button.entry).pack())])
    rows.append(
        [
            InlineKeyboardButton("👍", callback_data=FeedbackUp(question.id).pack()),
            InlineKeyboardButton("👎", callback_data=FeedbackDown(question.id).pack()),
        ]
    )
    if offer_person:  # an angry customer is offered a person with the answer, not only after a 👎
        rows.append([person_button(language, question)])
    return InlineKeyboardMarkup(rows)


async def send_answer(
    update: Update, kb: LiveKnowledgeBase, entry_id: str, language: str, question: Question, offer_person: bool = False
) -> None:
    entry = kb.kb.entry(entry_id)
    if entry is None:  # the entry was removed by a reload since the buttons were sent
        await update.effective_message.reply_text(text(language, "kb_not_sure"), reply_markup=InlineKeyboardMarkup([[person_button(language, question)]]))
        return
    note = other_language_note(kb, question.customer_id, language, kb.kb.answer_language(entry_id, language))
    await reply_long(update.effective_message, kb.answer(entry_id, language) + note, reply_markup=answer_markup(kb, entry, language, question, offer_person))


async def message(update: Update, context: KefuContext) -> None:
    customer, language = await customer_and_language(update)
    kb = context.kb
    said = update.message.text
    route = kb.route(said)
    if route.action == "smalltalk":
        await update.message.reply_text(text(language, route.smalltalk, name=customer.first_name))
        return
    question = await record_question(customer, said, route, language)
    if route.action == "order_status":
        await orders.show_orders(update, context, customer, language, route.order_number)
    elif route.band == "high" and route.action in ("complaint", "handoff"):
        await tickets.open_for(update, context, customer, language, said, route.action)
    elif route.band == "high" and route.entry_id is not None:
        await send_answer(update, kb, route.entry_id, language, question, offer_person=route.angry)
    elif route.angry:  # nothing answered outright, and the customer is angry: a person, as a complaint
        await tickets.open_for(update, context, customer, language, said, "complaint", order_no=route.order_number)
    elif route.band == "middle":
        rows = [
            [InlineKeyboardButton(_title(kb, c.entry_id, language), callback_data=PickEntry(question.id, c.entry_id).pack())]
            for c in route.suggestions
        ]
        rows.append([person_button(language, question)])
        await update.message.reply_text(text(language, "kb_did_you_mean"), reply_markup=InlineKeyboardMarkup(rows))
    else:
        await update.message.reply_text(
            text(language, "kb_not_sure"), reply_markup=InlineKeyboardMarkup([[person_button(language, question)]])
        )


def _title(kb: LiveKnowledgeBase, entry_id: str, language: str) -> str:
    """A suggestion's label: the entry's first example question in the customer's language."""
    entry = kb.kb.entry(entry_id)
    assert entry is not None
    questions = entry.questions.get(language) or entry.questions.get("zh-Hans" if language == "zh-Hant" else "en")
    label = (questions or next(iter(entry.questions.values()), (entry_id,)))[0]  # else the language it has
    if language == "zh-Hant" and "zh-Hant" not in entry.questions:
        label = to_traditional(label)
    return label[:60]


async def unknown_command(update: Update, context: KefuContext) -> None:
    customer = await customer_of(update)
    command = update.message.text.split()[0].split("@")[0]
    await update.message.reply_text(text(customer.language, "unknown_command", command=command))


async def unsupported(update: Update, context: KefuContext) -> None:
    customer = await customer_of(update)
    await update.message.reply_text(text(customer.language, "unsupported_message"))
