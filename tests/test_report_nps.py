"""NPS: the optional "would you recommend us?" (0–10) under the satisfaction survey's stars
(``[scheduler] nps = true``), and the report's score from hand-counted answers, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from bot.core.config import SchedulerSettings
from reports.nps import nps, nps_of
from scheduler.models import SurveyResponse
from tests.harness import Person
from ticketing.models import Customer, Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)
START, END = datetime(2026, 11, 9, tzinfo=SHANGHAI).astimezone(UTC), datetime(2026, 11, 23, tzinfo=SHANGHAI).astimezone(UTC)


async def test_nps_is_promoters_minus_detractors_over_the_period(database: str) -> None:
    customer = await Customer.create(telegram_id=1, first_seen=START, last_seen=START)
    answers = [  # (score, answered): 2 promoters, 2 passives, 3 detractors in the period
        (10, START), (9, START + timedelta(days=3)), (8, START + timedelta(days=5)), (7, START + timedelta(days=6)),
        (6, START + timedelta(days=7)), (0, START + timedelta(days=8)), (3, END - timedelta(seconds=1)),
        (10, END),  # at the end: the next period's
        (10, START - timedelta(seconds=1)),  # before the start
    ]
    for n, (score, answered) in enumerate(answers):
        await SurveyResponse.create(customer=customer, kind="nps", subject_key=f"ticket:{n}", score=score,
                                    answered_at=answered, updated_at=answered)
    await SurveyResponse.create(customer=customer, kind="csat", subject_key="ticket:0", score=5,
                                answered_at=START, updated_at=START)  # stars are not NPS
    found = await nps(START, END)
    assert (found.responses, found.promoters, found.passives, found.detractors) == (7, 2, 2, 3)
    assert found.score == -14.3  # (2 − 3) ÷ 7 × 100
    assert (await nps(END + timedelta(days=1), END + timedelta(days=2))).score is None  # no answers: null, not 0
    assert nps_of(1, 0, 0).score == 100.0 and nps_of(0, 0, 1).score == -100.0 and nps_of(0, 3, 0).score == 0.0


async def test_with_nps_on_the_stars_are_followed_by_zero_to_ten(start_bot) -> None:
    async with start_bot(scheduler=SchedulerSettings(enabled=False, nps=True)) as bot:
        customer: Person = bot.add_customer(first_name="Emma", language_code="en")
        agent: Person = bot.add_agent(first_name="Lei", last_name="Li", language_code="zh-CN")
        bot.travel(MONDAY_10)
        await customer.say("/human")
        ticket = await Ticket.get(customer__telegram_id=customer.id)
        await agent.in_topic(ticket).say("/close")
        before = bot.emulator.seq
        assert await bot.run_scheduler(MONDAY_10 + timedelta(minutes=10)) == 1
        survey = bot.emulator.bot_messages(customer.chat_id, since=before)
        await customer.press("⭐⭐⭐⭐⭐", survey)
        shown = customer.message(survey[0]["message_id"])
        assert shown["text"].endswith("How likely are you to recommend our shop to a friend? 0 = not at all, 10 = extremely likely.")
        rows = shown["reply_markup"]["inline_keyboard"]
        assert [[b["text"] for b in row] for row in rows] == [[str(n) for n in range(6)], [str(n) for n in range(6, 11)], ["Skip"]]
        await customer.press("9", [shown])
        shown = customer.message(survey[0]["message_id"])
        assert "recommend" not in shown["text"]
        assert shown["text"].endswith("You said 9 out of 10. Thank you! Anything to add? Just write it now, or tap Skip.")
        assert [[b["text"] for b in row] for row in shown["reply_markup"]["inline_keyboard"]] == [["Skip"]]
        assert (await customer.say("Great shop")).text == "Thank you, your comment has reached our team. 🙏"
        nine = rows[1][3]["callback_data"]
        again = bot.emulator.press_button(customer.id, survey[0]["message_id"], nine.replace(":9", ":2"), forged=True)
        await bot.handled(again)
        assert bot.emulator.callback_answers[-1]["text"] == "You already answered 9. Thank you!"
        stored = {r.kind: (r.score, r.comment) for r in await SurveyResponse.filter(subject_key=f"ticket:{ticket.id}")}
        assert stored == {"csat": (5, "Great shop"), "nps": (9, None)}
        assert (await nps(MONDAY_10 - timedelta(days=1), MONDAY_10 + timedelta(days=1))).score == 100.0


async def test_without_nps_the_stars_ask_only_for_a_comment(customer: Person, agent: Person) -> None:
    bot = customer.bot
    bot.travel(MONDAY_10)
    await customer.say("/human")
    await agent.in_topic(await Ticket.get(customer__telegram_id=customer.id)).say("/close")
    before = bot.emulator.seq
    assert await bot.run_scheduler(MONDAY_10 + timedelta(minutes=10)) == 1
    survey = bot.emulator.bot_messages(customer.chat_id, since=before)
    await customer.press("⭐⭐⭐", survey)
    shown = customer.message(survey[0]["message_id"])
    assert "recommend" not in shown["text"]
    assert [[b["text"] for b in row] for row in shown["reply_markup"]["inline_keyboard"]] == [["Skip"]]


def test_the_nps_button_carries_zero_to_ten_and_nothing_else() -> None:
    from handlers.callbacks import parse
    from scheduler.buttons import NpsScore

    assert parse("svn:7:0") == NpsScore(7, 0) and parse("svn:7:10") == NpsScore(7, 10)
    assert NpsScore(7, 9).pack() == "svn:7:9"
    assert all(parse(data) is None for data in ("svn:7:11", "svn:7:-1", "svn:7:", "svn:0:5", "svn:7:5:1"))


def test_the_summary_shows_nps_under_csat_only_when_someone_answered() -> None:
    from types import SimpleNamespace

    from reports.nps import Nps
    from reports.summary import _with_nps

    summary = "📊 report\n⭐ CSAT 80\n⏱ First response"
    answered = SimpleNamespace(satisfaction=SimpleNamespace(nps=nps_of(2, 2, 3)))
    assert _with_nps(summary, answered, "en").split("\n")[2] == "📣 NPS -14 (7 answers: 2 promoters, 3 detractors)"
    assert _with_nps(summary, answered, "zh-Hans").split("\n")[2] == "📣 净推荐值 NPS -14（7 份回答：推荐者 2，贬损者 3）"
    positive = SimpleNamespace(satisfaction=SimpleNamespace(nps=nps_of(3, 0, 1)))
    assert "NPS +50 " in _with_nps(summary, positive, "en")
    nobody = SimpleNamespace(satisfaction=SimpleNamespace(nps=Nps(0, 0, 0, 0, None)))
    assert _with_nps(summary, nobody, "en") == summary
