"""Phone numbers in one form, E.164 (+8613800000001), whatever way people and exports write them."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhone(ValueError):
    """Not a phone number that can exist."""


@lru_cache(maxsize=65536)  # an import names the same customers again and again
def normalize_phone(raw: str, region: str = "CN") -> str:
    """``raw`` in E.164 form; numbers without a country code are read as numbers of ``region``.

    Telegram shares contacts as digits without the "+" (``8613800000001``, ``14155550100``): when
    a number is not valid in ``region``, it is tried once more as an international number.
    """
    candidates = [raw]
    if not raw.strip().startswith("+"):
        candidates.append("+" + raw.strip())
    for candidate in candidates:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    raise InvalidPhone(f"{raw!r} is not a valid phone number")


def last4(phone: str) -> str:
    return phone[-4:]
