"""Customers' personal data in one home: the keys that encrypt it, their rotation, and forgetting
a customer (/forgetme). Above the domains: it reads every domain's models to find personal data.

Keys, from the settings, and the database work they bring:

- :func:`install_keys`: ``[privacy] keys`` become the process's keyring (``bot/core/crypto.py``).
- :func:`prepare`, at every start (``db.connect(url, ready=prepare)``): the keys must open what is stored (else a
  :class:`~bot.core.config.ConfigError`), and rows written before kefu encrypted, in plain text, are
  encrypted now, with their blind indexes.
- :func:`rotate` (``kefu privacy rotate``): every encrypted value written again with the first
  key, every blind index computed again with it.

Which columns are encrypted is read from the models: every :class:`~bot.core.crypto.EncryptedTextField`
and :class:`~bot.core.crypto.BlindIndexField` of the app.

**Forgetting** (:func:`forget_customer`, /forgetme): a customer's personal data and messages deleted,
their anonymous counts kept.

What goes: their names, Telegram username, phone, birthday, time zone and tags; the texts and
media of every message of their tickets (theirs, the agents' replies and the agents' notes, and
the search terms they are found by) and
the tickets' subjects; their survey comments; the texts of the questions they asked the bot
(and the example questions they proposed to /kb_learn); the
phone of the orders of their phone, and which orders they proved theirs; their queued messages
(cancelled); their conversation state; the updates of theirs that the inbox holds, once handled.

What stays, so that reports count the same: the customer row itself as an anonymous shell
(``forgotten_at`` set, opted out of everything, their language and segment), their tickets
(number, category, priority, status and every time), survey scores, question counts, orders
(amounts and dates, for RFM) and the outbox rows already settled. The Telegram user id stays too:
kefu knows them again if they write, and keeps them opted out. Their open tickets are closed.

Failed order verifications stay: forgetting must not reset the limit on guessing phone digits.
"""

from __future__ import annotations

import importlib
import logging
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from tortoise import Tortoise
from tortoise.expressions import Q
from tortoise.models import Model
from tortoise.transactions import in_transaction

from bot.core import crypto
from bot.core.config import ConfigError, Settings
from bot.intake.models import ConversationState, InboxUpdate
from knowledge_base.models import Question, QuestionCandidate
from orders.models import Order, OrderGrant
from scheduler.models import OutboxMessage, SurveyResponse
from ticketing.business_hours import BusinessCalendar
from ticketing.models import AlbumPart, Customer, Ticket, TicketMessage, TicketStatus
from ticketing.service import close

log = logging.getLogger(__name__)
BATCH = 500

_from_file: tuple[Path, crypto.Keyring] | None = None
"""The key file :func:`install_keys` read the keyring from, and that keyring: for the message
when it does not open the data."""


