"""Customers: recorded when they write, with the language kefu answers them in."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from tortoise.exceptions import IntegrityError

from bot.core.batch import Batch
from bot.core.fit import cut
from bot.core.language import Language, detect_language, language_from_telegram, script_neutral
from ticketing.models import Customer

NAME_LIMIT = 128
"""Characters kept of a first or last name (Telegram sends 64 at most; the columns are encrypted text)."""
USERNAME_LIMIT = 64
LANGUAGE_CODE = re.compile(r"[A-Za-z0-9_-]{1,%d}" % Customer._meta.fields_map["telegram_language"].max_length)
"""An IETF language tag as Telegram sends it, short enough for its column: anything else is unknown
(cut, it would be another code)."""
LAST_SEEN_STEP = timedelta(minutes=1)
"""``last_seen`` is kept to the minute (segments count days), so a customer's burst of messages
costs one write."""


async def _customers(telegram_ids: Sequence[int]) -> dict[int, Customer]:
    return {customer.telegram_id: customer for customer in await Customer.filter(telegram_id__in=telegram_ids)}


_by_telegram_id: Batch[int, Customer] = Batch(_customers)


async def record_customer(
    telegram_id: int,
    *,
    first_name: str = "",
    last_name: str | None = None,
    username: str | None = None,
    language_code: str | None = None,
    wrote: bool = True,
) -> Customer:
    """The customer for this Telegram user, created on first contact and refreshed after.

    A customer who was forgotten (/forgetme) stays as they are, nothing written, unless they
    ``wrote`` a message of their own (what counts: ``handlers/common.py``): then they are a
    customer again, their names recorded as a new customer's and the ``forgotten_at`` mark
    cleared. They stay opted out of surveys, greetings and offers until they /subscribe.

    Whatever Telegram sends is kept: a name too long is cut (bot/core/fit.py), a ``language_code``
    that is not one or is too long for its column is unknown, as if Telegram had sent none.
    """
    now = datetime.now(UTC)
    first_name, last_name = cut(first_name, NAME_LIMIT), (last_name or None) and cut(last_name, NAME_LIMIT)
    username = username and cut(username, USERNAME_LIMIT)
    if language_code is not None and not LANGUAGE_CODE.fullmatch(language_code):
        language_code = None
    customer = await _by_telegram_id(telegram_id)
    if customer is None:
        try:
            return await Customer.create(
                telegram_id=telegram_id,
                first_name=first_name,
                last_name=last_name,
                username=username,
                telegram_language=language_code,
                language=language_from_telegram(language_code),
                first_seen=now,
                last_seen=now,
            )
        except IntegrityError:  # the same user's other update created it a moment ago
            customer = await Customer.get(telegram_id=telegram_id)
    if customer.forgotten_at is not None and not wrote:
        return customer
    seen = {
        "forgotten_at": None,
        "first_name": first_name,
        "last_name": last_name,
        "username": username,
        "telegram_language": language_code,
        "blocked": False,  # they wrote to us, so they have not blocked the bot
    }
    changed = [name for name, value in seen.items() if getattr(customer, name) != value]
    for name in changed:
        setattr(customer, name, seen[name])
    if customer.last_seen is None or now - customer.last_seen >= LAST_SEEN_STEP:
        customer.last_seen = now
        changed.append("last_seen")
    if changed:  # most messages change nothing: no write (and the names are not encrypted again)
        await customer.save(update_fields=changed)
    return customer


async def known_customer(telegram_id: int) -> Customer | None:
    """The customer for this Telegram user if kefu knows them; nothing is written."""
    return await _by_telegram_id(telegram_id)


async def reply_language(customer: Customer, text: str | None = None) -> Language:
    """The language to answer ``text`` in.

    A language chosen with /lang always wins. Otherwise the customer is answered in the language
    they write in, which is remembered for messages kefu sends unasked (surveys, greetings).
    Chinese whose characters are the same in both scripts ("你好", "好的") does not tell the
    script: it is answered in the Chinese script the customer is known to use (their earlier
    messages, else their Telegram app's language: zh-HK, zh-TW, zh-MO, zh-Hant → traditional),
    simplified only when nothing says otherwise.
    """
    said = text.split(None, 1)[1] if text and text.startswith("/") and " " in text.strip() else text
    if text and text.startswith("/") and said is text:  # a bare command ("/human") says nothing of the language
        said = None
    if customer.language_chosen or not said:
        return customer.language  # type: ignore[return-value]
    detected = detect_language(said)
    if detected is None:
        return customer.language  # type: ignore[return-value]
    if detected != "en" and script_neutral(said):
        detected = customer.language if customer.language != "en" else known_script(customer.telegram_language)  # type: ignore[assignment]
    if detected != customer.language:
        customer.language = detected
        await customer.save(update_fields=["language"])
    return detected


def known_script(language_code: str | None) -> Language:
    """The Chinese script of a customer whose messages have not shown it: their Telegram app's
    when that is Chinese, else simplified."""
    app = language_from_telegram(language_code)
    return app if app != "en" else "zh-Hans"


async def choose_language(customer: Customer, language: Language) -> None:
    customer.language = language
    customer.language_chosen = True
    await customer.save(update_fields=["language", "language_chosen"])


async def mark_blocked(customer: Customer) -> None:
    """Telegram said 403: the customer blocked the bot. Nothing more is sent until they write again."""
    customer.blocked = True
    await customer.save(update_fields=["blocked"])


async def set_opted_out(customer: Customer, opted_out: bool) -> None:
    """/unsubscribe and /subscribe: care and marketing messages stop or resume."""
    customer.opted_out = opted_out
    await customer.save(update_fields=["opted_out"])


async def set_birthday(customer: Customer, birthday: date | None) -> None:
    """Stored with the year 2000 when the customer gave only month and day."""
    customer.birthday = birthday
    await customer.save(update_fields=["birthday"])


async def set_timezone(customer: Customer, zone: str | None) -> None:
    customer.timezone = zone
    await customer.save(update_fields=["timezone"])
