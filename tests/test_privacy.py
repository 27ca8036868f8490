"""Customers' personal data: encrypted in the database, and forgotten on request (/forgetme)
while the reports go on counting what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise import Tortoise

from bot.i18n import text
from reports import compute_report
from tests.harness import Person
from tests.test_tickets_conversation import in_topic
from ticketing.models import Customer, Ticket, TicketMessage

PHONE = "+8613812345678"


async def _raw_rows(sql: str) -> list[dict]:
    return await Tortoise.get_connection("default").execute_query_dict(sql)


async def _raw_database_text() -> str:
    """Everything the customer and message tables hold, as the database stores it."""
    rows = await _raw_rows("SELECT * FROM customer") + await _raw_rows("SELECT * FROM ticket_message")
    rows += await _raw_rows("SELECT * FROM ticket")
    return repr(rows)


async def test_names_and_phones_are_stored_encrypted(make_customer) -> None:
    customer: Person = make_customer(first_name="Meilin", last_name="Zhou", username="meilin_z", language_code="en")
    await customer._exchange(customer.bot.emulator.send_contact(customer.id, PHONE))
    stored = await Customer.get(telegram_id=customer.id)
    assert (stored.first_name, stored.last_name, stored.phone) == ("Meilin", "Zhou", PHONE)
    raw = await _raw_database_text()
    for secret in ("Meilin", "Zhou", "meilin_z", "13812345678"):
        assert secret not in raw


async def test_forgetme_deletes_the_personal_data_and_the_reports_still_count_the_tickets(
    make_customer, agent: Person
) -> None:
    customer: Person = make_customer(first_name="Meilin", last_name="Zhou", username="meilin_z", language_code="en")
    emulator = customer.bot.emulator
    await customer._exchange(emulator.send_contact(customer.id, PHONE))
    await customer.say("I want to make a complaint, the item is damaged")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    await in_topic(agent, ticket).say("So sorry, Meilin: we send a new one today.")
    await customer.say("My address is 88 Nanjing Road")
    assert await TicketMessage.filter(ticket=ticket, text__contains="Nanjing").exists()

    asked = await customer.say("/forgetme")
    assert "forget you" in asked.text
    await customer.press("No, keep it", asked)
    assert customer.message(asked[-1]["message_id"])["text"] == "All right: nothing was deleted."
    assert (await Customer.get(telegram_id=customer.id)).first_name == "Meilin"

    asked = await customer.say("/forgetme")
    before = emulator.seq
    await customer.press("Yes, delete my data", asked)
    assert customer.message(asked[-1]["message_id"])["text"].startswith("Done: we deleted your personal data")

    forgotten = await Customer.get(telegram_id=customer.id)
    assert (forgotten.first_name, forgotten.last_name, forgotten.username, forgotten.phone) == ("", None, None, None)
    assert forgotten.opted_out and forgotten.forgotten_at is not None
    assert set(await TicketMessage.filter(ticket=ticket).values_list("text", flat=True)) == {""}
    raw = await _raw_database_text()
    for secret in ("Meilin", "Zhou", "meilin_z", "Nanjing", "damaged"):
        assert secret not in raw
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status == "closed"
    notice = emulator.bot_messages(agent.chat_id, since=before)
    told = text(customer.bot.settings.telegram.agent_language, "agent_customer_forgotten", number=ticket.id)
    assert told in [m["text"] for m in notice]
    assert "Meilin" not in emulator.topics[agent.chat_id][ticket.topic_id]["name"]

    now = datetime.now(UTC)
    report = await compute_report(now - timedelta(days=30), now + timedelta(minutes=1), timezone="Asia/Shanghai")
    assert report.complaints.complaints == 1 and report.service.tickets_created == 1
