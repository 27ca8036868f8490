"""The schema comes from migrations; the rules the code relies on are enforced by the database."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from tortoise import Tortoise
from tortoise.exceptions import IntegrityError
from tortoise.migrations.api import migrate
from tortoise.migrations.autodetector import MigrationAutodetector

from bot import privacy
from bot.console.auth import open_session
from bot.console.models import ConsoleAudit, ConsoleSession
from bot.core import db
from bot.core.crypto import looks_encrypted
from orders.models import Order, OrderEvent
from orders.service import orders_for
from orders.sources import LocalOrderSource
from scheduler.models import Campaign
from tests.harness import BOTH_DATABASES, kefu_env, postgres_admin
from ticketing.business_hours import BusinessCalendar
from ticketing.customers import record_customer
from ticketing.models import Agent, Customer, Ticket, TicketEvent, TicketMessage
from ticketing.responses import overdue, response_rate


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
    await db.connect(database_url, ready=privacy.prepare)
    try:
        await record_customer(7, first_name="Fang", language_code="zh-CN")
    finally:
        await db.disconnect()
    await db.upgrade(database_url)  # applying migrations again is a no-op
    await db.connect(database_url, ready=privacy.prepare)
    try:
        customer = await Customer.get(telegram_id=7)
        assert (customer.first_name, customer.language) == ("Fang", "zh-Hans")
    finally:
        await Customer.filter(telegram_id=7).delete()
        await db.disconnect()


@pytest.fixture(params=BOTH_DATABASES)
async def fresh_database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """An empty database of its own, for tests that migrate step by step."""
    if request.param == "sqlite":
        yield f"sqlite://{tmp_path / 'fresh.db'}"
        return
    base = request.getfixturevalue("postgres_url")
    name = f"{base.rsplit('/', 1)[1]}_fresh"
    await postgres_admin(f"DROP DATABASE IF EXISTS {name}", f"CREATE DATABASE {name}")
    yield f"{base.rsplit('/', 1)[0]}/{name}"
    await postgres_admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _run_sql_at(config: dict, target: str, sql: str) -> None:
    await migrate(config=config, target=f"{db.APP}.{target}")
    await Tortoise.close_connections()
    await Tortoise.init(config=config)
    await Tortoise.get_connection("default").execute_script(sql)
    await Tortoise.close_connections()


async def test_customers_of_the_first_release_survive_every_later_migration(fresh_database_url: str) -> None:
    """Columns added later must get a value for existing rows (a database default); personal
    data stored in plain text before 0008 is encrypted at the first start after, and a phone
    from before still finds its orders."""
    config = db.tortoise_config(fresh_database_url)
    await _run_sql_at(
        config, "0001_initial",
        "INSERT INTO customer (telegram_id, first_name, language, language_chosen, blocked, opted_out, first_seen, last_seen)"
        " VALUES (7, 'Fang', 'zh-Hans', false, false, false, '2026-01-01 00:00:00+00', '2026-01-01 00:00:00+00')",
    )
    await _run_sql_at(
        config, "0007_inbox",
        "UPDATE customer SET phone = '+8613800000001' WHERE telegram_id = 7;"
        " INSERT INTO shop_order (order_no, phone, status, items, amount, currency, created_at, updated_at)"
        " VALUES ('SO1', '+8613800000001', 'shipped', '[]', '45.00', 'CNY', '2026-01-02 00:00:00+00', '2026-01-02 00:00:00+00')",
    )
    await db.connect(fresh_database_url, ready=privacy.prepare)
    try:
        customer = await Customer.get(telegram_id=7)
        assert (customer.first_name, customer.segment, customer.tags, customer.birthday) == ("Fang", "new", [], None)
        assert customer.phone == "+8613800000001" and customer.forgotten_at is None
        found = await orders_for(customer, source=LocalOrderSource())
        assert [o.order_no for o in found.orders] == ["SO1"]
        raw = await Tortoise.get_connection("default").execute_query_dict(
            "SELECT c.first_name, c.phone, o.phone AS order_phone FROM customer c JOIN shop_order o ON o.phone_hash = c.phone_hash"
        )
        assert len(raw) == 1 and all(looks_encrypted(value) for value in raw[0].values())
    finally:
        await db.disconnect()


async def test_a_customer_is_recorded_once_and_refreshed(database: str) -> None:
    first = await record_customer(9, first_name="Wei", language_code="zh-TW")
    again = await record_customer(9, first_name="Wei", last_name="Zhang", language_code="zh-TW")
    assert first.id == again.id
    assert await Customer.filter(telegram_id=9).count() == 1
    assert again.language == "zh-Hant" and again.last_name == "Zhang"


async def test_a_database_of_the_previous_release_upgrades_and_keeps_its_tickets_orders_and_campaigns(
    fresh_database_url: str,
) -> None:
    """The release before the hostile-input work ended at 0010: its tickets, orders with their
    events and a running campaign are all there, readable, after `kefu db upgrade`."""
    config = db.tortoise_config(fresh_database_url)
    at = "'2026-11-01 08:00:00+00'"
    await _run_sql_at(
        config, "0010_agents_private",
        "INSERT INTO customer (telegram_id, first_name, language, language_chosen, blocked, opted_out, first_seen, last_seen,"
        f" segment, tags) VALUES (8, 'Li', 'zh-Hans', false, false, false, {at}, {at}, 'new', '[]');"
        " INSERT INTO ticket (source, is_complaint, category, priority, status, subject, reopen_count, waiting_since,"
        f" created_at, updated_at, customer_id) SELECT 'complaint', true, 'logistics', 'high', 'resolved', 'late', 0, {at},"
        f" {at}, {at}, id FROM customer WHERE telegram_id = 8;"
        " INSERT INTO shop_order (order_no, phone, status, items, amount, currency, created_at, shipped_at, updated_at)"
        f" VALUES ('SO9', NULL, 'shipped', '[]', '45.00', 'CNY', {at}, {at}, {at});"
        " INSERT INTO order_event (event_id, kind, status, previous_status, happened_at, recorded_at, order_id)"
        f" SELECT 'evt-9', 'status', 'shipped', 'paid', {at}, {at}, id FROM shop_order WHERE order_no = 'SO9';"
        " INSERT INTO campaign (segment, template, created_by_telegram_id, status, total, sent, created_at)"
        f" VALUES ('all', 'hello {{customer_name}}', 111, 'running', 3, 1, {at})",
    )
    await db.upgrade(fresh_database_url)  # what `kefu db upgrade` runs
    await db.connect(fresh_database_url, ready=privacy.prepare)
    try:
        ticket = await Ticket.get(customer__telegram_id=8).prefetch_related("customer")
        assert (ticket.status, ticket.category, ticket.subject, ticket.customer.first_name) == ("resolved", "logistics", "late", "Li")
        order = await Order.get(order_no="SO9")
        assert order.status == "shipped" and await OrderEvent.filter(order=order, event_id="evt-9").exists()
        campaign = await Campaign.get(segment="all")
        assert (campaign.status, campaign.total, campaign.sent, campaign.template) == ("running", 3, 1, "hello {customer_name}")
    finally:
        await db.disconnect()


async def test_a_database_from_before_presence_upgrades_and_nudges_nobody_about_old_messages(fresh_database_url: str) -> None:
    """0016_presence: a waiting customer message from before the upgrade is marked as such (nobody
    is nudged about it, the response rate leaves it out), agents keep their rows, new columns empty."""
    config = db.tortoise_config(fresh_database_url)
    at = "'2026-12-07 02:00:00+00'"  # Monday 10:00 in Shanghai
    await _run_sql_at(
        config, "0015_media",
        "INSERT INTO customer (telegram_id, first_name, language, language_chosen, blocked, opted_out, first_seen, last_seen,"
        f" segment, tags, standing, withheld) VALUES (9, 'Wu', 'zh-Hans', false, false, false, {at}, {at}, 'new', '[]', 'cleared', 0);"
        " INSERT INTO ticket (source, is_complaint, category, priority, status, subject, reopen_count, waiting_since,"
        f" created_at, updated_at, customer_id) SELECT 'complaint', true, 'logistics', 'high', 'open', 'late', 0, {at},"
        f" {at}, {at}, id FROM customer WHERE telegram_id = 9;"
        f" INSERT INTO ticket_message (direction, text, created_at, ticket_id) SELECT 'in', 'hello', {at}, id FROM ticket;"
        f" INSERT INTO agent (telegram_id, name, role, active, created_at) VALUES (77, 'Lei', 'agent', true, {at})",
    )
    await db.upgrade(fresh_database_url)
    await db.connect(fresh_database_url, ready=privacy.prepare)
    try:
        message = await TicketMessage.get(direction="in")
        assert (message.nudged, message.answered_at, message.response_seconds) == (3, None, None)
        later = datetime(2026, 12, 7, 2, 10, tzinfo=UTC)
        assert await overdue(later, BusinessCalendar(), timedelta(seconds=100)) == []
        assert (await response_rate(later - timedelta(days=1), later)).messages == 0
        agent = await Agent.get(telegram_id=77)
        assert (agent.presence, agent.last_seen, agent.last_assigned_at) == (None, None, None)
        assert (await Ticket.get(customer__telegram_id=9)).queued_at is None
    finally:
        await db.disconnect()


async def test_messages_from_before_search_are_found_after_the_upgrade(fresh_database_url: str) -> None:
    """0019_search: the migration adds the column and its full-text index (it has no key to read
    the messages); the first start with the key gives the messages already there their terms."""
    from bot.core.crypto import keyring
    from ticketing.queue import QueueFilter, queue_page

    config = db.tortoise_config(fresh_database_url)
    at = "'2026-12-07 02:00:00+00'"
    sealed = keyring().encrypt("我的快递还没到, where is my parcel")
    await _run_sql_at(
        config, "0018_console",
        "INSERT INTO customer (telegram_id, first_name, language, language_chosen, blocked, opted_out, first_seen, last_seen,"
        f" segment, tags, standing, withheld) VALUES (9, 'Wu', 'zh-Hans', false, false, false, {at}, {at}, 'new', '[]', 'cleared', 0);"
        " INSERT INTO ticket (source, is_complaint, category, priority, status, subject, reopen_count, waiting_since,"
        f" created_at, updated_at, customer_id) SELECT 'complaint', true, 'logistics', 'high', 'open', 'late', 0, {at},"
        f" {at}, {at}, id FROM customer WHERE telegram_id = 9;"
        f" INSERT INTO ticket_message (direction, text, created_at, ticket_id, nudged) SELECT 'in', '{sealed}', {at}, id, 0 FROM ticket",
    )
    await db.upgrade(fresh_database_url)
    await db.connect(fresh_database_url, ready=privacy.prepare)
    try:
        ticket = await Ticket.get(customer__telegram_id=9)
        now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
        for query in ("快递", "快遞", "parcel"):
            assert [t.id for t in (await queue_page(QueueFilter(query=query), now)).tickets] == [ticket.id]
        assert (await TicketMessage.get(ticket=ticket)).text == "我的快递还没到, where is my parcel"
    finally:
        await db.disconnect()


async def test_a_database_from_before_the_console_upgrades_with_its_agents_and_nobody_signed_in(
    fresh_database_url: str,
) -> None:
    """0018_console: new tables (sessions, login links, audit); the agents stay, and may sign in."""
    config = db.tortoise_config(fresh_database_url)
    at = "'2026-12-07 02:00:00+00'"
    await _run_sql_at(
        config, "0017_logistics",
        f"INSERT INTO agent (telegram_id, name, role, active, created_at) VALUES (78, 'Lei', 'agent', true, {at})",
    )
    await db.upgrade(fresh_database_url)
    await db.connect(fresh_database_url, ready=privacy.prepare)
    try:
        agent = await Agent.get(telegram_id=78)
        assert agent.name == "Lei"
        assert await ConsoleSession.all().count() == 0 and await ConsoleAudit.all().count() == 0
        now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
        token, session = await open_session(agent.id, "zh-Hans", now, minutes=480)
        assert session.expires_at == now + timedelta(minutes=480) and token not in session.token_hash
    finally:
        await db.disconnect()


async def _ticket_schema() -> set[str]:
    """The indexes and constraints of ``ticket``, by name (SQLite: its indexes, the unique one
    included, and its foreign keys)."""
    connection = Tortoise.get_connection("default")
    if connection.capabilities.dialect == "postgres":
        indexes = await connection.execute_query_dict("SELECT indexname AS name FROM pg_indexes WHERE tablename = 'ticket'")
        constraints = await connection.execute_query_dict(
            "SELECT conname AS name FROM pg_constraint WHERE conrelid = 'ticket'::regclass"
        )
        return {row["name"] for row in indexes + constraints}
    indexes = await connection.execute_query_dict("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'ticket'")
    keys = await connection.execute_query_dict("SELECT * FROM pragma_foreign_key_list('ticket')")
    return {row["name"] for row in indexes} | {f"{k['from']} -> {k['table']} {k['on_delete']}" for k in keys}


async def test_subjects_from_before_encryption_are_kept_and_encrypted_at_the_first_start(
    fresh_database_url: str, tmp_path
) -> None:
    """0020_subject: a ticket's subject (the customer's first message) becomes an encrypted column.
    `kefu db upgrade` keeps every ticket with its subject, messages and events, and the indexes
    and constraints of ``ticket`` (SQLite's table is not rebuilt: dropping it would delete the
    tickets' messages); with the key, it encrypts the subjects written in plain text before."""
    config = db.tortoise_config(fresh_database_url)
    at = "'2026-12-07 02:00:00+00'"
    said = "parcel broken, call me on +8613912345678 or come to 17 Quillbramble Lane"
    await _run_sql_at(
        config, "0019_search",
        "INSERT INTO customer (telegram_id, first_name, language, language_chosen, blocked, opted_out, first_seen, last_seen,"
        f" segment, tags, standing, withheld) VALUES (9, 'Wu', 'zh-Hans', false, false, false, {at}, {at}, 'new', '[]', 'cleared', 0);"
        " INSERT INTO ticket (source, is_complaint, category, priority, status, subject, reopen_count, waiting_since,"
        f" created_at, updated_at, customer_id, active_customer_id) SELECT 'complaint', true, 'logistics', 'high', 'open', '{said}', 0,"
        f" {at}, {at}, {at}, id, id FROM customer WHERE telegram_id = 9;"
        " INSERT INTO ticket (source, is_complaint, category, priority, status, subject, reopen_count, waiting_since,"
        f" created_at, updated_at, customer_id) SELECT 'handoff', false, 'other', 'normal', 'closed', '', 0, {at},"
        f" {at}, {at}, id FROM customer WHERE telegram_id = 9;"
        f" INSERT INTO ticket_message (direction, text, created_at, ticket_id, nudged) SELECT 'in', 'hello', {at}, id, 0 FROM ticket;"
        f" INSERT INTO ticket_event (kind, actor, data, at, ticket_id) SELECT 'created', 'customer', '{{}}', {at}, id FROM ticket",
    )
    await Tortoise.init(config=config)
    try:
        before = await _ticket_schema()
    finally:
        await Tortoise.close_connections()
    assert {"idx_ticket_status_id", "idx_ticket_assignee_id", "idx_ticket_category_id"} <= before

    upgrade = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path,
        env=kefu_env(KEFU_DATABASE__URL=fresh_database_url), capture_output=True, text=True, timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr

    await db.connect(fresh_database_url)  # no privacy.prepare: the database as `kefu db upgrade` left it
    try:
        assert await _ticket_schema() == before
        stored = await Tortoise.get_connection("default").execute_query_dict("SELECT subject FROM ticket ORDER BY id")
        assert looks_encrypted(stored[0]["subject"]) and stored[1]["subject"] == ""
        active, closed = await Ticket.filter(customer__telegram_id=9).order_by("id")
        assert (active.subject, active.status, closed.subject) == (said, "open", "")
        assert await TicketMessage.all().count() == 2 and await TicketEvent.all().count() == 2
        with pytest.raises(IntegrityError):  # still one active ticket per customer
            await Ticket.create(customer_id=active.customer_id, active_customer_id=active.customer_id, source="handoff",
                                subject="again", waiting_since=active.created_at, created_at=active.created_at,
                                updated_at=active.created_at)
    finally:
        await db.disconnect()


@pytest.fixture
async def scratch_database_url(fresh_database_url: str, tmp_path) -> AsyncIterator[str]:
    """A second empty database of the same kind as ``fresh_database_url``: one migrated from scratch."""
    if fresh_database_url.startswith("sqlite://"):
        yield f"sqlite://{tmp_path / 'scratch.db'}"
        return
    base, name = fresh_database_url.rsplit("/", 1)
    await postgres_admin(f"DROP DATABASE IF EXISTS {name}_scratch", f"CREATE DATABASE {name}_scratch")
    yield f"{base}/{name}_scratch"
    await postgres_admin(f"DROP DATABASE IF EXISTS {name}_scratch WITH (FORCE)")


async def _schema(url: str) -> dict[str, set]:
    """What a database is made of, by kind: tables with their columns, indexes, constraints
    (foreign keys with their ON DELETE) and triggers, compared between two databases."""
    await Tortoise.init(config=db.tortoise_config(url))
    try:
        connection = Tortoise.get_connection("default")
        if connection.capabilities.dialect == "postgres":
            def rows(sql: str) -> set[tuple]:
                return {tuple(row.values()) for row in found[sql]}
            queries = {
                "columns": "SELECT table_name, column_name, data_type, is_nullable, column_default FROM information_schema.columns"
                           " WHERE table_schema = 'public'",
                "indexes": "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'",
                "constraints": "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
                               " WHERE connamespace = 'public'::regnamespace",
                "triggers": "SELECT event_object_table, trigger_name, action_statement FROM information_schema.triggers",
            }
            found = {sql: await connection.execute_query_dict(sql) for sql in queries.values()}
            return {kind: rows(sql) for kind, sql in queries.items()}
        objects = await connection.execute_query_dict("SELECT type, name, tbl_name, sql FROM sqlite_master")
        tables = [o["name"] for o in objects if o["type"] == "table" and not o["name"].startswith("sqlite_")]
        schema: dict[str, set] = {"tables": set(tables), "columns": set(), "indexes": set(), "constraints": set()}
        for table in tables:
            for c in await connection.execute_query_dict(f"SELECT * FROM pragma_table_info('{table}')"):
                schema["columns"].add((table, c["name"], c["type"], c["notnull"], c["dflt_value"], c["pk"]))
            for i in await connection.execute_query_dict(f"SELECT * FROM pragma_index_list('{table}')"):
                columns = await connection.execute_query_dict(f"SELECT name FROM pragma_index_info('{i['name']}')")
                schema["indexes"].add((table, i["name"], i["unique"], tuple(c["name"] for c in columns)))
            for k in await connection.execute_query_dict(f"SELECT * FROM pragma_foreign_key_list('{table}')"):
                schema["constraints"].add((table, k["from"], k["table"], k["to"], k["on_delete"]))
        schema["triggers"] = {(o["tbl_name"], o["name"], o["sql"]) for o in objects if o["type"] == "trigger"}
        return schema
    finally:
        await Tortoise.close_connections()


async def test_a_database_of_0007_upgrades_keeping_every_row_and_every_link(
    fresh_database_url: str, scratch_database_url: str, tmp_path
) -> None:
    """On SQLite, 0008 rebuilds ``customer`` and ``shop_order``, 0009 ``inbox_update``, 0010 ``agent``
    and ``ticket_message``, 0012 ``campaign`` (tortoise's AlterField: new table, copy, DROP, rename).
    `kefu db upgrade` runs them with foreign keys off, so no DROP deletes the rows pointing at the
    table (a customer's tickets, messages, events, outbox rows, surveys, grants, questions; an
    order's events) nor empties their pointers (assignee, message's agent, outbox's campaign), and
    the database it leaves is made exactly like one migrated from scratch."""
    config = db.tortoise_config(fresh_database_url)
    at = "'2026-06-01 08:00:00+00'"
    await _run_sql_at(
        config, "0007_inbox",
        "INSERT INTO customer (telegram_id, first_name, language, language_chosen, blocked, opted_out, first_seen, last_seen,"
        f" segment, tags) VALUES (8, 'Li', 'zh-Hans', false, false, false, {at}, {at}, 'new', '[]');"
        f" INSERT INTO agent (telegram_id, name, username, role, active, created_at) VALUES (77, 'Lei', 'lei', 'agent', true, {at});"
        " INSERT INTO ticket (source, is_complaint, category, priority, status, subject, reopen_count, waiting_since,"
        f" created_at, updated_at, customer_id, assignee_id) SELECT 'complaint', true, 'logistics', 'high', 'open', 'late', 0,"
        f" {at}, {at}, {at}, c.id, a.id FROM customer c, agent a;"
        " INSERT INTO ticket (source, is_complaint, category, priority, status, subject, reopen_count, waiting_since,"
        f" created_at, updated_at, customer_id, repeat_of_id) SELECT 'handoff', false, 'other', 'normal', 'closed', 'again', 0,"
        f" {at}, {at}, {at}, customer_id, id FROM ticket;"
        f" INSERT INTO ticket_message (direction, text, created_at, ticket_id) SELECT 'in', 'where is it', {at}, id FROM ticket;"
        f" INSERT INTO ticket_message (direction, text, created_at, ticket_id, agent_id) SELECT 'out', 'on its way', {at}, t.id,"
        " a.id FROM ticket t, agent a WHERE t.repeat_of_id IS NULL;"
        f" INSERT INTO ticket_event (kind, actor, data, at, ticket_id) SELECT 'created', 'customer', '{{}}', {at}, id FROM ticket;"
        " INSERT INTO campaign (segment, template, created_by_telegram_id, status, total, sent, created_at)"
        f" VALUES ('all', 'hello', 111, 'running', 2, 1, {at});"
        " INSERT INTO outbox (kind, key, payload, due_at, status, attempts, created_at, customer_id, campaign_id)"
        f" SELECT 'campaign', 'campaign:1:8', '{{}}', {at}, 'sent', 1, {at}, c.id, k.id FROM customer c, campaign k;"
        " INSERT INTO outbox (kind, key, payload, due_at, status, attempts, created_at, customer_id)"
        f" SELECT 'survey', 'survey:1', '{{}}', {at}, 'queued', 0, {at}, id FROM customer;"
        " INSERT INTO survey_response (kind, subject_key, score, answered_at, updated_at, customer_id, ticket_id)"
        f" SELECT 'csat', 'ticket:' || t.id, 5, {at}, {at}, t.customer_id, t.id FROM ticket t WHERE t.repeat_of_id IS NULL;"
        f" INSERT INTO order_grant (order_no, granted_at, customer_id) SELECT 'SO7', {at}, id FROM customer;"
        " INSERT INTO kb_question (text, normalized, language, score, band, learned, asked_at, customer_id)"
        f" SELECT 'refund?', 'refund', 'en', 0.5, 'low', false, {at}, id FROM customer;"
        " INSERT INTO shop_order (order_no, phone, status, items, amount, currency, created_at, updated_at)"
        f" VALUES ('SO7', '+8613800000007', 'shipped', '[]', '45.00', 'CNY', {at}, {at});"
        " INSERT INTO order_event (event_id, kind, status, previous_status, happened_at, recorded_at, order_id)"
        f" SELECT 'evt-7', 'status', 'shipped', 'paid', {at}, {at}, id FROM shop_order",
    )

    upgrade = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path,
        env=kefu_env(KEFU_DATABASE__URL=fresh_database_url), capture_output=True, text=True, timeout=120,
    )
    assert upgrade.returncode == 0, upgrade.stderr

    await db.connect(fresh_database_url, ready=privacy.prepare)
    try:
        first, again = await Ticket.all().order_by("id").prefetch_related("customer", "assignee", "repeat_of")
        assert (first.customer.telegram_id, first.customer.first_name, first.assignee.telegram_id) == (8, "Li", 77)
        assert (again.customer.telegram_id, again.assignee, again.repeat_of.id) == (8, None, first.id)
        said = [(m.ticket_id, m.direction, m.text, m.agent_id) for m in await TicketMessage.all().order_by("id")]
        assert said == [(first.id, "in", "where is it", None), (again.id, "in", "where is it", None),
                        (first.id, "out", "on its way", first.assignee.id)]
        assert sorted(e.ticket_id for e in await TicketEvent.all()) == [first.id, again.id]
        connection = Tortoise.get_connection("default")
        outbox = await connection.execute_query_dict("SELECT key, customer_id, campaign_id FROM outbox ORDER BY id")
        campaign = await Campaign.get(segment="all")
        assert [tuple(row.values()) for row in outbox] == [
            ("campaign:1:8", first.customer.id, campaign.id), ("survey:1", first.customer.id, None)
        ]
        linked = await connection.execute_query_dict(
            "SELECT (SELECT ticket_id FROM survey_response) AS surveyed, (SELECT count(*) FROM order_grant) AS grants,"
            " (SELECT count(*) FROM kb_question) AS questions,"
            " (SELECT count(*) FROM order_event e JOIN shop_order o ON o.id = e.order_id WHERE o.order_no = 'SO7') AS events"
        )
        assert tuple(linked[0].values()) == (first.id, 1, 1, 1)
    finally:
        await db.disconnect()

    await db.upgrade(scratch_database_url)
    assert await _schema(fresh_database_url) == await _schema(scratch_database_url)


