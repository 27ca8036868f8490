"""What the scheduler sends unasked, through the emulator: surveys, follow-ups, greetings, campaigns."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.core.config import SchedulerSettings
from orders.importer import load_samples
from orders.models import Order, OrderStatus
from scheduler.festivals import festival_dates
from scheduler.models import OutboxMessage, SurveyResponse
from tests.harness import Person
from ticketing.models import Customer, Ticket

SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=SHANGHAI)


async def test_ten_minutes_after_a_ticket_is_closed_the_customer_rates_it_once(customer: Person, agent: Person) -> None:
    bot = customer.bot
    bot.travel(MONDAY_10)
    await customer.say("/human")
    ticket = await Ticket.get(customer__telegram_id=customer.id)
    await agent.in_topic(ticket).say("/close")
    before = bot.emulator.seq
    assert await bot.run_scheduler(MONDAY_10 + timedelta(minutes=9)) == 0
    assert await bot.run_scheduler(MONDAY_10 + timedelta(minutes=10)) == 1
    survey = bot.emulator.bot_messages(customer.chat_id, since=before)
    assert [m["text"] for m in survey] == [f"Hi Emma! How satisfied are you with how we handled ticket #{ticket.id}? Tap 1 to 5 stars."]

    rated = await customer.press("⭐⭐⭐⭐", survey)
    assert customer.message(survey[0]["message_id"])["text"].endswith("Thank you for rating us ⭐⭐⭐⭐! Anything to add? Just write it now, or tap Skip.")
    assert rated == []
    thanked = await customer.say("Quick and friendly, thanks")
    assert thanked.text == "Thank you, your comment has reached our team. 🙏"
    again = bot.emulator.press_button(customer.id, survey[0]["message_id"], f"sv:{survey[0]['reply_markup']['inline_keyboard'][1][1]['callback_data'].split(':')[1]}:5", forged=True)
    await bot.handled(again)
    assert bot.emulator.callback_answers[-1]["text"] == "You already rated this ⭐⭐⭐⭐. Thank you!"
    response = await SurveyResponse.get(subject_key=f"ticket:{ticket.id}")
    assert (response.kind, response.score, response.comment) == ("csat", 4, "Quick and friendly, thanks")
    assert await bot.run_scheduler(MONDAY_10 + timedelta(days=1)) == 0  # never twice


async def test_someone_elses_survey_button_is_refused(make_customer, agent: Person) -> None:
    bot = agent.bot
    bot.travel(MONDAY_10)
    owner: Person = make_customer(first_name="Fang")
    await owner.say("/human")
    await agent.in_topic(await Ticket.get(customer__telegram_id=owner.id)).say("/close")
    await bot.run_scheduler(MONDAY_10 + timedelta(minutes=11))
    row = await OutboxMessage.get(kind="survey")
    stranger: Person = make_customer(first_name="Eve")
    await stranger.say("hi")
    await bot.handled(bot.emulator.press_button(stranger.id, stranger.seen[-1][-1]["message_id"], f"sv:{row.id}:1", forged=True))
    assert bot.emulator.callback_answers[-1]["show_alert"] is True
    assert await SurveyResponse.all().count() == 0


async def test_after_delivery_a_question_next_day_and_a_revisit_a_week_later_never_at_night(customer: Person) -> None:
    bot = customer.bot
    delivered = datetime(2026, 11, 23, 22, 0, tzinfo=SHANGHAI)
    bot.travel(delivered - timedelta(days=1))
    await load_samples(now=delivered - timedelta(days=1))
    await customer.share_contact("+8613800000002")
    await Order.filter(order_no="SO100245").update(status=OrderStatus.DELIVERED, delivered_at=delivered.astimezone(UTC))
    before = bot.emulator.seq
    assert await bot.run_scheduler(delivered + timedelta(minutes=1)) == 0
    assert await bot.run_scheduler(delivered + timedelta(hours=24, minutes=1)) == 0  # 22:01: quiet hours
    assert await bot.run_scheduler(datetime(2026, 11, 25, 9, 0, tzinfo=SHANGHAI)) == 1
    asked = bot.emulator.bot_messages(customer.chat_id, since=before)
    assert asked[-1]["text"].startswith("Hi Emma! Your order SO100245 has arrived. How satisfied are you")

    assert await bot.run_scheduler(datetime(2026, 11, 30, 22, 30, tzinfo=SHANGHAI)) == 0  # day 7, but at night
    assert await bot.run_scheduler(datetime(2026, 12, 1, 9, 0, tzinfo=SHANGHAI)) == 1
    revisit = bot.emulator.bot_messages(customer.chat_id, since=before)[-1]
    assert revisit["text"].startswith("Hi Emma! Your order SO100245 arrived a while ago.")
    opened = await customer.press("⚠️ Something's wrong", [revisit])
    assert opened.text.startswith("I've passed this on to our team: ticket #")
    assert (await Ticket.get(customer__telegram_id=customer.id)).order_no == "SO100245"


async def test_after_unsubscribe_no_follow_up_comes(customer: Person) -> None:
    bot = customer.bot
    delivered = datetime(2026, 11, 23, 12, 0, tzinfo=SHANGHAI)
    bot.travel(delivered)
    await load_samples(now=delivered - timedelta(days=1))
    await customer.share_contact("+8613800000002")
    await Order.filter(order_no="SO100245").update(status=OrderStatus.DELIVERED, delivered_at=delivered.astimezone(UTC))
    await bot.run_scheduler(delivered + timedelta(minutes=1))
    assert (await customer.say("/unsubscribe")).text.startswith("Done: no more surveys, greetings or offers")
    before = bot.emulator.seq
    assert await bot.run_scheduler(delivered + timedelta(days=8)) == 0
    assert bot.emulator.bot_messages(customer.chat_id, since=before) == []
    assert set(await OutboxMessage.all().values_list("status", flat=True)) == {"cancelled"}
    assert (await customer.say("/subscribe")).text.startswith("Welcome back!")


async def test_on_mid_autumn_2027_every_subscribed_customer_is_greeted_once_in_their_language(make_customer) -> None:
    fang: Person = make_customer(first_name="芳", language_code="zh-CN")
    emma: Person = make_customer(first_name="Emma", language_code="en")
    mei: Person = make_customer(first_name="美", language_code="zh-TW")
    quiet: Person = make_customer(first_name="Quiet", language_code="en")
    gone: Person = make_customer(first_name="Gone", language_code="en")
    for person in (fang, emma, mei, quiet, gone):
        await person.say("/start")
    await quiet.say("/unsubscribe")
    bot = fang.bot
    bot.emulator.block_bot(gone.id)
    day = festival_dates(2027)["mid_autumn"]
    morning = datetime(day.year, day.month, day.day, 10, 1, tzinfo=SHANGHAI)
    before = bot.emulator.seq
    assert await bot.run_scheduler(morning) == 3
    assert await bot.run_scheduler(morning + timedelta(hours=2)) == 0  # once
    greeted = {m["chat"]["id"]: m["text"] for m in bot.emulator.bot_messages(since=before)}
    assert greeted == {
        fang.id: "芳，中秋快乐！🥮 月圆人团圆，祝您和家人幸福安康。",
        emma.id: "Happy Mid-Autumn Festival, Emma! 🥮 May the full moon bring you and your family together.",
        mei.id: "美，中秋快樂！🥮 月圓人團圓，祝您和家人幸福安康。",
    }
    assert (await Customer.get(telegram_id=gone.id)).blocked
    assert await OutboxMessage.filter(status="blocked").count() == 1


@pytest.mark.slow
async def test_a_campaign_to_2000_customers_shows_its_progress_live(start_bot) -> None:
    async with start_bot(scheduler=SchedulerSettings(enabled=False, rate_per_second=1000)) as bot:
        from ticketing.customers import record_customer

        bot.travel(MONDAY_10)
        for n in range(2000):
            user = bot.emulator.add_user(first_name=f"C{n}", language_code="en")
            await record_customer(user["id"], first_name=user["first_name"], language_code="en")
        boss = bot.add_supervisor(first_name="Min", last_name="Zhao", language_code="zh-CN")
        asked = await boss.say("/campaign")
        assert asked.text == "📣 新的营销活动。发给哪些客户？"
        await boss.press("全部客户", asked)
        preview = await boss.say("{name}，双十二特惠今晚开始！")
        assert preview.text.startswith("📣 预览 · 分群 all · 2000 位客户")
        started = await boss.press("📤 发送给 2000 位", preview)
        progress_id = started[-1]["message_id"]
        assert boss.message(progress_id)["text"] == "📤 营销活动 #1：已发送 0/2000 · 已屏蔽 0 · 失败 0 · 等待 2000"
        await bot.campaigns_queued()
        before = bot.emulator.seq
        sent = await bot.run_scheduler(MONDAY_10 + timedelta(seconds=1))
        assert sent == 2000
        await bot.schedule.show_campaigns_progress()  # the progress job's next edit
        assert boss.message(progress_id)["text"] == "✅ 营销活动 #1 已完成：已发送 2000/2000 · 已屏蔽 0 · 失败 0"
        texts = [m["text"] for m in bot.emulator.bot_messages(since=before) if m["chat"]["type"] == "private"]
        assert sorted(texts) == sorted(f"C{n}，双十二特惠今晚开始！" for n in range(2000))


async def test_the_servqual_survey_stores_expectation_and_perception_per_dimension(start_bot) -> None:
    async with start_bot(scheduler=SchedulerSettings(enabled=False, servqual_sample=1.0)) as bot:
        customer = bot.add_customer(first_name="Emma", language_code="en")
        agent = bot.add_agent(first_name="Lei", last_name="Li", language_code="zh-CN")
        bot.travel(MONDAY_10)
        await customer.say("/human")
        await agent.in_topic(await Ticket.get(customer__telegram_id=customer.id)).say("/close")
        before = bot.emulator.seq
        sent = await bot.run_scheduler(MONDAY_10 + timedelta(minutes=11))
        sent += await bot.run_scheduler(MONDAY_10 + timedelta(minutes=12))  # one message a second per chat
        assert sent == 2  # the stars, then SERVQUAL
        servqual = bot.emulator.bot_messages(customer.chat_id, since=before)[-1]
        assert servqual["text"].startswith("Hi Emma! Would you help us improve? Ten quick questions")
        await customer.press("Start (1 minute)", [servqual])
        scores = [score for pair in ((7, 5), (6, 6), (7, 6), (5, 4), (4, 5)) for score in pair]
        for step, score in enumerate(scores, start=1):
            shown = customer.message(servqual["message_id"])
            assert shown["text"].startswith(f"({step}/10) ")
            await customer.press(str(score), [shown])
        assert customer.message(servqual["message_id"])["text"].startswith("Thank you! Your answers help us")
        response = await SurveyResponse.get(kind="servqual")
        assert response.servqual == {
            "reliability": {"expectation": 7, "perception": 5}, "responsiveness": {"expectation": 6, "perception": 6},
            "assurance": {"expectation": 7, "perception": 6}, "empathy": {"expectation": 5, "perception": 4},
            "tangibles": {"expectation": 4, "perception": 5},
        }
        late = bot.emulator.press_button(customer.id, servqual["message_id"], f"sq:{servqual['reply_markup']['inline_keyboard'][0][0]['callback_data'].split(':')[1]}:0:1", forged=True)
        await bot.handled(late)
        assert (await SurveyResponse.get(kind="servqual")).servqual["reliability"]["expectation"] == 7


async def test_a_customer_who_told_their_birthday_is_greeted_on_the_day_in_their_time(customer: Person) -> None:
    bot = customer.bot
    assert (await customer.say("/birthday 31-02")).text.startswith("Tell me your birthday as month-day")
    assert (await customer.say("/birthday 03-15")).text.startswith("Noted: 03-15.")
    assert (await customer.say("/timezone Mars/Olympus")).text.startswith("Tell me your time zone")
    assert (await customer.say("/timezone Europe/London")).text.startswith("Noted: Europe/London.")
    before = bot.emulator.seq
    # 10:01 in Shanghai is 02:01 in London: the greeting waits for the end of London's night.
    assert await bot.run_scheduler(datetime(2027, 3, 15, 10, 1, tzinfo=SHANGHAI)) == 0
    assert await bot.run_scheduler(datetime(2027, 3, 15, 9, 0, tzinfo=ZoneInfo("Europe/London"))) == 1
    assert [m["text"] for m in bot.emulator.bot_messages(customer.chat_id, since=before)] == [
        "Happy birthday, Emma! 🎂 Everyone at our shop wishes you a wonderful day."
    ]
