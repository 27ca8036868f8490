"""The schema comes from migrations; the rules the code relies on are enforced by the database."""

from __future__ import annotations

import pytest
from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.migrations.autodetector import MigrationAutodetector

from bot import db
from ticketing.customers import record_customer
from ticketing.models import Customer


async def test_the_models_match_the_migrations(database: str) -> None:
    """A model changed without `kefu db makemigrations` would break every shop's upgrade."""
    config = db.tortoise_config(database)
    detector = MigrationAutodetector(Tortoise.apps, config["apps"])
    writers = await detector.changes()
    assert writers == [], "run `kefu db makemigrations` and commit the new migration"


async def test_one_customer_per_telegram_user(database: str) -> None:
    await Customer.create(telegram_id=42, first_name="A")
    with pytest.raises(IntegrityError):
        await Customer.create(telegram_id=42, first_name="B")


async def test_an_upgrade_keeps_existing_data(database_url: str) -> None:
    await db.connect(database_url)
    try:
        await record_customer(7, first_name="Fang", language_code="zh-CN")
    finally:
        await db.disconnect()
    await db.upgrade(database_url)  # applying migrations again is a no-op
    await db.connect(database_url)
    try:
        customer = await Customer.get(telegram_id=7)
        assert (customer.first_name, customer.language) == ("Fang", "zh-Hans")
    finally:
        await Customer.filter(telegram_id=7).delete()
        await db.disconnect()


async def test_a_customer_is_recorded_once_and_refreshed(database: str) -> None:
    first = await record_customer(9, first_name="Wei", language_code="zh-TW")
    again = await record_customer(9, first_name="Wei", last_name="Zhang", language_code="zh-TW")
    assert first.id == again.id
    assert await Customer.filter(telegram_id=9).count() == 1
    assert again.language == "zh-Hant" and again.last_name == "Zhang"
