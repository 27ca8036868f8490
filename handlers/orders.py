""""Where is my order?": verification, the status card, and picking among recent orders.

A customer sees an order only after showing it is theirs: by sharing their own Telegram contact
(the phone links them to all its orders) or by the last 4 digits of the order's phone (that one
order). Someone else's order gets exactly the answer a made-up number gets.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import ApplicationHandlerStop

from bot.context import KefuContext
from bot.core.fit import storable
from bot.core.i18n import text
from bot.telegram.longtext import reply_long
from handlers import tickets
from handlers.callbacks import OrderDetails, OrderPerson, OrderProblem
from handlers.common import customer_and_language, customer_of
from orders.phones import InvalidPhone
from orders.service import Lookup, orders_for
from orders.sources import OrderSourceUnavailable
from orders.verification import Verification, link_phone, verify_by_last4
from orders.views import OrderView
from ticketing.models import Customer

AWAITING = "order_awaiting_last4"  # user_data key: the order number whose last 4 digits we asked for


def shop_zone(context: KefuContext) -> ZoneInfo:
    return ZoneInfo(context.settings.scheduler.timezone)


async def order_command(update: Update, context: KefuContext) -> None:
    customer, language = await customer_and_language(update)
    # Without NULs: the number is kept in the customer's memory (JSON) while kefu asks for the last
    # digits, and PostgreSQL refuses a NUL there.
    await show_orders(update, context, customer, language, storable(context.args[0]) if context.args else None)


async def show_orders(
    update: Update, context: KefuContext, customer: Customer, language: str, order_no: str | None
) -> None:
    """The answer to "where is my order": a card, a choice, or how to prove the orders are theirs."""
    message = update.effective_message
    try:
        result = await orders_for(customer, order_no, source=context.orders)
    except OrderSourceUnavailable:
        await _unavailable(update, language)
        return
    if result.outcome is Lookup.UNVERIFIED:
        if order_no:
            context.user_data[AWAITING] = order_no
        key = "order_verify" if order_no else "order_verify_no_number"
        await message.reply_text(text(language, key, order_no=order_no), reply_markup=_share_phone(language))
    elif result.outcome is Lookup.NOT_FOUND:
        key = "order_not_found" if order_no else "order_none"
        await message.reply_text(text(language, key, order_no=order_no), reply_markup=_person(language))
    elif len(result.orders) == 1:
        await send_card(update, context, result.orders[0], language)
    else:
        zone = shop_zone(context)
        rows = [
            [InlineKeyboardButton(
                f"{o.order_no} · {text(language, 'status_' + o.status.value)} · {o.created_at.astimezone(zone):%m-%d}",
                callback_data=OrderDetails(o.order_no).pack(),
            )]
            for o in result.orders
        ]
        await message.reply_text(text(language, "order_pick"), reply_markup=InlineKeyboardMarkup(rows))


async def send_card(update: Update, context: KefuContext, order: OrderView, language: str) -> None:
    buttons = InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(text(language, "button_order_problem"), callback_data=OrderProblem(order.order_no).pack())],
            [InlineKeyboardButton(text(language, "button_person"), callback_data=OrderPerson(order.order_no).pack())],
        ]
    )
    await reply_long(update.effective_message, status_card(order, language, shop_zone(context)), reply_markup=buttons)


def status_card(order: OrderView, language: str, zone: ZoneInfo) -> str:
    items = "\n".join(f"• {item.name} ×{item.quantity}" for item in order.items)
    lines = [
        text(language, "order_card", order_no=order.order_no, status=text(language, "status_" + order.status.value),
             items=items, amount=f"{order.amount:.2f}", currency=order.currency)
    ]
    if order.carrier or order.tracking_no:
        lines.append(text(language, "order_card_shipping", carrier=order.carrier or "—", tracking_no=order.tracking_no or "—"))
    if order.delivered_at:
        lines.append(text(language, "order_card_delivered", time=f"{order.delivered_at.astimezone(zone):%Y-%m-%d %H:%M}"))
    elif order.expected_delivery:
        lines.append(text(language, "order_card_expected", date=order.expected_delivery.isoformat()))
    if order.events:
        lines.append(text(language, "order_card_updates"))
        for event in order.events:
            where = f" {event.place}" if event.place else ""
            lines.append(f"• {event.at.astimezone(zone):%m-%d %H:%M}{where} — {event.description or ''}".rstrip(" —"))
    return "\n".join(lines)


async def contact(update: Update, context: KefuContext) -> None:
    """A shared contact verifies the customer only if it is their own (Telegram fills user_id)."""
    customer = await customer_of(update)
    language = customer.language
    shared = update.message.contact
    if shared.user_id != update.effective_user.id:
        await update.message.reply_text(text(language, "order_contact_not_own"), reply_markup=_share_phone(language))
        return
    try:
        await link_phone(customer, shared.phone_number, region=context.settings.orders.default_region)
    except InvalidPhone:
        await update.message.reply_text(text(language, "order_contact_bad"), reply_markup=ReplyKeyboardRemove())
        return
    await update.message.reply_text(text(language, "order_phone_linked"), reply_markup=ReplyKeyboardRemove())
    await show_orders(update, context, customer, language, context.user_data.pop(AWAITING, None))


async def last4(update: Update, context: KefuContext) -> None:
    """Four digits, while we wait for them, verify the order asked about (group -1: stops routing)."""
    order_no = context.user_data.get(AWAITING)
    if order_no is None:
        return  # four digits out of the blue: let the ordinary handlers answer
    customer, language = await customer_and_language(update)
    try:
        result = await verify_by_last4(
            customer, order_no, update.message.text, datetime.now(UTC), source=context.orders
        )
    except OrderSourceUnavailable:
        await _unavailable(update, language)
        raise ApplicationHandlerStop from None
    if result.outcome is Verification.VERIFIED:
        context.user_data.pop(AWAITING, None)
        await update.message.reply_text(text(language, "order_phone_linked"), reply_markup=ReplyKeyboardRemove())
        await show_orders(update, context, customer, language, order_no)
    elif result.outcome is Verification.COOLING_DOWN:
        context.user_data.pop(AWAITING, None)
        until = result.retry_at.astimezone(shop_zone(context)) if result.retry_at else None
        await update.message.reply_text(
            text(language, "order_last4_locked", time=f"{until:%H:%M}" if until else ""), reply_markup=_person(language)
        )
    else:
        await update.message.reply_text(text(language, "order_last4_wrong", order_no=order_no, tries=result.tries_left))
    raise ApplicationHandlerStop


async def button(update: Update, context: KefuContext, pressed: OrderDetails | OrderProblem | OrderPerson) -> None:
    query = update.callback_query
    customer = await customer_of(update)
    language = customer.language
    await query.answer()
    if isinstance(pressed, OrderDetails):
        await show_orders(update, context, customer, language, pressed.order_no)
    elif isinstance(pressed, OrderProblem) and (order_no := pressed.order_no):
        mine = await orders_for(customer, order_no, source=context.orders)
        linked = order_no if mine.outcome is Lookup.FOUND else None  # a forged button links nothing
        await tickets.open_for(update, context, customer, language, f"⚠️ {order_no}", "order", order_no=linked)
    else:  # a person: under a card, or a problem button without its order
        await tickets.open_for(update, context, customer, language, "/human", "handoff", order_no=None)


def _share_phone(language: str) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        [[KeyboardButton(text(language, "button_share_phone"), request_contact=True)]],
        resize_keyboard=True,
        one_time_keyboard=True,
    )


def _person(language: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text(language, "button_person"), callback_data=OrderPerson().pack())]])


async def _unavailable(update: Update, language: str) -> None:
    await update.effective_message.reply_text(text(language, "order_unavailable"), reply_markup=_person(language))

