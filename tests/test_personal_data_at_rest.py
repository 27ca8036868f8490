"""What Telegram tells kefu about people (names, usernames, shared phone numbers) and what
customers write is never in a copy of the database in clear: not in the customers' and agents'
rows, not in the inbox that keeps every update, not in what was written for them, not in a
ticket's subject (the customer's first message)."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from tortoise import Tortoise

from tests.harness import TEST_PRIVACY_KEY, Bot
from ticketing.models import Agent, Customer, Ticket

NAMES = ("Quixotina", "Zephyrson", "quixo_zeph", "Agentella", "Pollux", "pollux_desk")
PHONE = "+8613912345678"
ADDRESS = "17 Quillbramble Lane"
FIRST_MESSAGE = f"the parcel is damaged, bring the new one to {ADDRESS}"


def _dump(database: str, folder: Path) -> bytes:
    """What a backup of the database holds: pg_dump's output, or every byte of the SQLite files."""
    if database.startswith("postgres"):
        return subprocess.run(["pg_dump", database], check=True, capture_output=True, timeout=60).stdout
    path = Path(database.removeprefix("sqlite://").split("?", 1)[0])
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


async def test_a_dump_of_a_database_in_use_holds_no_name_username_phone_or_first_message(bot: Bot, tmp_path: Path) -> None:
    if bot.settings.database.url.startswith("postgres") and subprocess.run(["which", "pg_dump"], capture_output=True).returncode:
        pytest.skip("pg_dump is not installed")
    emulator = bot.emulator
    customer = bot.add_customer(first_name="Quixotina", last_name="Zephyrson", username="quixo_zeph", language_code="en")
    agent = bot.add_agent(first_name="Agentella", last_name="Pollux", username="pollux_desk", language_code="en")
    supervisor = bot.add_supervisor(first_name="Min", language_code="en")

    await customer.say("/start")
    await customer.share_contact(PHONE)
    await customer.say(f"/complaint {FIRST_MESSAGE}")
    await supervisor.say("/snippets add sorry Dear {customer_name}, we are sorry. {agent_name}")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    topic = agent.in_topic(ticket)
    await topic.say("/snippet sorry")
    await topic.say("We will send a new one")
    await asyncio.sleep(0.2)
    said = [m.get("text", "") for m in emulator.bot_messages(customer.chat_id)]
    assert any("Dear Quixotina Zephyrson" in t for t in said)  # the names did go where they belong
    assert (await Customer.get(telegram_id=customer.id)).phone == PHONE
    assert ticket.subject == FIRST_MESSAGE  # the ticket's subject is the customer's first message
    row = await Agent.get(telegram_id=agent.id)
    assert (row.name, row.username) == ("Agentella Pollux", "pollux_desk")  # and read back

    dump = _dump(bot.settings.database.url, tmp_path)
    leaked = [name for name in (*NAMES, PHONE, PHONE.lstrip("+"), ADDRESS, "Quillbramble") if name.encode() in dump]
    assert leaked == [], f"in clear in the database: {leaked}"



async def test_a_key_rotation_covers_the_inbox_agents_messages_and_subjects(database: str) -> None:
    """``kefu privacy rotate``: afterwards the new key alone opens everything, the inbox included;
    values stored in plain text before (an older kefu) are encrypted at the next start."""
    from datetime import UTC, datetime

    from bot import privacy
    from bot.core import crypto
    from bot.intake import inbox
    from bot.intake.models import InboxUpdate
    from ticketing.models import TicketMessage
    from ticketing.service import SlaPolicy, open_ticket

    now = datetime.now(UTC)
    update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"},
                                          "from": {"id": 5, "is_bot": False, "first_name": "Quixotina"}, "text": "hi"}}
    await inbox.store([update], now)
    await Agent.create(telegram_id=7, name="Agentella Pollux", username="pollux_desk")
    customer = await Customer.create(telegram_id=5, first_name="Quixotina")
    ticket = (await open_ticket(customer, text="hi", source="command", now=now, policy=SlaPolicy())).ticket
    await TicketMessage.create(ticket=ticket, direction="out", text="Dear Quixotina", created_at=now)
    connection = Tortoise.get_connection("default")
    # as an older kefu stored them: the update, and the ticket's subject, in plain text
    await connection.execute_query("UPDATE inbox_update SET payload = '{\"update_id\": 1}' WHERE update_id = 1")
    await connection.execute_query(f"UPDATE ticket SET subject = 'hi, Quixotina here' WHERE id = {ticket.id}")
    assert await privacy.prepare() >= 2
    stored = await connection.execute_query_dict(f"SELECT subject FROM ticket WHERE id = {ticket.id}")
    assert crypto.looks_encrypted(stored[0]["subject"])
    new = crypto.new_key()
    try:
        crypto.install([new, TEST_PRIVACY_KEY])
        counts = await privacy.rotate()
        assert counts["inbox_update"] == counts["agent"] == counts["ticket"] == 1 and counts["ticket_message"] >= 1
        crypto.install([new])
        assert (await InboxUpdate.get(update_id=1)).payload == {"update_id": 1}
        assert (await Agent.get(telegram_id=7)).username == "pollux_desk"
        assert await Agent.filter(username_hash__in=crypto.blind_indexes("username", "POLLUX_desk")).exists()
        assert "Dear Quixotina" in [m.text for m in await TicketMessage.filter(ticket=ticket)]
        assert (await Ticket.get(id=ticket.id)).subject == "hi, Quixotina here"
    finally:  # back to the tests' key: the next test opens this database with it
        crypto.install([TEST_PRIVACY_KEY, new])
        await privacy.rotate()
        crypto.install([TEST_PRIVACY_KEY])
