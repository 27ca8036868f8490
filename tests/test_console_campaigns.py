"""The console's Campaigns page (supervisors): compose, the count and the preview, start (the
same campaign as /campaign, through the outbox to the customers in the emulator), progress, stop."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.console.models import ConsoleAudit
from bot.core.i18n import text
from scheduler.models import Campaign, OutboxMessage
from tests.harness import Bot, Console, ConsoleClient, Person
from ticketing.models import Customer

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Monday morning: no quiet hours
LANGUAGE = "zh-Hans"  # the supervisor's Telegram language (zh-CN)
HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def t(key: str, **values: object) -> str:
    return text(LANGUAGE, key, **values)


@pytest.fixture
async def customers(bot: Bot) -> dict[str, Person]:
    """Five customers who started the bot: one unsubscribed since, one blocked it (as kefu records
    once a message to them was refused: scheduler/sender.py)."""
    bot.travel(NOW)
    people = {
        "emma": bot.add_customer(first_name="Emma", language_code="en"),
        "fang": bot.add_customer(first_name="芳", language_code="zh-CN"),
        "mei": bot.add_customer(first_name="美", language_code="zh-TW"),
        "quiet": bot.add_customer(first_name="Quiet", language_code="en"),
        "gone": bot.add_customer(first_name="Gone", language_code="en"),
    }
    for person in people.values():
        await person.say("/start")
    await people["quiet"].say("/unsubscribe")
    bot.emulator.block_bot(people["gone"].id)
    await Customer.filter(telegram_id=people["gone"].id).update(blocked=True)
    return people


def draft(text_: str | None = None, template: str | None = None, segment: str = "all") -> dict[str, str]:
    if template is not None:
        return {"segment": segment, "kind": "template", "template": template}
    return {"segment": segment, "kind": "text", "text": text_ or ""}


async def start_form(boss: ConsoleClient, form: dict[str, str]) -> dict[str, str]:
    """What the preview's Start button sends: its form's hidden fields."""
    preview = await boss.post("/console/campaigns/preview", form)
    start = preview.text.split('class="campaign-start"')[1].split("</form>")[0]
    return {name: html.unescape(value) for name, value in HIDDEN.findall(start)}


async def started(boss: ConsoleClient, form: dict[str, str]) -> Campaign:
    """The campaign started as a supervisor does: preview, then Start."""
    answer = await boss.post("/console/campaigns/start", await start_form(boss, form))
    assert answer.status == 200, answer.text
    campaign = await Campaign.all().order_by("-id").first()
    assert campaign is not None and answer.url.endswith(f"/console/campaigns/{campaign.id}")
    return campaign


async def test_an_agent_is_refused_the_campaigns(console: Console, agent: Person) -> None:
    signed_in = await console.signed_in(agent)
    for answer in (
        await signed_in.get("/console/campaigns"),
        await signed_in.post("/console/campaigns/preview", draft("Hi {name}")),
        await signed_in.post("/console/campaigns/start", draft("Hi {name}")),
    ):
        assert answer.status == 403 and text("zh-Hans", "console_supervisors_only") in answer.text
    assert await Campaign.all().count() == 0


async def test_the_preview_counts_who_the_send_reaches_and_shows_their_message(
    console: Console, supervisor: Person, customers: dict[str, Person]
) -> None:
    boss = await console.signed_in(supervisor)
    page = await boss.get("/console/campaigns")
    assert page.status == 200 and t("console_campaigns_none") in page.text
    shown = await boss.post("/console/campaigns/preview", draft("{name}, the Double 12 sale starts tonight! <b>50%</b>"))
    assert shown.status == 200
    assert t("console_campaigns_count", count=3) in shown.text, "the unsubscribed and the blocked are left out"
    english, chinese = (text(language, "console_campaigns_sample_name") for language in ("en", "zh-Hans"))
    assert f"{english}, the Double 12 sale starts tonight! &lt;b&gt;50%&lt;/b&gt;" in shown.text, "as written, escaped"
    assert f"{chinese}, the Double 12 sale starts tonight!" in shown.text
    assert t("console_campaigns_start", count=3) in shown.text
    template = await boss.post("/console/campaigns/preview", draft(template="sale"))
    for language in ("en", "zh-Hans", "zh-Hant"):
        assert text(language, "campaign_template_sale", name=text(language, "console_campaigns_sample_name")) in template.text
    nobody = await boss.post("/console/campaigns/preview", draft("Hi {name}", segment="vip"))
    assert t("console_campaigns_count", count=0) in nobody.text and t("console_campaigns_nobody") in nobody.text
    assert "/console/campaigns/start" not in nobody.text
    await Customer.filter(telegram_id=customers["emma"].id).update(last_seen=NOW - timedelta(days=45))
    inactive = await boss.post("/console/campaigns/preview", {**draft("We miss you, {name}"), "segment": "inactive", "inactive_days": "30"})
    assert t("console_campaigns_count", count=1) in inactive.text and f"We miss you, {english}" in inactive.text
    assert '<input type="hidden" name="segment" value="inactive_30">' in inactive.text, "started as /campaign inactive 30"


@pytest.mark.parametrize(("form", "why"), [
    (draft("   "), "console_campaigns_no_text"),
    (draft("Hi", segment="everyone'); DROP TABLE campaign;--"), "console_campaigns_bad_segment"),
    (draft(template="<script>"), "console_campaigns_bad_template"),
    ({"kind": "text", "text": "Hi"}, "console_campaigns_bad_segment"),
    ({**draft("Hi"), "segment": "inactive", "inactive_days": "0"}, "console_campaigns_bad_segment"),
    ({**draft("Hi"), "segment": "inactive", "inactive_days": "lots"}, "console_campaigns_bad_segment"),
])
async def test_a_draft_that_cannot_be_sent_is_refused_politely(
    console: Console, supervisor: Person, form: dict[str, str], why: str
) -> None:
    boss = await console.signed_in(supervisor)
    for path in ("/console/campaigns/preview", "/console/campaigns/start"):
        answer = await boss.post(path, form)
        assert answer.status == 400 and t(why) in answer.text, path
    assert await Campaign.all().count() == 0


async def test_a_message_longer_than_telegram_takes_is_refused(console: Console, supervisor: Person) -> None:
    boss = await console.signed_in(supervisor)
    answer = await boss.post("/console/campaigns/start", draft("{name} " + "x" * 4000))
    assert answer.status == 400 and "⚠️" in answer.text and "4096" in answer.text
    assert await Campaign.all().count() == 0


async def test_a_campaign_started_in_the_console_reaches_the_segment_and_shows_its_progress(
    console: Console, supervisor: Person, customers: dict[str, Person]
) -> None:
    bot = console.bot
    left = bot.add_customer(first_name="Left", language_code="en")
    await left.say("/start")
    bot.emulator.block_bot(left.id)  # kefu learns it when the campaign's message is refused
    boss = await console.signed_in(supervisor)
    before = bot.emulator.seq
    campaign = await started(boss, draft("{name}, the Double 12 sale starts tonight!"))
    assert (campaign.segment, campaign.total, campaign.created_by_telegram_id) == ("all", 4, supervisor.id)
    [audit] = await ConsoleAudit.filter(action="campaign_start")
    assert (audit.target_kind, audit.target_id) == ("campaign", str(campaign.id))
    assert audit.details == {"segment": "all", "template": None, "text_length": 42, "total": 4}
    group = bot.emulator.bot_messages(supervisor.chat_id, since=before)
    assert group and group[-1]["text"].startswith(f"📤 营销活动 #{campaign.id}"), "the progress shows in the group too"

    await bot.campaigns_queued()
    page = await boss.get(f"/console/campaigns/{campaign.id}")
    assert 'data-count="queued">4<' in page.text and 'hx-trigger="every 2s"' in page.text
    sent_before = bot.emulator.seq
    assert await bot.run_scheduler(NOW + timedelta(seconds=1)) == 3
    texts = {m["chat"]["id"]: m["text"] for m in bot.emulator.bot_messages(since=sent_before) if m["chat"]["type"] == "private"}
    assert texts == {
        customers["emma"].id: "Emma, the Double 12 sale starts tonight!",
        customers["fang"].id: "芳, the Double 12 sale starts tonight!",
        customers["mei"].id: "美, the Double 12 sale starts tonight!",
    }, "neither the unsubscribed customer nor the one who blocked the bot gets it"

    fragment = await boss.get(f"/console/campaigns/{campaign.id}/progress")
    assert 'data-status="done"' in fragment.text and "hx-trigger" not in fragment.text, "finished: the polling stops"
    counts = {name: fragment.text.split(f'data-count="{name}">')[1].split("<")[0] for name in ("queued", "sent", "failed", "skipped")}
    assert counts == {"queued": "0", "sent": "3", "failed": "0", "skipped": "1"}, "the customer who blocked the bot is skipped"
    assert (await Customer.get(telegram_id=left.id)).blocked
    listing = await boss.get("/console/campaigns")
    assert f'href="/console/campaigns/{campaign.id}"' in listing.text and t("console_campaigns_status_done") in listing.text


async def test_a_campaign_stopped_in_the_console_sends_nothing_more(
    console: Console, supervisor: Person, customers: dict[str, Person]
) -> None:
    bot = console.bot
    boss = await console.signed_in(supervisor)
    campaign = await started(boss, draft(template="we_miss_you"))
    await bot.campaigns_queued()
    stopped = await boss.post(f"/console/campaigns/{campaign.id}/stop")
    assert stopped.status == 200 and 'data-status="cancelled"' in stopped.text
    assert 'data-count="stopped">3<' in stopped.text
    before = bot.emulator.seq
    assert await bot.run_scheduler(NOW + timedelta(seconds=1)) == 0
    assert not [m for m in bot.emulator.bot_messages(since=before) if m["chat"]["type"] == "private"]
    assert await OutboxMessage.filter(campaign_id=campaign.id, status="cancelled").count() == 3
    assert [a.action for a in await ConsoleAudit.all().order_by("id")] == ["campaign_start", "campaign_stop"]
    again = await boss.post(f"/console/campaigns/{campaign.id}/stop")
    assert again.status == 200 and await ConsoleAudit.filter(action="campaign_stop").count() == 1
    assert (await boss.get("/console/campaigns/999999")).status == 404


async def test_start_pressed_twice_starts_one_campaign(console: Console, supervisor: Person, customers: dict[str, Person]) -> None:
    boss = await console.signed_in(supervisor)
    pressed = await start_form(boss, draft("{name}, one message only"))
    first, second = await boss.post("/console/campaigns/start", pressed), await boss.post("/console/campaigns/start", pressed)
    [campaign] = await Campaign.all()
    assert first.url == second.url and first.url.endswith(f"/console/campaigns/{campaign.id}")
    assert await ConsoleAudit.filter(action="campaign_start").count() == 1
    await console.bot.campaigns_queued()
    assert await console.bot.run_scheduler(NOW + timedelta(seconds=1)) == 3, "each customer once"
    without_preview = await boss.post("/console/campaigns/start", draft("{name}, straight away"))
    assert without_preview.status == 400 and t("console_campaigns_preview_first") in without_preview.text
    again = await boss.post("/console/campaigns/start", await start_form(boss, draft("{name}, one message only")))
    assert again.status == 200 and await Campaign.all().count() == 2, "a new preview is a new campaign"
