"""What each kind of outbox row says, in the customer's language, with its buttons.

The texts live in the message catalogs (``survey_*``, ``revisit_*``, ``greeting_*``,
``order_notice_*``), so a shop edits them like every other text. The buttons' callback data is
scheduler/buttons.py's.
"""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.core.i18n import text
from scheduler.buttons import (
    NpsScore,
    OrderDetails,
    OrderProblem,
    Servqual,
    SkipComment,
    Stars,
)
from scheduler.models import OutboxMessage
from ticketing.models import Customer


def render(message: OutboxMessage, customer: Customer) -> tuple[str, InlineKeyboardMarkup | None]:
    language = customer.language
    payload = message.payload or {}
    name = customer.first_name or customer.display_name
    if message.kind == "survey":
        return text(language, "survey_csat", name=name, number=payload.get("ticket_id", "")), stars(message.id)
    if message.kind == "delivered_survey":
        return text(language, "survey_delivered", name=name, order_no=payload.get("order_no", "")), stars(message.id)
    if message.kind == "revisit":
        order_no = payload.get("order_no", "")
        button = InlineKeyboardButton(text(language, "revisit_button_problem"), callback_data=OrderProblem(order_no).pack())
        return text(language, "revisit", name=name, order_no=order_no), InlineKeyboardMarkup([[button]])
    if message.kind == "order_status":
        order_no = payload["order_no"]
        button = InlineKeyboardButton(text(language, "button_order_details"), callback_data=OrderDetails(order_no).pack())
        return text(language, f"order_notice_{payload['status']}", order_no=order_no), InlineKeyboardMarkup([[button]])
    if message.kind == "greeting":
        return text(language, "greeting_" + payload.get("name", "generic"), name=name), None
    if message.kind == "servqual":
        start = InlineKeyboardButton(text(language, "servqual_button_start"), callback_data=Servqual(message.id).pack())
        return text(language, "servqual_intro", name=name, number=payload.get("ticket_id", "")), InlineKeyboardMarkup([[start]])
    if payload.get("template"):  # a catalog template, in the customer's own language
        return text(language, "campaign_template_" + payload["template"], name=name), None
    # campaign and notice rows written by a person: "{name}" is the only placeholder
    return payload.get("text", "").replace("{name}", name), None


def stars(outbox_id: int) -> InlineKeyboardMarkup:
    """1–5 stars, in two rows so that they stay readable on a phone."""
    button = lambda score: InlineKeyboardButton("⭐" * score, callback_data=Stars(outbox_id, score).pack())
    return InlineKeyboardMarkup([[button(s) for s in (1, 2, 3)], [button(s) for s in (4, 5)]])


def nps_scale(outbox_id: int, skip: str) -> InlineKeyboardMarkup:
    """0 (not at all likely) … 10 (extremely likely) in two rows, and the comment's Skip under them."""
    button = lambda score: InlineKeyboardButton(str(score), callback_data=NpsScore(outbox_id, score).pack())
    return InlineKeyboardMarkup([
        [button(s) for s in range(6)], [button(s) for s in range(6, 11)],
        [InlineKeyboardButton(skip, callback_data=SkipComment(outbox_id).pack())],
    ])


def servqual_scale(outbox_id: int, step: int) -> InlineKeyboardMarkup:
    """1 (not at all) … 7 (absolutely), one row."""
    return InlineKeyboardMarkup([[
        InlineKeyboardButton(str(score), callback_data=Servqual(outbox_id, (step, score)).pack()) for score in range(1, 8)
    ]])
