"""What every customer handler needs first: who is writing, and in which language to answer."""

from __future__ import annotations

from contextvars import ContextVar

from telegram import Update
from telegram.ext import ContextTypes

from knowledge_base.language import Language
from knowledge_base.live import LiveKnowledgeBase
from ticketing.customers import record_customer, reply_language
from ticketing.models import Customer


_recorded: ContextVar[tuple[int, Customer] | None] = ContextVar("kefu_customer", default=None)
"""The customer of the update being handled: each update is handled in a task of its own, and
its handlers (flood control, the ticket relay, the chat) ask one after the other."""


async def customer_of(update: Update) -> Customer:
    user = update.effective_user
    assert user is not None, "customer handlers only run for updates with a sender"
    recorded = _recorded.get()
    if recorded is not None and recorded[0] == update.update_id and recorded[1].telegram_id == user.id:
        return recorded[1]
    customer = await record_customer(
        user.id,
        first_name=user.first_name,
        last_name=user.last_name,
        username=user.username,
        language_code=user.language_code,
    )
    _recorded.set((update.update_id, customer))
    return customer


async def customer_and_language(update: Update) -> tuple[Customer, Language]:
    customer = await customer_of(update)
    message = update.effective_message
    return customer, await reply_language(customer, message.text if message else None)


def knowledge(context: ContextTypes.DEFAULT_TYPE) -> LiveKnowledgeBase:
    return context.bot_data["knowledge_base"]