def install_keys(settings: Settings, *, required: bool) -> crypto.Keyring | None:
    """Install ``[privacy] keys``, else the key file of a SQLite database (:func:`key_file`).

    With neither, a command that writes personal data (``required``) on SQLite makes the key file,
    unless the database already holds encrypted data (restored without its key: a
    :class:`ConfigError` says to restore the key); on PostgreSQL, where several processes must
    share one key, it stops with a :class:`ConfigError` that says how to make one.
    """
    global _from_file
    _from_file = None
    keys = [key.get_secret_value() for key in settings.privacy.keys]
    if keys:
        return crypto.install(keys)
    path = key_file(settings)
    if path is not None and path.exists():
        stored = path.read_text().strip()
        if not crypto.is_key(stored):
            raise ConfigError(f"{path} does not hold a key made by `kefu privacy new-key`: restore it from your copy.")
        _from_file = (path, crypto.install([stored]))
        return _from_file[1]
    if not required:
        return None
    if path is None:
        raise ConfigError(
            "No key to encrypt customers' personal data: set KEFU_PRIVACY__KEYS='[\"<key>\"]' with a key "
            "from `kefu privacy new-key` (and keep a copy: without it the data cannot be read)."
        )
    database = path.with_suffix("")
    if holds_encrypted_data(database):  # restored without its key: a new one could never read it
        raise ConfigError(
            f"The key of the database {database} is missing: it holds customers' personal data encrypted "
            f"with a key, but there is no {path} and KEFU_PRIVACY__KEYS is not set. Restore {path} from "
            "the copy you kept of it (or set KEFU_PRIVACY__KEYS='[\"<key>\"]' with that key); kefu makes "
            "no new key for a database that already holds encrypted data."
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    key = crypto.new_key()
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(key + "\n")
    print(
        f"kefu: made {path}, the key that encrypts customers' personal data in {path.with_suffix('')}; "
        "keep a copy apart from the database (or move it to KEFU_PRIVACY__KEYS)",
        file=sys.stderr,
    )
    return crypto.install([key])


def key_file(settings: Settings) -> Path | None:
    """Where a SQLite database keeps its key when none is configured: beside the file, as
    ``data/kefu.db.key`` (mode 0600). None for PostgreSQL and for a database in memory."""
    url = settings.database.url
    if not url.startswith("sqlite://") or ":memory:" in url:
        return None
    return Path(url.removeprefix("sqlite://").split("?", 1)[0] + ".key")


def holds_encrypted_data(database: Path) -> bool:
    """Whether the SQLite file ``database`` holds an encrypted value (a Fernet token) in any
    encrypted column of the models, read with the standard library before tortoise opens it.

    False for a file that does not exist, or holds no such table yet, or only personal data
    written in plain text before kefu encrypted (the key made for it then encrypts that data).
    A file that cannot be read is a :class:`ConfigError`: kefu cannot tell, so makes no key.
    """
    if not database.exists():
        return False
    try:
        connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise _unreadable(database, error) from None
    try:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        for table, columns in _encrypted_columns():
            if table not in tables:
                continue
            present = {row[1] for row in connection.execute(f'PRAGMA table_info("{table}")')}
            for column in columns:
                if column not in present:
                    continue
                sql = f'SELECT "{column}" FROM "{table}" WHERE "{column}" GLOB \'{crypto.TOKEN_PREFIX}*\' LIMIT 20'
                for (value,) in connection.execute(sql):
                    if isinstance(value, bytes):
                        value = value.decode("ascii", "replace")
                    if isinstance(value, str) and crypto.looks_encrypted(value):
                        return True
        return False
    except sqlite3.Error as error:
        raise _unreadable(database, error) from None
    finally:
        connection.close()


def _unreadable(database: Path, error: sqlite3.Error) -> ConfigError:
    return ConfigError(
        f"Cannot read the database {database} ({error}) to check for customers' personal data before making "
        "its key: check that it is a kefu database, readable by this user."
    )


def _encrypted_columns() -> list[tuple[str, tuple[str, ...]]]:
    """Each table with encrypted columns, and their column names, read from the model classes
    (no database, no ``Tortoise.init`` needed)."""
    from bot.core.db import MODEL_MODULES

    found = []
    for name in MODEL_MODULES:
        for model in vars(importlib.import_module(name)).values():
            if not (isinstance(model, type) and issubclass(model, Model) and model.__module__ == name):
                continue
            if getattr(model._meta, "abstract", False):
                continue
            columns = tuple(
                field.source_field or field_name
                for field_name, field in model._meta.fields_map.items()
                if isinstance(field, crypto.EncryptedTextField)
            )
            if columns:
                found.append((model._meta.db_table or model.__name__.lower(), columns))
    return found


def install_throwaway_key(settings: Settings) -> None:
    """The sandbox: the keys configured, else a new key that lives as long as the process."""
    if install_keys(settings, required=False) is None:
        crypto.install([crypto.new_key()])


@dataclass(frozen=True)
class _Table:
    model: type[Model]
    encrypted: tuple[str, ...]
    """The model's encrypted fields (their column names are the same)."""
    indexes: tuple[str, ...]
    """The blind-index fields, computed from encrypted ones."""

    @property
    def name(self) -> str:
        return self.model._meta.db_table


def _tables() -> list[_Table]:
    from bot.core.db import APP

    tables = []
    for model in Tortoise.apps[APP].values():
        fields = model._meta.fields_map
        encrypted = tuple(n for n, f in fields.items() if isinstance(f, crypto.EncryptedTextField))
        if encrypted:
            indexes = tuple(n for n, f in fields.items() if isinstance(f, crypto.BlindIndexField))
            tables.append(_Table(model, encrypted, indexes))
    return tables


async def _rows(sql: str) -> list[dict]:
    return await Tortoise.get_connection("default").execute_query_dict(sql)


def _plain(column: str) -> str:
    """SQL: the column holds a value written in plain text (Fernet tokens start alike)."""
    return f"({column} IS NOT NULL AND {column} <> '' AND {column} NOT LIKE '{crypto.TOKEN_PREFIX}%')"


async def check_keys() -> None:
    """The keyring opens the oldest and the newest encrypted value of every column, or ConfigError."""
    keyring = crypto.keyring()
    for table in _tables():
        for column in table.encrypted:
            for order in ("ASC", "DESC"):
                rows = await _rows(
                    f"SELECT {column} AS v FROM {table.name} WHERE {column} LIKE '{crypto.TOKEN_PREFIX}%' "
                    f"ORDER BY id {order} LIMIT 1"
                )
                try:
                    for row in rows:
                        keyring.reveal(row["v"])
                except crypto.WrongKey as wrong:
                    raise ConfigError(_wrong_key_message(wrong)) from None


def _wrong_key_message(wrong: crypto.WrongKey) -> str:
    if _from_file is None or _from_file[1] is not crypto.installed():
        return str(wrong)  # the keys of KEFU_PRIVACY__KEYS
    path = _from_file[0]
    return (
        f"Customers' personal data in the database was encrypted with a key that is not the one in {path}: "
        f"restore the {path.name} that belongs with this database from your copy (or set "
        "KEFU_PRIVACY__KEYS='[\"<key>\"]' with the key it was written with)."
    )


def _unindexed(table: _Table) -> list[str]:
    """SQL: a blind index missing beside a value (a column added by a migration, which has no key)."""
    found = []
    for name in table.indexes:
        field = table.model._meta.fields_map[name]
        assert isinstance(field, crypto.BlindIndexField)
        found.append(f"({name} IS NULL AND {field.of} IS NOT NULL AND {field.of} <> '')")
    return found


async def prepare() -> int:
    """At start, once connected (``db.connect(url, ready=prepare)``): with keys installed, check
    them, then encrypt the rows still in plain text, and give a blind index to the rows a
    migration added one to; how many rows were written."""
    if crypto.installed() is None:
        return 0
    await check_keys()
    done = 0
    for table in _tables():
        plain = " OR ".join([*(_plain(c) for c in table.encrypted), *_unindexed(table)])
        ids = [row["id"] for row in await _rows(f"SELECT id FROM {table.name} WHERE {plain} ORDER BY id")]
        for first in range(0, len(ids), BATCH):
            done += await _rewrite(table, ids[first:first + BATCH])
    if done:
        log.info("encrypted (or indexed) the personal data of %d rows written before encryption (or before their index)", done)
    return done


async def rotate() -> dict[str, int]:
    """Write every encrypted value again with the first key (and every blind index): rows per table."""
    await check_keys()
    counts: dict[str, int] = {}
    for table in _tables():
        last, counts[table.name] = 0, 0
        while True:
            ids = list(
                await table.model.filter(id__gt=last).order_by("id").limit(BATCH).values_list("id", flat=True)
            )
            if not ids:
                break
            counts[table.name] += await _rewrite(table, ids)
            last = ids[-1]
    return counts


async def _rewrite(table: _Table, ids: list[int]) -> int:
    """Read (decrypting with any key, or as plain text) and write back (the first key), rows locked."""
    fields = [*table.encrypted, *table.indexes]
    async with in_transaction():
        rows = await table.model.filter(id__in=ids).select_for_update().only("id", *fields)
        if rows:
            await table.model.bulk_update(rows, fields=fields, batch_size=BATCH)
    return len(rows)


# -- forgetting a customer (/forgetme) ---------------------------------------------------------


@dataclass(frozen=True)
class Forgotten:
    """What forgetting did: the agent group is told in the topics of ``tickets``."""

    tickets: list[Ticket]
    closed: list[int]
    """Numbers of the tickets that were still active and are closed now."""
    messages: int
    orders: int
    cancelled: int


async def forget_customer(customer: Customer, now: datetime, calendar: BusinessCalendar | None = None) -> Forgotten:
    """Delete the customer's personal data and messages (see the module's docstring), in one transaction."""
    now = now.astimezone(UTC)
    async with in_transaction():
        tickets = await Ticket.filter(customer=customer).order_by("id")
        closed = [
            t.id for t in tickets
            if t.status != TicketStatus.CLOSED and await close(t, "customer", now, calendar, reason="forgotten")
        ]
        ticket_ids = [t.id for t in tickets]
        messages = await TicketMessage.filter(ticket_id__in=ticket_ids).update(text="", media=None, search_terms=None)
        await AlbumPart.filter(ticket_id__in=ticket_ids).delete()  # an album still being collected
        await Ticket.filter(customer=customer).update(subject="")
        await SurveyResponse.filter(customer=customer).update(comment=None)
        await Question.filter(customer=customer).update(text="", normalized="")
        await QuestionCandidate.filter(customer=customer).delete()
        orders = 0
        if customer.phone:
            orders = await Order.filter(phone_hash__in=crypto.blind_indexes("phone", customer.phone)).update(
                phone=None, phone_hash=None
            )
        await OrderGrant.filter(customer=customer).delete()
        cancelled = await OutboxMessage.filter(customer=customer, status="queued").update(
            status="cancelled", settled_at=now
        )
        await ConversationState.filter(owner_id=customer.telegram_id, scope__in=("user", "chat")).delete()
        await _erase_inbox(customer.telegram_id)
        customer.first_name, customer.last_name, customer.username = "", None, None
        customer.phone, customer.birthday, customer.timezone, customer.tags = None, None, None, []
        customer.opted_out, customer.forgotten_at = True, now
        await customer.save(update_fields=[
            "first_name", "last_name", "username", "phone", "birthday", "timezone", "tags", "opted_out", "forgotten_at",
        ])
    return Forgotten(tickets, closed, messages, orders, cancelled)


_HANDLED = ("done", "throttled", "unknown", "failed", "held", "dropped")
"""The inbox's finished states (bot/intake/models.py, InboxUpdate.status): what ``bot.intake.inbox.purge`` deletes too."""


async def _erase_inbox(telegram_id: int) -> None:
    """The customer's handled updates (from them, or in their private chat) are deleted. Those
    still ``new`` or ``processing`` stay, to be handled — the /forgetme update itself is one —
    and go when the inbox is purged, like every row."""
    await InboxUpdate.filter(Q(user_id=telegram_id) | Q(chat_id=telegram_id), status__in=_HANDLED).delete()