async def test_an_upgrade_that_would_leave_rows_pointing_at_nothing_fails_and_changes_nothing(tmp_path) -> None:
    """SQLite runs migrations with foreign keys off; each ends with ``PRAGMA foreign_key_check``:
    a row pointing at nothing rolls the migration back and `kefu db upgrade` says which (exit 2)."""
    url = f"sqlite://{tmp_path / 'kefu.db'}"
    config = db.tortoise_config(url)
    at = "'2026-06-01 08:00:00+00'"
    await _run_sql_at(
        config, "0011_feed_replay",
        "PRAGMA foreign_keys = OFF;"
        f" INSERT INTO ticket_event (kind, actor, data, at, ticket_id) VALUES ('created', 'customer', '{{}}', {at}, 404)",
    )
    before = await _schema(url)
    upgrade = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "db", "upgrade"], cwd=tmp_path,
        env=kefu_env(KEFU_DATABASE__URL=url), capture_output=True, text=True, timeout=120,
    )
    assert upgrade.returncode == 2 and "Traceback" not in upgrade.stderr, upgrade.stderr
    assert "after migration 0012_campaigns, 1 rows would point at rows that are not there (ticket_event row 1 -> ticket)" in upgrade.stderr
    assert await _schema(url) == before  # 0012_campaigns rolled back: campaign has no new columns
    await Tortoise.init(config=config)
    try:
        applied = await Tortoise.get_connection("default").execute_query_dict("SELECT name FROM tortoise_migrations")
        assert max(row["name"] for row in applied) == "0011_feed_replay"
    finally:
        await Tortoise.close_connections()


