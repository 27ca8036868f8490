"""Customers' personal data: encrypted in the database, and forgotten on request (/forgetme)
while the reports go on counting what happened."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tortoise import Tortoise
from tortoise.expressions import Q

from bot.core.i18n import text
from bot.intake.models import InboxUpdate
from bot.privacy import forget_customer
from knowledge_base.models import Question
from orders.importer import load_samples
from orders.models import Order, OrderStatus
from reports import compute_report
from scheduler.models import SurveyResponse
from tests.harness import Person
from ticketing.customers import record_customer
from ticketing.models import Customer, Ticket, TicketMessage

PHONE = "+8613812345678"
SHANGHAI = ZoneInfo("Asia/Shanghai")


async def _raw_rows(sql: str) -> list[dict]:
    return await Tortoise.get_connection("default").execute_query_dict(sql)


async def _raw_database_text() -> str:
    """Everything the customer and message tables hold, as the database stores it."""
    rows = await _raw_rows("SELECT * FROM customer") + await _raw_rows("SELECT * FROM ticket_message")
    rows += await _raw_rows("SELECT * FROM ticket")
    return repr(rows)


async def test_names_and_phones_are_stored_encrypted(make_customer) -> None:
    customer: Person = make_customer(first_name="Meilin", last_name="Zhou", username="meilin_z", language_code="en")
    await customer.share_contact(PHONE)
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
    await customer.share_contact(PHONE)
    await customer.say("I want to make a complaint, the item is damaged")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    await agent.in_topic(ticket).say("So sorry, Meilin: we send a new one today.")
    await customer.say("My address is 88 Nanjing Road")
    assert any("Nanjing" in message.text for message in await TicketMessage.filter(ticket=ticket))
    assert ticket.subject == "I want to make a complaint, the item is damaged"
    assert "damaged" not in await _raw_database_text()  # the subject is encrypted, as the messages are

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
    assert (ticket.status, ticket.subject) == ("closed", "")
    notice = emulator.bot_messages(agent.chat_id, since=before)
    told = text(customer.bot.settings.telegram.agent_language, "agent_customer_forgotten", number=ticket.id)
    assert told in [m["text"] for m in notice]
    assert "Meilin" not in emulator.topics[agent.chat_id][ticket.topic_id]["name"]

    now = datetime.now(UTC)
    report = await compute_report(now - timedelta(days=30), now + timedelta(minutes=1), timezone="Asia/Shanghai")
    assert report.complaints.complaints == 1 and report.service.tickets_created == 1


async def _forget(customer: Person) -> None:
    asked = await customer.say("/forgetme")
    await customer.press("Yes, delete my data", asked)


async def _customer_row(customer: Person) -> dict:
    """The customer's row as the database stores it (names encrypted, "" and NULL as they are)."""
    columns = "first_name, last_name, username, phone"
    return (await _raw_rows(f"SELECT {columns} FROM customer WHERE telegram_id = {customer.id}"))[0]


async def _stored_counts() -> dict[str, int]:
    return {
        "tickets": await Ticket.all().count(), "messages": await TicketMessage.all().count(),
        "questions": await Question.all().count(),
        "answers": await SurveyResponse.filter(score__isnull=False).count(),
    }


