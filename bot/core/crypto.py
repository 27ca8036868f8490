"""Personal data encrypted at rest, with keys from the environment.

- :class:`Keyring`: the Fernet keys of ``KEFU_PRIVACY__KEYS`` (authenticated encryption: AES-128-CBC
  and HMAC-SHA256). The first key encrypts, every key decrypts, so a key is rotated by putting a
  new one first, re-encrypting (``kefu privacy rotate``) and then dropping the old one.
- :class:`EncryptedTextField`: a TEXT column holding a Fernet token, encrypted on the way to the
  database and decrypted on the way back. A value written before kefu encrypted (plain text) is
  read as it is, and encrypted at the next start or by ``kefu privacy rotate``.
- Blind indexes (:meth:`Keyring.blind_index`): an encrypted column cannot be compared in SQL (the
  same phone encrypts differently every time), so a column that is looked up keeps, beside the
  ciphertext, HMAC-SHA256 of its normalised value under a key derived (HKDF) from the Fernet key.
  Equal values give equal indexes; without the key the index tells nothing.

The keyring is process-wide (:func:`install`): the field has no other way to reach it.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
from collections.abc import Sequence
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from tortoise import fields

TOKEN_PREFIX = "gAAAAA"
"""How every Fernet token starts (version byte 0x80, then the high bytes of a 64-bit timestamp, zero
until the year 2106): a stored value without it was written in plain text, before encryption."""
_MIN_TOKEN_BYTES = 1 + 8 + 16 + 16 + 32  # version, time, IV, one AES block, HMAC


class PrivacyKeyError(Exception):
    """No key, or not the right one: worded for the person running kefu."""


class NoKey(PrivacyKeyError):
    def __init__(self) -> None:
        super().__init__(
            "No key to encrypt customers' personal data: set KEFU_PRIVACY__KEYS to a JSON list "
            "holding a key from `kefu privacy new-key`."
        )


class WrongKey(PrivacyKeyError):
    def __init__(self) -> None:
        super().__init__(
            "Customers' personal data in the database was encrypted with a key that is not in "
            "KEFU_PRIVACY__KEYS: add the key it was written with (keep the new one first)."
        )


class EncryptedLookup(TypeError):
    """A query compared an encrypted column: look it up by its blind index instead."""


def new_key() -> str:
    return Fernet.generate_key().decode()


def is_key(value: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(value.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def looks_encrypted(value: str) -> bool:
    """A Fernet token, as opposed to a value written in plain text before kefu encrypted."""
    if not value.startswith(TOKEN_PREFIX):
        return False
    try:
        return len(base64.urlsafe_b64decode(value.encode())) >= _MIN_TOKEN_BYTES
    except (binascii.Error, ValueError):
        return False


OPENED_TOKENS = 8192
"""Decrypted values kept in memory, most recently read first."""


class Keyring:
    """The keys: the first encrypts, all decrypt; each also gives a blind-index key."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise NoKey()
        self.keys = list(keys)
        self._fernet = MultiFernet([Fernet(k.encode()) for k in keys])
        self._index_keys = [_index_key(k) for k in keys]
        # A stored token always opens to the same text, and the same customers' rows are read
        # again with every message they send: their names are decrypted once.
        self._opened = functools.lru_cache(maxsize=OPENED_TOKENS)(self._open)

    def encrypt(self, value: str) -> str:
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, token: str) -> str:
        return self._opened(token)

    def _open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise WrongKey() from None

    def reveal(self, stored: str) -> str:
        """What ``stored`` holds: decrypted, or as it is if it was written in plain text."""
        return self.decrypt(stored) if looks_encrypted(stored) else stored

    def blind_index(self, kind: str, value: str) -> str:
        """The index rows are written with (the first key's)."""
        return _hmac(self._index_keys[0], kind, value)

    def blind_indexes(self, kind: str, value: str) -> list[str]:
        """Every index a row of ``value`` may carry: during a rotation some still have the old key's."""
        return [_hmac(key, kind, value) for key in self._index_keys]


def _index_key(key: str) -> bytes:
    raw = base64.urlsafe_b64decode(key.encode())
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"kefu blind index v1").derive(raw)


def _hmac(key: bytes, kind: str, value: str) -> str:
    """``kind`` (e.g. "phone") separates the domains: a phone and a name never share an index."""
    return hmac.new(key, f"{kind}\x00{normalize(value)}".encode(), hashlib.sha256).hexdigest()


def normalize(value: str) -> str:
    """Phone numbers arrive in E.164 already; spaces and case never make two values differ."""
    return "".join(value.split()).casefold()