async def test_a_table_a_later_migration_rebuilds_keeps_its_rows_indexes_and_search_triggers(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A migration to come that alters a column of ``ticket_message`` (any AlterField rebuilds the
    table on SQLite): the messages stay, with their indexes and the triggers that keep the
    full-text search (0019_search) up to date, so what is written after is found too."""
    from ticketing.queue import QueueFilter, queue_page

    later = tmp_path / "later_migrations"
    shutil.copytree(Path(db.__file__).parent.parent / "migrations", later, ignore=shutil.ignore_patterns("__pycache__"))
    (later / "0021_rebuild.py").write_text(
        "from tortoise import migrations\n"
        "from tortoise.migrations import operations as ops\n"
        "from bot.core.crypto import EncryptedTextField\n\n\n"
        "class Migration(migrations.Migration):\n"
        "    dependencies = [('kefu', '0020_subject')]\n"
        "    operations = [ops.AlterField(model_name='TicketMessage', name='text', field=EncryptedTextField(default='',"
        " description='what people write, encrypted'))]\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    url = f"sqlite://{tmp_path / 'kefu.db'}"
    now = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)
    await db.connect(url, ready=privacy.prepare)
    try:
        customer = await record_customer(9, first_name="Wu", language_code="zh-CN")
        ticket = await Ticket.create(customer=customer, source="handoff", subject="parcel", waiting_since=now, created_at=now, updated_at=now)
        await TicketMessage.create(ticket=ticket, direction="in", text="我的快递还没到", created_at=now)
    finally:
        await db.disconnect()
    before = await _schema(url)
    assert any(name.startswith("ticket_message_search_terms_") for _, name, _ in before["triggers"])

    migrating = db.tortoise_config
    monkeypatch.setattr(db, "tortoise_config", lambda url: migrating(url) | {
        "apps": {db.APP: migrating(url)["apps"][db.APP] | {"migrations": "later_migrations"}}
    })
    await db.upgrade(url)
    assert await _schema(url) == before

    await db.connect(url, ready=privacy.prepare)
    try:
        applied = await Tortoise.get_connection("default").execute_query_dict("SELECT name FROM tortoise_migrations")
        assert "0021_rebuild" in {row["name"] for row in applied}
        await TicketMessage.create(ticket=ticket, direction="out", text="已经发出了 parcel sent", created_at=now)
        for query in ("快递", "parcel"):
            assert [t.id for t in (await queue_page(QueueFilter(query=query), now)).tickets] == [ticket.id]
        assert [m.text for m in await TicketMessage.filter(ticket=ticket).order_by("id")] == ["我的快递还没到", "已经发出了 parcel sent"]
    finally:
        await db.disconnect()
