"""What a button carries back when it is pressed (handlers/callbacks.py): every kind of button
reads back as what it was built as; a button sent by an earlier kefu means what it meant; data
kefu never writes — forged, cut, out of range, past Telegram's 64 bytes — is no button at all,
and a press of it is answered politely by the bot."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.callback_data import DATA_LIMIT, Button, Kinds
from bot.core.db import ROW_ID_MAX
from bot.core.i18n import LANGUAGE_NAMES
from handlers.callbacks import (
    KINDS,
    AcceptCandidate,
    AllowHeld,
    AskPerson,
    AttachAsNewEntry,
    AttachQuestion,
    BanHeld,
    CampaignSegment,
    CampaignTemplate,
    CancelCampaign,
    ClaimTicket,
    CloseTicket,
    FeedbackDown,
    FeedbackUp,
    FollowUp,
    ForgetMe,
    KeepCampaign,
    KeepMyData,
    NotARobot,
    NpsScore,
    OrderDetails,
    OrderPerson,
    OrderProblem,
    PickEntry,
    PickLanguage,
    RejectCandidate,
    SendCampaign,
    Servqual,
    SetPriority,
    SkipComment,
    Stars,
    StopCampaign,
    TicketCategory,
    TicketSolved,
    parse,
)
from orders.importer import load_samples
from scheduler.campaigns import SEGMENTS, TEMPLATES
from scheduler.messages import render, servqual_scale
from scheduler.models import OutboxMessage
from scheduler.surveys import STEPS
from tests.harness import Person
from ticketing.models import Customer, Ticket
from ticketing.triage import CATEGORIES, PRIORITIES

ids = st.integers(1, ROW_ID_MAX)
order_numbers = st.text(max_size=70)  # any text: what the shop's feed calls an order; some too long to fit
entry_ids = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,47}", fullmatch=True)  # the knowledge base's id rule
EXAMPLES: dict[type[Button], st.SearchStrategy[Button]] = {
    PickLanguage: st.builds(PickLanguage, st.sampled_from(list(LANGUAGE_NAMES))),
    FeedbackUp: st.builds(FeedbackUp, ids),
    FeedbackDown: st.builds(FeedbackDown, ids),
    AskPerson: st.builds(AskPerson, ids),
    PickEntry: st.builds(PickEntry, ids, entry_ids),
    FollowUp: st.builds(FollowUp, ids, entry_ids),
    OrderDetails: st.builds(OrderDetails, order_numbers),
    OrderProblem: st.builds(OrderProblem, order_numbers),
    OrderPerson: st.builds(OrderPerson, order_numbers),
    TicketCategory: st.builds(TicketCategory, ids, st.sampled_from(CATEGORIES)),
    TicketSolved: st.builds(TicketSolved, ids),
    ForgetMe: st.just(ForgetMe()),
    KeepMyData: st.just(KeepMyData()),
    Stars: st.builds(Stars, ids, st.integers(1, 5)),
    NpsScore: st.builds(NpsScore, ids, st.integers(0, 10)),
    SkipComment: st.builds(SkipComment, ids),
    Servqual: st.builds(Servqual, ids, st.none() | st.tuples(st.integers(0, len(STEPS) - 1), st.integers(1, 7))),
    ClaimTicket: st.builds(ClaimTicket, ids),
    CloseTicket: st.builds(CloseTicket, ids),
    SetPriority: st.builds(SetPriority, ids, st.none() | st.sampled_from(PRIORITIES)),
    CampaignSegment: st.builds(CampaignSegment, st.sampled_from(SEGMENTS) | st.integers(1, 9999).map("inactive_{}".format)),
    CampaignTemplate: st.builds(CampaignTemplate, st.sampled_from(TEMPLATES)),
    SendCampaign: st.just(SendCampaign()),
    CancelCampaign: st.just(CancelCampaign()),
    StopCampaign: st.builds(StopCampaign, ids, st.booleans()),
    KeepCampaign: st.just(KeepCampaign()),
    AcceptCandidate: st.builds(AcceptCandidate, ids),
    RejectCandidate: st.builds(RejectCandidate, ids),
    AttachQuestion: st.builds(AttachQuestion, ids, entry_ids),
    AttachAsNewEntry: st.builds(AttachAsNewEntry, ids, ids),
    NotARobot: st.just(NotARobot()),
    AllowHeld: st.builds(AllowHeld, ids),
    BanHeld: st.builds(BanHeld, ids),
}


def test_every_kind_of_button_has_its_own_prefix_and_examples_here() -> None:
    assert set(EXAMPLES) == set(KINDS.by_prefix.values())
    assert len(KINDS.by_prefix) == len(EXAMPLES)


@settings(max_examples=300, deadline=None)
@given(st.one_of(*EXAMPLES.values()))
def test_every_button_reads_back_as_what_it_was_built_as(button: Button) -> None:
    data = button.pack()
    if len(data.encode("utf-8", "surrogatepass")) <= DATA_LIMIT:
        assert parse(data) == button
    else:  # Telegram would not keep it: no button at all
        assert parse(data) is None


# The exact data of the buttons kefu sent before callbacks were typed (git history: handlers/*.py
# and scheduler/messages.py up to bc5c78a), and what a press of each means now.
EARLIER_KEFU = [
    ("lang:zh-Hant", PickLanguage("zh-Hant")),
    ("fb+:41:", FeedbackUp(41)),
    ("fb-:41:", FeedbackDown(41)),
    ("kbp:41:shipping_time", PickEntry(41, "shipping_time")),
    ("kbf:41:returns.policy", FollowUp(41, "returns.policy")),
    ("human:41:", AskPerson(41)),
    ("ord:SO100231", OrderDetails("SO100231")),
    ("ordp:SO100231", OrderProblem("SO100231")),
    ("ordp:", OrderProblem("")),  # a revisit whose order number was missing: a hand-off
    ("ordh:SO100231", OrderPerson("SO100231")),
    ("ordh:", OrderPerson()),
    ("tc:cat:12:logistics", TicketCategory(12, "logistics")),
    ("tc:solved:12", TicketSolved(12)),
    ("pv:forget", ForgetMe()),
    ("pv:keep", KeepMyData()),
    ("sv:7:4", Stars(7, 4)),
    ("svskip:7", SkipComment(7)),
    ("sq:7:start", Servqual(7)),
    ("sq:7:9:6", Servqual(7, (9, 6))),
    ("tk:claim:12", ClaimTicket(12)),
    ("tk:close:12", CloseTicket(12)),
    ("tk:prio:12", SetPriority(12)),
    ("tk:prio:12:urgent", SetPriority(12, "urgent")),
    ("cp:seg:inactive_30", CampaignSegment("inactive_30")),
    ("cp:seg:inactive_45", CampaignSegment("inactive_45")),  # typed as /campaign inactive 45 once
    ("cp:tpl:we_miss_you", CampaignTemplate("we_miss_you")),
    ("cp:send", SendCampaign()),
    ("cp:cancel", CancelCampaign()),
    ("cp:stop:3", StopCampaign(3)),
    ("cp:stop:3:yes", StopCampaign(3, sure=True)),
    ("cp:keep", KeepCampaign()),
]


@pytest.mark.parametrize(("data", "meaning"), EARLIER_KEFU, ids=[data for data, _ in EARLIER_KEFU])
def test_a_button_sent_by_an_earlier_kefu_means_what_it_meant(data: str, meaning: Button) -> None:
    assert parse(data) == meaning
    assert meaning.pack() == data  # and kefu still writes it so


NEVER_WRITTEN = [
    "", ":", "sv", "sv:", "SV:7:4", "nope:1", "ord", "sv:7:4:", "sv:7",
    "sv:0:4", "sv:2147483648:4", "sv:007:4", "sv:+7:4", "sv: 7:4", "sv:٧:4", "sv:²:4", "sv:7:6", "sv:7:0",
    "sq:7:begin", "sq:7:10:1", "sq:7:0:8", "sq:7:start:1", "sq:7", "svskip:", "svskip:7:7",
    "tk:prio:12:critical", "tk:prio:12:", "tk:claim:", "tk:nope:12", "tc:cat:12:weather", "tc:cat:12", "tc:solved:-1",
    "cp:seg:inactive_0", "cp:seg:inactive_10000", "cp:seg:everyone", "cp:tpl:spam", "cp:stop:3:no", "cp:stop:3:",
    "cp:stop:", "cp:send:1", "cp:keep:", "lang:fr", "lang:", "lang", "pv:forget:now", "pv:",
    "kbp:41:", "kbf:41", "fb+:41:x", "fb+:41", "human:41", "human::",
    "ord:" + "x" * (DATA_LIMIT - 3),  # 65 bytes
    "ordp:" + "订" * 20,  # 65 bytes in UTF-8
]


@pytest.mark.parametrize("data", NEVER_WRITTEN)
def test_data_kefu_never_writes_is_no_button(data: str) -> None:
    assert parse(data) is None


def test_only_strings_are_buttons() -> None:
    assert parse(None) is None and parse(b"sv:7:4") is None and parse(7) is None


def test_the_longest_order_number_a_button_keeps_is_60_bytes() -> None:
    assert parse("ord:" + "x" * (DATA_LIMIT - 4)) == OrderDetails("x" * (DATA_LIMIT - 4))


forgeries = st.one_of(
    st.text(max_size=80),
    st.tuples(
        st.sampled_from(sorted(KINDS.by_prefix)),
        st.text(alphabet="0123456789:+- x٣²yesstartlowurgentall_", max_size=30),
    ).map("".join),
)


@settings(max_examples=500, deadline=None)
@given(forgeries)
def test_whatever_reads_as_a_button_is_the_one_string_kefu_writes_for_it(data: str) -> None:
    """So a press has one meaning: no second spelling of a button (a leading zero, a sign…)."""
    button = parse(data)
    assert button is None or button.pack() == data


def test_two_kinds_may_not_share_a_prefix_nor_begin_one_anothers_data() -> None:
    class Tk(Button):
        PREFIX = "tk"

    class Stars2(Button):
        PREFIX = "sv"

    with pytest.raises(ValueError, match="clashes"):
        Kinds(ClaimTicket, Tk)
    with pytest.raises(ValueError, match="clashes"):
        Kinds(Stars, Stars2)


def test_the_widest_buttons_kefu_builds_fit_in_telegrams_64_bytes() -> None:
    widest = [
        PickEntry(ROW_ID_MAX, "e" * 48), FollowUp(ROW_ID_MAX, "e" * 48), FeedbackDown(ROW_ID_MAX), AskPerson(ROW_ID_MAX),
        TicketCategory(ROW_ID_MAX, max(CATEGORIES, key=len)), SetPriority(ROW_ID_MAX, max(PRIORITIES, key=len)),
        Servqual(ROW_ID_MAX, (len(STEPS) - 1, 7)), StopCampaign(ROW_ID_MAX, sure=True), CampaignSegment("inactive_9999"),
        CampaignTemplate(max(TEMPLATES, key=len)), PickLanguage(max(LANGUAGE_NAMES, key=len)),
    ]
    for button in widest:
        assert parse(button.pack()) == button, button


def test_every_button_under_the_outboxs_messages_reads_back() -> None:
    """scheduler/messages.py builds them, without handlers: handlers/callbacks.py reads them all."""
    customer = Customer(first_name="Emma", language="en")

    def pressed(kind: str, outbox_id: int, **payload: object) -> list[Button | None]:
        _, markup = render(OutboxMessage(id=outbox_id, kind=kind, payload=payload), customer)
        assert markup is not None
        return [parse(b.callback_data) for row in markup.inline_keyboard for b in row]

    assert pressed("survey", 7, ticket_id=3) == [Stars(7, score) for score in range(1, 6)]
    assert pressed("delivered_survey", 8, order_no="SO1") == [Stars(8, score) for score in range(1, 6)]
    assert pressed("servqual", 9, ticket_id=3) == [Servqual(9)]
    assert pressed("revisit", 10, order_no="SO1") == [OrderProblem("SO1")]
    assert pressed("order_status", 11, order_no="SO1", status="shipped") == [OrderDetails("SO1")]
    for step in range(len(STEPS)):
        scale = servqual_scale(9, step).inline_keyboard
        assert [parse(b.callback_data) for row in scale for b in row] == [Servqual(9, (step, s)) for s in range(1, 8)]


# -- through the bot --------------------------------------------------------------------------

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
PHONE = "+8613800000001"  # the sample orders SO100231 and SO100187


async def test_a_survey_button_sent_by_an_earlier_kefu_is_still_a_rating(customer: Person, agent: Person) -> None:
    bot = customer.bot
    bot.travel(MONDAY_10)
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    await bot.handled(bot.emulator.press_button(agent.id, ticket.card_message_id, f"tk:close:{ticket.id}", chat_id=agent.chat_id))
    before = bot.emulator.seq
    assert await bot.run_scheduler(MONDAY_10 + timedelta(minutes=10)) == 1
    [survey] = bot.emulator.bot_messages(customer.chat_id, since=before)
    row = await OutboxMessage.get(kind="survey")
    sent = [b["callback_data"] for line in survey["reply_markup"]["inline_keyboard"] for b in line]
    assert sent == [f"sv:{row.id}:{score}" for score in range(1, 6)]  # what every kefu before sent

    await bot.handled(bot.emulator.press_button(customer.id, survey["message_id"], f"sv:{row.id}:4"))
    assert customer.message(survey["message_id"])["text"].endswith("Thank you for rating us ⭐⭐⭐⭐! Anything to add? Just write it now, or tap Skip.")


async def test_order_buttons_sent_by_an_earlier_kefu_still_show_the_order_and_open_a_ticket(customer: Person) -> None:
    bot = customer.bot
    await load_samples()
    await bot.handled(bot.emulator.send_contact(customer.id, PHONE))
    under = bot.emulator.bot_messages(customer.chat_id)[-1]["message_id"]  # an old notice, as far as a press can tell

    before = bot.emulator.seq
    await bot.handled(bot.emulator.press_button(customer.id, under, "ord:SO100187", forged=True))
    [card] = bot.emulator.bot_messages(customer.chat_id, since=before)
    assert card["text"].startswith("📦 Order SO100187\nStatus: Delivered")

    await bot.handled(bot.emulator.press_button(customer.id, under, "ordp:SO100187", forged=True))
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    assert (ticket.source, ticket.order_no) == ("order", "SO100187")


async def test_a_press_of_data_kefu_never_wrote_is_answered_and_changes_nothing(customer: Person) -> None:
    bot = customer.bot
    replies = await customer.say("/lang")
    for data in ("lang:fr", "sv:007:4", "ord:" + "x" * 61, "tk:claim:01", "cp:send:now", "sq:7:0:8"):
        answers = len(bot.emulator.callback_answers)
        await bot.handled(bot.emulator.press_button(customer.id, replies[-1]["message_id"], data, forged=True))
        assert [(a.get("text"), a.get("show_alert")) for a in bot.emulator.callback_answers[answers:]] == [
            ("This button is no longer valid.", True)
        ], data
    assert (await Customer.get(telegram_id=customer.id)).language == "en"
    assert await Ticket.all().count() == 0
