"""Hostile and careless input at the desk (issue 18): Telegram strings longer than kefu's columns,
snippet placeholders that would run str.format, numbers no row can have, forged buttons, and a
flood of presses — each answered politely, none failing an update."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core.fit import cut
from bot.intake import conversation
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


def supervisor_of(bot: Bot) -> Person:
    return bot.add_supervisor(first_name="Min", last_name="Zhao", username="boss_zhao")


async def opened(customer: Person) -> Ticket:
    await customer.say("/human")
    return await Ticket.get(customer__telegram_id=customer.id)


# -- Telegram's strings fit ------------------------------------------------------------------


async def test_an_agent_with_64_character_first_and_last_names_claims_replies_and_closes(desk: Bot) -> None:
    first, last = "Ａ" * 63 + "\u0301", "ḃ" * 64  # 129 characters joined, a combining mark at the end of one
    long_named = desk.add_agent(first_name=first, last_name=last, username="long_named")
    customer = desk.add_customer(first_name="Emma")
    ticket = await opened(customer)
    topic = long_named.in_topic(ticket)

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


@pytest.mark.parametrize(
    ("name", "limit", "kept"),
    [
        ("A" * 64 + " " + "B" * 64, 128, "A" * 64 + " " + "B" * 62 + "…"),
        ("e\u0301" * 100, 10, "e\u0301" * 4 + "…"),  # never a letter without its accent
        ("👨‍👩‍👧‍👦" * 5, 10, "👨‍👩‍👧‍👦…"),  # never half a family
        ("🇨🇳" * 10, 10, "🇨🇳" * 4 + "…"),  # never half a flag
        ("ab    cdef", 6, "ab…"),
        ("short", 5, "short"),
    ],
)
def test_a_string_too_long_for_its_column_is_cut_between_graphemes_with_an_ellipsis(name: str, limit: int, kept: str) -> None:
    assert cut(name, limit) == kept and len(kept) <= limit


names = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=300)


@FUZZ
@given(first=names, last=st.none() | names, username=st.none() | names, code=st.none() | st.text(max_size=40))
async def test_whatever_names_and_codes_telegram_sends_are_stored_whole_or_cut_at_a_grapheme(
    database: str, first: str, last: str | None, username: str | None, code: str | None
) -> None:
    customer = await record_customer(1, first_name=first, last_name=last, username=username, language_code=code)
    stored = await Customer.get(id=customer.id)
    kept_names = ((first, stored.first_name, 128), (last or None, stored.last_name, 128), (username, stored.username, 64))
    for given_name, kept, limit in kept_names:
        if given_name is None or len(given_name) <= limit:
            assert kept == given_name
        else:
            assert len(kept) <= limit and kept.endswith("…") and given_name.startswith(kept[:-1].rstrip())
    assert stored.telegram_language in (code, None)
    agent = await record_agent(2, f"{first} {last or ''}" * 2, username, supervisor=False)
    assert len((await Agent.get(id=agent.id)).name) <= 256


async def test_a_nul_character_in_what_people_write_is_dropped_not_a_failure(desk: Bot) -> None:
    """PostgreSQL refuses U+0000 in text and JSON; SQLite takes it. Either way the update goes through."""
    customer = desk.add_customer(first_name="Emma")
    assert (await customer.say("how long does shipping\x00 take")).text
    assert "order AB" in (await customer.say("/order A\x00B")).text
    assert "order AB with those digits" in (await customer.say("1234")).text
    assert "ticket #" in (await customer.say("/complaint broken\x00 parcel")).text
    assert (await Ticket.get(customer__telegram_id=customer.id)).subject == "broken parcel"
    assert (await supervisor_of(desk).say("/snippets add nul a\x00b")).text.startswith("💾 Snippet “nul” saved.")
    assert (await Snippet.get(name="nul")).text == "ab"


# -- snippets: placeholders are names only ---------------------------------------------------


async def test_a_snippet_with_a_format_spec_is_refused_when_saved(desk: Bot) -> None:
    supervisor = supervisor_of(desk)
    refused = await supervisor.say("/snippets add pad #{ticket_no:x>20000}")
    assert refused.text == (
        "Placeholder {ticket_no:x>20000} is not allowed: a placeholder is a name in braces and nothing more, "
        "like {ticket_no} (no : ! . or [ after the name)."
    )
    for text, named in [("{ticket_no!r}", "{ticket_no!r}"), ("{customer_name.__class__}", "{customer_name.__class__}"),
                        ("{agent_name[0]}", "{agent_name[0]}"), ("{ticket_no:>{order_no}}", "{ticket_no:>{order_no}}")]:
        assert (await supervisor.say(f"/snippets add bad {text}")).text.startswith(f"Placeholder {named} is not allowed")
    assert (await supervisor.say("/snippets add bad {}")).text.startswith("Unknown placeholder {}.")
    assert not await Snippet.exists()
    saved = await supervisor.say("/snippets add braces {{literally}} #{ticket_no}")
    assert saved.text.startswith("💾 Snippet “braces” saved.")


async def test_a_snippet_an_older_kefu_saved_with_a_format_spec_is_not_sent(desk: Bot) -> None:
    customer = desk.add_customer(first_name="Emma")
    ticket = await opened(customer)
    await Snippet.create(name="old", text="#{ticket_no:x>20000}")
    agent = desk.add_agent(first_name="Lei", last_name="Li")
    before = desk.emulator.seq
    answered = await agent.in_topic(ticket).say("/snippet old")
    assert answered.text == (
        "Snippet “old” was not sent: its placeholder {ticket_no:x>20000} is no longer allowed (a name in braces "
        "and nothing more, like {ticket_no}). A supervisor can save it again with /snippets add old."
    )
    assert desk.emulator.bot_messages(customer.chat_id, since=before) == []


def what_it_says(text: str, values: dict[str, str]) -> str | None:
    """The snippet as a customer reads it — ``{{``/``}}`` are braces, ``{name}`` its value — or None
    if it has a brace that is neither (kefu must refuse it)."""
    said, at = [], 0
    while at < len(text):
        if text.startswith(("{{", "}}"), at):
            said.append(text[at])
            at += 2
        elif (placeholder := re.compile(r"\{(\w+):?\}").match(text, at)) and placeholder[1] in values:
            said.append(values[placeholder[1]])
            at = placeholder.end()
        elif text[at] in "{}":
            return None
        else:
            said.append(text[at])
            at += 1
    return "".join(said)


pieces = st.sampled_from(
    ["{", "}", "{{", "}}", ":", "!", "r", "s", ".", "[", "]", "0", ">", "x", "20000", "__class__", " ", "好", "é", "\u0301"]
    + [f"{{{name}}}" for name in PLACEHOLDERS] + ["{name}", "{ticket_no", "ticket_no}"]
)


@FUZZ
@given(text=st.lists(pieces, min_size=1, max_size=12).map("".join))
async def test_a_snippet_is_refused_when_saved_or_says_exactly_its_text_with_names_filled(database: str, text: str) -> None:
    customer = await Customer.get_or_none(telegram_id=1) or await record_customer(1, first_name="Fang", last_name="Wang")
    agent = await record_agent(2, "Lei Li", "agent_li", supervisor=False)
    ticket = await Ticket.first() or await Ticket.create(
        customer=customer, source="handoff", subject="", order_no="SO1", waiting_since=customer.first_seen,
        created_at=customer.first_seen, updated_at=customer.first_seen,
    )
    values = {"customer_name": "Fang Wang", "order_no": "SO1", "ticket_no": str(ticket.id), "agent_name": "Lei Li"}
    expected = what_it_says(text.strip(), values)
    try:
        await save_snippet("fuzz", text, agent)
    except SnippetError as refused:
        assert expected is None or not text.strip(), f"{text!r} was refused ({refused.code}) but says {expected!r}"
        return
    assert expected is not None, f"{text!r} was saved"
    assert await render_snippet("fuzz", ticket, customer, agent) == expected


# -- numbers no row can have -----------------------------------------------------------------


@pytest.mark.parametrize("given", ["99999999999999999999999", "2147483648", "9223372036854775808", "²", "١٢", "0", "#-1", "9" * 4000])
async def test_a_ticket_number_no_ticket_can_have_is_no_such_ticket(desk: Bot, given: str) -> None:
    agent = desk.add_agent(first_name="Lei")
    shown = cut(given.lstrip("#"), 40)
    assert (await agent.say(f"/ticket {given}")).text == f"There is no ticket #{shown}."


@pytest.mark.parametrize("given", ["99999999999999999999999", "9223372036854775808", "²", "0"])
async def test_assigning_to_an_id_no_agent_can_have_is_an_unknown_agent(desk: Bot, given: str) -> None:
    ticket = await opened(desk.add_customer(first_name="Emma"))
    answered = await supervisor_of(desk).in_topic(ticket).say(f"/assign {given}")
    assert answered.text.startswith("I don't know that agent yet")


async def test_forged_buttons_are_answered_and_change_nothing(desk: Bot) -> None:
    emulator = desk.emulator
    customer = desk.add_customer(first_name="Emma")
    ticket = await opened(customer)
    agent = desk.add_agent(first_name="Lei")
    card = ticket.card_message_id
    huge = "9" * 40
    for data in (f"tk:claim:{huge}", "tk:close:2147483648", "tk:prio:0", f"tk:prio:{huge}:urgent", "tk:claim:١", "tk:nope:1"):
        answers = len(emulator.callback_answers)
        await desk.handled(emulator.press_button(agent.id, card, data, chat_id=agent.chat_id, forged=True))
        assert [a.get("text") for a in emulator.callback_answers[answers:]] == ["This button is no longer valid."], data
    mine = customer.seen[-1][-1]["message_id"]
    for data in (f"tc:solved:{huge}", f"tc:cat:{huge}:payment", "tc:solved:²", f"sv:{huge}:5", f"svskip:{huge}", f"sq:{huge}:start",
                 f"sq:{huge}:0:7", f"fb+:{huge}:x", f"kbp:{huge}:x", f"human:{huge}:x", "no such button", "ord"):
        answers = len(emulator.callback_answers)
        await desk.handled(emulator.press_button(customer.id, mine, data, forged=True))
        assert len(emulator.callback_answers) == answers + 1, data
        assert emulator.callback_answers[-1]["show_alert"] is True, data
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.status == "new" and ticket.assignee_id is None and ticket.priority == "normal"


# -- a flood of presses ----------------------------------------------------------------------


async def test_a_flood_of_presses_is_answered_and_costs_the_customer_no_messages(bot: Bot, customer: Person) -> None:
    bot.settings.telegram.flood_messages = 3
    await customer.say("/start")
    under = customer.seen[-1][-1]["message_id"]
    for press in [bot.emulator.press_button(customer.id, under, "no such button", forged=True) for _ in range(8)]:
        await bot.handled(press)
    answers = [answer.get("text") for answer in bot.emulator.callback_answers]
    assert answers == ["This button is no longer valid."] * 3 + ["Please wait a moment: that was a lot of taps at once."] * 5
    assert (await customer.say("/help")).text.startswith("Here is what I can do")
    assert (await customer.say("/help")).text.startswith("Here is what I can do")
    assert (await customer.say("/help")).text.startswith("You are sending messages faster than I can read them")


async def test_a_nul_kept_in_a_conversations_memory_is_dropped_not_a_failure(database: str) -> None:
    await conversation.save("user", 4242, {"draft": "sale\x00 today", "steps": ["a\x00", {"k\x00": "v"}]})
    user_data, _chat_data = await conversation.load(4242, None)
    assert user_data == {"draft": "sale today", "steps": ["a", {"k": "v"}]}
