"""Hostile and careless input at the desk (issue 18): Telegram strings longer than kefu's columns,
snippet placeholders that would run str.format, numbers no row can have, forged buttons, and a
flood of presses — each answered politely, none failing an update."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.fit import cut
from tests.conftest import SUPERVISOR_ID, _agent, _customer
from tests.harness import Bot, Person
from ticketing.customers import record_customer
from ticketing.models import Agent, Customer, Snippet, Ticket
from ticketing.service import record_agent
from ticketing.snippets import PLACEHOLDERS, SnippetError, render_snippet, save_snippet

FUZZ = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
async def desk(start_bot) -> AsyncIterator[Bot]:
    """The bot, with the agent group in English."""
    async with start_bot(telegram={"agent_language": "en"}) as running:
        yield running


def in_topic(person: Person, ticket: Ticket) -> Person:
    return Person(person.bot, person.user, person.chat_id, thread_id=ticket.topic_id)


def supervisor_of(bot: Bot) -> Person:
    return _agent(bot, bot.emulator.add_user(SUPERVISOR_ID, first_name="Min", last_name="Zhao", username="boss_zhao"))


async def opened(customer: Person) -> Ticket:
    await customer.say("/human")
    return await Ticket.get(customer__telegram_id=customer.id)


# -- Telegram's strings fit ------------------------------------------------------------------


async def test_an_agent_with_64_character_first_and_last_names_claims_replies_and_closes(desk: Bot) -> None:
    first, last = "Ａ" * 63 + "\u0301", "ḃ" * 64  # 129 characters joined, a combining mark at the end of one
    long_named = _agent(desk, desk.emulator.add_user(first_name=first, last_name=last, username="long_named"))
    customer = _customer(desk, first_name="Emma")
    ticket = await opened(customer)
    topic = in_topic(long_named, ticket)

    claimed = await topic.say("/claim")
    assert claimed.text == f"🙋 {first} {last} took this ticket."
    before = desk.emulator.seq
    await topic.say("Your parcel is on its way.")
    told = desk.emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in told] == [f"Your parcel is on its way.\n\n— {first} {last}, customer service"]
    closed = await topic.say("/close")
    assert closed.texts[-1] == f"✅ Ticket #{ticket.id} closed by {first} {last}; the customer was told."
    ticket = await Ticket.get(id=ticket.id).prefetch_related("assignee")
    assert ticket.status == "closed" and ticket.assignee.name == f"{first} {last}"


@pytest.mark.parametrize("language_code", ["x" * 17, "zh-Hant-TW-" + "x" * 30, "en\x00", "en US"])
async def test_a_customer_whose_language_code_is_not_one_is_served_in_english(bot: Bot, make_customer, language_code: str) -> None:
    customer: Person = make_customer(first_name="Ana", language_code=language_code)
    assert (await customer.say("/start")).text.startswith("Hello Ana!")
    assert "ticket #" in (await customer.say("/human")).text
    stored = await Customer.get(telegram_id=customer.id)
    assert stored.telegram_language is None and stored.language == "en"


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@FUZZ
@given(first=names, last=st.none() | names, username=st.none() | names, code=st.none() | st.text(max_size=40))
async def test_whatever_names_and_codes_telegram_sends_are_stored_whole_or_cut_at_a_grapheme(
    database: str, first: str, last: str | None, username: str | None, code: str | None
) -> None:
    customer = await record_customer(1, first_name=first, last_name=last, username=username, language_code=code)
    stored = await Customer.get(id=customer.id)
    for given_name, kept, limit in ((first, stored.first_name, 128), (last or None, stored.last_name, 128), (username, stored.username, 64)):
        if given_name is None or len(given_name) <= limit:
            assert kept == given_name
        else:
            assert len(kept) <= limit and kept.endswith("…") and given_name.startswith(kept[:-1].rstrip())
    assert stored.telegram_language in (code, None)
    agent = await record_agent(2, f"{first} {last or ''}" * 2, username, supervisor=False)
    assert len((await Agent.get(id=agent.id)).name) <= 256
