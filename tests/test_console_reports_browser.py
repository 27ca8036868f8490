"""The Reports and Campaigns pages in a real browser (headless Chromium), opened as the Mini App:
the charts are drawn (uPlot's canvases, no script refused by the CSP), and a campaign composed in
the page reaches the customers while its progress updates by itself."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.core.i18n import text
from reports.sample import load_sample_history
from tests.harness import Bot, Console, Person, browser_errors

pytestmark = pytest.mark.slow

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
LANGUAGE = "zh-Hans"


async def test_the_reports_page_draws_its_charts(bot: Bot, console: Console, supervisor: Person, browser_page: Any) -> None:
    bot.travel(NOW)
    await load_sample_history(now=NOW)
    page = browser_page
    errors = browser_errors(page)
    await page.goto(console.mini_app_url(console.init_data(supervisor)))
    await page.wait_for_selector(".console-nav")
    await page.click(f"text={text(LANGUAGE, 'console_nav_reports')}")  # a boosted link: htmx swaps the page in
    await page.wait_for_selector("#reports-charts[data-ready]")
    assert await page.locator("#reports-charts canvas").count() == 6, "five headline metrics and the breakdown"
    assert await page.locator("#reports-charts .u-title").first.inner_text() != ""

    await page.click(f"text={text(LANGUAGE, 'console_reports_days', days=90)}")  # the charts are drawn again
    await page.wait_for_selector(f".reports-shown:has-text('{(NOW.date() - timedelta(days=90)).isoformat()}')")
    await page.wait_for_selector("#reports-charts[data-ready]")
    assert await page.locator("#reports-charts canvas").count() == 6
    assert errors == [], "no script failed and the CSP refused nothing"


async def test_a_campaign_started_in_the_browser_shows_its_progress(
    bot: Bot, console: Console, supervisor: Person, browser_page: Any
) -> None:
    bot.travel(NOW)
    emma = bot.add_customer(first_name="Emma", language_code="en")
    await emma.say("/start")
    page = browser_page
    errors = browser_errors(page)
    await page.goto(console.mini_app_url(console.init_data(supervisor), "/console/"))
    await page.wait_for_selector(".console-nav")
    await page.click(f"text={text(LANGUAGE, 'console_nav_campaigns')}")
    await page.wait_for_selector(".campaign-form")
    await page.fill(".campaign-form textarea[name=text]", "{name}, the Double 12 sale starts tonight!")
    await page.click(".campaign-form button[type=submit]")
    sample = text("en", "console_campaigns_sample_name")  # the preview's name, in Emma's language
    await page.wait_for_selector(f".campaign-message:has-text('{sample}, the Double 12 sale starts tonight!')")
    await page.click(".campaign-start button")
    progress = page.locator("#campaign-progress")
    await progress.wait_for()
    await bot.campaigns_queued()
    assert await bot.run_scheduler(NOW + timedelta(seconds=1)) == 1
    await page.wait_for_selector("#campaign-progress[data-status='done']", timeout=10_000)  # htmx polled it
    assert await page.locator("[data-count=sent]").inner_text() == "1"
    assert bot.emulator.bot_messages(emma.chat_id)[-1]["text"] == "Emma, the Double 12 sale starts tonight!"
    assert errors == [], "no script failed and the CSP refused nothing"
