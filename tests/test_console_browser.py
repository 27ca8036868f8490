"""The console in a real browser (headless Chromium): signing in as Telegram opens a Mini App,
or through a login link, and moving between pages with the token (issue 23)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from bot.core.i18n import text
from tests.harness import Console, Person, browser_errors

pytestmark = pytest.mark.slow

LINK = re.compile(r"https?://\S+/console/login\?t=\S+")


async def test_an_agent_opens_the_mini_app_and_moves_between_pages(
    console: Console, agent: Person, browser_page: Any
) -> None:
    page = browser_page
    errors = browser_errors(page)
    await page.goto(console.mini_app_url(console.init_data(agent)))
    await page.wait_for_selector(f"h1:has-text('{text('zh-Hans', 'console_tickets_title')}')")
    assert page.url == f"{console.url}/console/tickets", "initData leaves the address once used"
    assert await page.inner_text(".console-name") == "Lei Li"
    assert await page.locator("a[href='/console/reports']").count() == 0, "Reports is for supervisors"
    assert await page.locator("link[href='/console/static/tickets.css']").count() == 1, "the page's own stylesheet came too"

    await page.click(f"text={text('zh-Hans', 'console_nav_kb')}")
    await page.wait_for_selector(f"h1:has-text('{text('zh-Hans', 'console_kb_title')}')")
    assert page.url == f"{console.url}/console/kb"
    cookies = await page.context.cookies()
    assert cookies == [], "the Mini App works without cookies (Telegram Web frames it on another site)"
    assert errors == [], "no script failed and the CSP refused nothing"


async def test_the_mini_app_takes_telegrams_colours(console: Console, agent: Person, browser_page: Any) -> None:
    page = browser_page
    dark = {"bg_color": "#17212b", "text_color": "#f5f5f5", "button_color": "#5288c1", "link_color": "not a colour"}
    await page.goto(console.mini_app_url(console.init_data(agent), theme=dark))
    await page.wait_for_selector(f"h1:has-text('{text('zh-Hans', 'console_tickets_title')}')")
    body = await page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert body == "rgb(23, 33, 43)"
    assert await page.evaluate("document.documentElement.style.getPropertyValue('--tg-link-color')") == "", "only colours"


async def test_forged_init_data_shows_the_refusal(console: Console, agent: Person, browser_page: Any) -> None:
    page = browser_page
    other_bot = console.init_data(agent, token="123456789:another-bot-token-of-the-same-shop")
    await page.goto(console.mini_app_url(other_bot))
    refusal = page.locator("#console-entry-message.console-refused-message")
    await refusal.wait_for()
    assert await refusal.inner_text() == text("zh-Hans", "console_init_data_refused")
    assert await page.locator(".console-nav").count() == 0


async def test_a_customer_opening_the_console_is_refused(console: Console, customer: Person, browser_page: Any) -> None:
    page = browser_page
    await page.goto(console.mini_app_url(console.init_data(customer)))
    refusal = page.locator("#console-entry-message.console-refused-message")
    await refusal.wait_for()
    assert await refusal.inner_text() == text("en", "console_not_an_agent")


async def test_a_login_link_opens_the_console_in_a_browser(console: Console, supervisor: Person, browser_page: Any) -> None:
    page = browser_page
    errors = browser_errors(page)
    await supervisor.say("/console")
    link = LINK.search(console.bot.emulator.bot_messages(supervisor.id)[-1]["text"])
    assert link
    await page.goto(link.group())
    await page.wait_for_selector(f"h1:has-text('{text('zh-Hans', 'console_tickets_title')}')")
    [cookie] = await page.context.cookies()
    assert (cookie["name"], cookie["httpOnly"], cookie["sameSite"]) == ("kefu_console", True, "Lax")
    await page.click(f"text={text('zh-Hans', 'console_nav_reports')}")
    await page.wait_for_selector(f"h1:has-text('{text('zh-Hans', 'console_reports_title')}')")

    await page.click(f"text={text('zh-Hans', 'console_sign_out')}")
    await page.wait_for_selector(f"text={text('zh-Hans', 'console_signed_out_done')}")
    console.bot.travel(console.bot.app.bot_data.now() + timedelta(seconds=1))
    await page.goto(f"{console.url}/console/tickets")
    assert text("zh-Hans", "console_signed_out") in await page.inner_text("main")
    assert errors == [] or all("401" in error for error in errors), errors