async def test_after_forgetme_old_buttons_are_refused_and_store_nothing_until_the_customer_writes_again(
    make_customer,
) -> None:
    customer: Person = make_customer(first_name="Meilin", last_name="Zhou", username="meilin_z", language_code="en")
    bot = customer.bot
    delivered = datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI)
    bot.travel(delivered)
    await load_samples(now=delivered - timedelta(days=1))
    await customer.share_contact("+8613800000002")
    await Order.filter(order_no="SO100245").update(status=OrderStatus.DELIVERED, delivered_at=delivered.astimezone(UTC))
    before = bot.emulator.seq
    await bot.run_scheduler(datetime(2026, 11, 24, 12, 0, tzinfo=SHANGHAI))
    await bot.run_scheduler(datetime(2026, 12, 1, 12, 0, tzinfo=SHANGHAI))
    survey, revisit = bot.emulator.bot_messages(customer.chat_id, since=before)
    assert revisit["text"].startswith("Hi Meilin! Your order SO100245 arrived a while ago.")
    assert await InboxUpdate.filter(user_id=customer.id).exists()

    await _forget(customer)
    # The customer's handled updates left the inbox; the /forgetme confirmation, still being handled then, stays.
    assert await InboxUpdate.filter(Q(user_id=customer.id) | Q(chat_id=customer.id)).count() == 1
    stored = await _stored_counts()
    refused = text("en", "forgotten_refused")

    assert await customer.press("⚠️ Something's wrong", [revisit]) == []
    assert bot.emulator.callback_answers[-1]["text"] == refused
    assert await customer.press("⭐⭐⭐⭐⭐", [survey]) == []
    assert bot.emulator.callback_answers[-1]["text"] == refused
    shared = await customer.share_contact("+8613800000002")
    assert shared.texts == [refused]
    said = next(m for m in bot.emulator.history(customer.chat_id) if m["from"]["id"] == customer.id and "text" in m)
    assert await customer.exchange(bot.emulator.edit_text(customer.id, said["message_id"], "I live at 88 Nanjing Road")) == []
    assert await _customer_row(customer) == {"first_name": "", "last_name": None, "username": None, "phone": None}
    assert (await Customer.get(telegram_id=customer.id)).forgotten_at is not None
    assert await _stored_counts() == stored

    hello = await customer.say("hello")
    assert hello.text == "Hello Meilin! How can I help you today?"
    again = await Customer.get(telegram_id=customer.id)
    assert (again.first_name, again.username, again.forgotten_at) == ("Meilin", "meilin_z", None)
    assert again.opted_out  # surveys and offers only after /subscribe
    opened = await customer.press("⚠️ Something's wrong", [revisit])
    assert opened.text.startswith("I've passed this on to our team: ticket #")


async def test_after_forgetme_agents_cannot_reopen_or_write_into_the_customers_tickets(
    make_customer, agent: Person
) -> None:
    customer: Person = make_customer(first_name="Meilin", last_name="Zhou", language_code="en")
    await customer.say("I want to make a complaint, the item is damaged")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    topic = agent.in_topic(ticket)
    await topic.say("So sorry: we send a new one today.")
    await _forget(customer)
    customer.bot.emulator.set_member(agent.chat_id, agent.id, "administrator")  # may write in the closed topic
    stored = await _stored_counts()
    before = customer.bot.emulator.seq
    told = text(customer.bot.settings.telegram.agent_language, "agent_customer_is_forgotten", number=ticket.id)

    assert (await topic.say(f"/reopen {ticket.id}")).texts == [told]
    assert (await Ticket.get(id=ticket.id)).status == "closed"
    assert (await topic.say("Are you still there, Meilin?")).texts == [told]
    assert (await topic.send_photo(b"\x89PNG receipt", caption="Your receipt")).texts == [told]
    assert (await topic.say("/note she lives at 88 Nanjing Road")).texts == [told]
    assert customer.bot.emulator.bot_messages(customer.chat_id, since=before) == []
    assert await _stored_counts() == stored


async def test_forgetme_erases_the_customers_handled_updates_from_the_inbox(database: str) -> None:
    customer = await record_customer(42, first_name="Meilin")
    statuses = ("done", "throttled", "unknown", "failed", "new", "processing")
    for update_id, status in enumerate(statuses):
        await InboxUpdate.create(update_id=update_id, user_id=42, chat_id=42, payload={"text": "hi"}, status=status)
    await InboxUpdate.create(update_id=10, user_id=42, chat_id=-100123, payload={"text": "hi"}, status="done")
    await InboxUpdate.create(update_id=11, user_id=7, chat_id=7, payload={"text": "hi"}, status="done")  # someone else
    await forget_customer(customer, datetime.now(UTC))
    left = {row.update_id: row.status for row in await InboxUpdate.all()}
    assert left == {4: "new", 5: "processing", 11: "done"}