_keyring: Keyring | None = None


def install(keys: Sequence[str]) -> Keyring:
    """Make ``keys`` the process's keyring (raises :class:`NoKey` for an empty list)."""
    global _keyring
    _keyring = Keyring(keys)
    return _keyring


def uninstall() -> None:
    global _keyring
    _keyring = None


def installed() -> Keyring | None:
    return _keyring


def keyring() -> Keyring:
    if _keyring is None:
        raise NoKey()
    return _keyring


def blind_index(kind: str, value: str | None) -> str | None:
    return None if value is None or value == "" else keyring().blind_index(kind, value)


def blind_indexes(kind: str, value: str | None) -> list[str]:
    return [] if value is None or value == "" else keyring().blind_indexes(kind, value)


def parse_keys(value: str) -> list[str]:
    """``KEFU_PRIVACY__KEYS`` as the CLI reads it outside pydantic (a JSON list of keys)."""
    keys = json.loads(value)
    if not isinstance(keys, list) or not all(isinstance(k, str) and is_key(k) for k in keys):
        raise ValueError("not a JSON list of Fernet keys")
    return keys


class EncryptedTextField(fields.TextField):
    """Text stored as a Fernet token; ``""`` and NULL are stored as they are (nothing to hide).

    Filtering on it raises :class:`EncryptedLookup`, as it could never match: a column that is
    looked up has a :class:`BlindIndexField` beside it.
    """

    def __init__(self, **kwargs: Any) -> None:  # (a TextField is never unique nor indexed)
        super().__init__(**kwargs)

    def to_db_value(self, value: Any, instance: Any) -> Any:
        if value is None or value == "":
            return value
        if isinstance(instance, type):  # a filter, not a row being written
            raise EncryptedLookup(
                f"{instance.__name__}.{self.model_field_name} is encrypted and cannot be compared in the "
                "database: filter by its blind index"
            )
        return keyring().encrypt(str(value))

    def to_python_value(self, value: Any) -> Any:
        if value is None or value == "" or not isinstance(value, str):
            return value
        return keyring().decrypt(value) if looks_encrypted(value) else value


class EncryptedJSONField(EncryptedTextField):
    """A JSON value (a stored update, say) kept as one Fernet token of its compact JSON text.

    Read back, a token is decrypted and parsed; a value written before encryption (JSON text, or
    the JSON a database column gave back) is parsed as it is."""

    def to_db_value(self, value: Any, instance: Any) -> Any:
        if value is None:
            return None
        return super().to_db_value(json.dumps(value, separators=(",", ":"), ensure_ascii=False), instance)

    def to_python_value(self, value: Any) -> Any:
        return reveal_json(value)


def seal_json(value: Any) -> str:
    """``value`` as :class:`EncryptedJSONField` stores it (for hand-written SQL)."""
    return keyring().encrypt(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def reveal_json(stored: Any) -> Any:
    """What a stored :class:`EncryptedJSONField` value holds (for hand-written SQL)."""
    if stored is None or not isinstance(stored, (str, bytes)):
        return stored
    text = stored.decode() if isinstance(stored, bytes) else stored
    # not through the keyring's cache of opened values: an update is read once or twice
    return json.loads(keyring()._open(text) if looks_encrypted(text) else text)


class BlindIndexField(fields.CharField):
    """The blind index of the encrypted field ``of``, computed whenever a row is written.

    A model with one also inherits :class:`BlindIndexed`, so that ``save(update_fields=[of])``
    writes the index too. ``QuerySet.update(of=...)`` cannot know the row: set both there.
    """

    def __init__(self, of: str, kind: str, max_length: int = 64, **kwargs: Any) -> None:
        self.of, self.kind = of, kind
        super().__init__(max_length=max_length, **kwargs)

    def to_db_value(self, value: Any, instance: Any) -> Any:
        if instance is not None and not isinstance(instance, type):  # a row being written
            value = blind_index(self.kind, getattr(instance, self.of))
            setattr(instance, self.model_field_name, value)
        return value


class BlindIndexed:
    """Saving a model with only its encrypted field in ``update_fields`` saves its index as well."""

    async def save(self, *args: Any, update_fields: Any = None, **kwargs: Any) -> None:
        if update_fields is not None:
            update_fields = list(update_fields)
            for name, field in self._meta.fields_map.items():  # type: ignore[attr-defined]
                if isinstance(field, BlindIndexField) and field.of in update_fields and name not in update_fields:
                    update_fields.append(name)
        await super().save(*args, update_fields=update_fields, **kwargs)  # type: ignore[misc]
