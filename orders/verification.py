"""A customer proves which orders are theirs.

Two ways: sharing their own Telegram contact (the handler checks ``contact.user_id`` is the
sender, then calls :func:`link_phone`: every order of that phone is theirs), or giving an order
number and the last 4 digits of the order's phone (:func:`verify_by_last4`: that one order is
theirs from then on).

Guessing is limited: after 5 failed tries within an hour further tries are refused unchecked
until the oldest of them is an hour old. The tries are stored in the database, so the limit
holds across restarts and instances. An order of someone else's phone gets exactly the answer
an order number nobody has gets.
"""

from __future__ import annotations

import hmac
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.core.batch import Batch
from orders.models import OrderGrant, VerificationAttempt
from orders.phones import last4 as last4_of
from orders.phones import normalize_phone
from orders.schema import normalize_order_no
from orders.sources import OrderSource
from ticketing.models import Customer

MAX_FAILURES = 5
ORDER_NO_LENGTH = 64  # the column's
WINDOW = timedelta(hours=1)


class Verification(StrEnum):
    VERIFIED = "verified"
    NO_MATCH = "no_match"
    """No such order, someone else's order, or wrong digits: deliberately one answer."""
    COOLING_DOWN = "cooling_down"
    """Too many failed tries: not checked. Try again at ``retry_at``."""


@dataclass(frozen=True, slots=True)
class VerifyResult:
    outcome: Verification
    tries_left: int = 0
    """Failed tries the customer has left in the current hour."""
    retry_at: datetime | None = None


async def link_phone(customer: Customer, phone: str, *, region: str = "CN") -> str:
    """Store the customer's own phone (from their shared contact) in E.164; raises InvalidPhone."""
    customer.phone = normalize_phone(phone, region)
    await customer.save(update_fields=["phone"])
    return customer.phone


async def verify_by_last4(
    customer: Customer, order_no: str, last4: str, now: datetime, *, source: OrderSource
) -> VerifyResult:
    """Grant ``customer`` order ``order_no`` if ``last4`` ends its phone.

    Raises OrderSourceUnavailable when orders cannot be looked up; that try is not counted.
    """
    order_no = normalize_order_no(order_no)
    recent = VerificationAttempt.filter(customer=customer, succeeded=False, attempted_at__gt=now - WINDOW)
    failures = [attempt.attempted_at for attempt in await recent.order_by("attempted_at")]
    if len(failures) >= MAX_FAILURES:
        return VerifyResult(Verification.COOLING_DOWN, retry_at=failures[len(failures) - MAX_FAILURES] + WINDOW)

    order = await source.find(order_no) if len(order_no) <= ORDER_NO_LENGTH else None
    expected = last4_of(order.phone) if order is not None else "----"
    given = re.sub(r"\D", "", unicodedata.normalize("NFKC", last4))  # ４３２１ typed full-width
    # One comparison whether or not the order exists: no answer, and no timing, tells them apart.
    matched = hmac.compare_digest(expected.encode(), given.encode()) and order is not None

    await VerificationAttempt.create(customer=customer, order_no=order_no[:ORDER_NO_LENGTH], succeeded=matched, attempted_at=now)
    if not matched:
        return VerifyResult(Verification.NO_MATCH, tries_left=MAX_FAILURES - len(failures) - 1)
    await OrderGrant.get_or_create(customer=customer, order_no=order_no, defaults={"granted_at": now})
    return VerifyResult(Verification.VERIFIED, tries_left=MAX_FAILURES - len(failures))


async def _grants(customer_ids: Sequence[int]) -> dict[int, list[str]]:
    granted: dict[int, list[str]] = {}
    for grant in await OrderGrant.filter(customer_id__in=customer_ids).order_by("-granted_at", "-id"):
        granted.setdefault(grant.customer_id, []).append(grant.order_no)  # type: ignore[attr-defined]
    return granted


_granted: Batch[int, list[str]] = Batch(_grants)


async def granted_order_numbers(customer: Customer, limit: int = 20) -> list[str]:
    """The order numbers ``customer`` proved with last-4 digits, latest first."""
    return list(await _granted(customer.id) or [])[:limit]
