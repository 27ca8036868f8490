"""Screenshots of every console page, in simplified Chinese and in English, for docs/console.md.

    python docs/screenshots.py [--out docs/console]

It runs kefu as `kefu sandbox` does (the Bot API emulator, a throw-away SQLite database, the
sample orders and 12 weeks of sample service history), has three customers open tickets that
an agent answers, then signs a supervisor in — once through the Mini App's initData, once
through a /console login link — and saves each page as a PNG. Needs Playwright
(`pip install -e ".[dev]"`) and Debian's chromium at /usr/bin/chromium; nothing leaves the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlencode

from playwright.async_api import Browser, Page, async_playwright
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.app import build_application  # noqa: E402  (kefu from this checkout)
from bot.console.auth import login_url, mint_link, sign_init_data  # noqa: E402
from bot.context import KefuApp  # noqa: E402
from bot.core.config import Settings  # noqa: E402
from bot.emulator import BotAPIEmulator  # noqa: E402
from bot.http import serving_http  # noqa: E402
from bot.privacy import install_throwaway_key  # noqa: E402
from bot.runtime import open_database, running_bot  # noqa: E402
from bot.telegram.updates import ChatOrderedProcessor  # noqa: E402
from orders.importer import load_samples  # noqa: E402
from reports.sample import load_sample_history  # noqa: E402
from ticketing.models import Ticket  # noqa: E402
from ticketing.service import record_agent  # noqa: E402

TOKEN = "123456789:SCREENSHOTS-token-for-the-local-emulator"
CHROMIUM = "/usr/bin/chromium"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"]
LANGUAGES = {"zh-Hans": "zh-CN", "en": "en"}
"""Our language → the Telegram language_code of the supervisor who looks at the pages."""
CONVERSATIONS = [
    ("Fang", "Wang", "zh-CN", ["我要投诉，快递三天了还没到，订单 SO1001", "能帮我查一下物流吗？"], "您好，我们马上帮您查一下物流。"),
    ("Emma", "Smith", "en", ["I want to complain: I was charged twice for order SO1002", "Please refund one of them."],
     "Sorry about that, Emma, I'm checking the payment now."),
    ("Wei", "Zhang", "zh-CN", ["我要投诉，收到的杯子是碎的 <script>alert(1)</script>"], None),
]
"""Customers who open tickets (a complaint opens one at once; else they ask for a person), and
what an agent answers in the ticket's topic. The last shows that what a customer writes is text."""


async def settle(processor: ChatOrderedProcessor, update: dict) -> None:
    await processor.wait_finished(update["update_id"], timeout=30)


async def open_tickets(emulator: BotAPIEmulator, processor: ChatOrderedProcessor, group: dict, agent: dict) -> list[int]:
    """Customers ask for a person and write; the agent answers some of them in the topics."""
    numbers = []
    for first, last, code, lines, answer in CONVERSATIONS:
        customer = emulator.add_user(first_name=first, last_name=last, language_code=code)
        for number, line in enumerate(lines):
            await settle(processor, emulator.send_text(customer["id"], line))
            if number == 0 and not await Ticket.filter(customer__telegram_id=customer["id"]).exists():
                await settle(processor, emulator.send_text(customer["id"], "/human"))
        ticket = await Ticket.filter(customer__telegram_id=customer["id"]).order_by("-id").first()
        assert ticket is not None and ticket.topic_id is not None
        numbers.append(ticket.id)
        if answer:
            update = emulator.send_text(agent["id"], answer, chat_id=group["id"], message_thread_id=ticket.topic_id)
            await settle(processor, update)
    return numbers


TALLEST = 2400
"""Pixels (CSS) of a page kept at most: a long list shows its start."""


async def shoot(page: Page, url: str, path: Path, wait_for: str = "main h1") -> None:
    await page.goto(url)
    await page.wait_for_selector(wait_for)
    await page.wait_for_load_state("networkidle")
    width, height = await page.evaluate("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
    clip = {"x": 0, "y": 0, "width": width, "height": min(height, TALLEST)}
    await page.screenshot(path=str(path), full_page=True, clip=clip)
    print(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


async def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    settings = Settings()
    install_throwaway_key(settings)
    emulator = BotAPIEmulator(bot_username="kefu_demo_bot", bot_first_name="Kefu")
    await emulator.start("127.0.0.1", 0)
    group = emulator.add_group(title="kefu agents", is_forum=True)
    people = {
        language: emulator.add_user(first_name=first, last_name=last, username=f"boss_{language[:2]}", language_code=code)
        for (language, code), (first, last) in zip(LANGUAGES.items(), [("Min", "Zhao"), ("Alex", "Lee")], strict=True)
    }
    for person in people.values():
        emulator.set_member(group["id"], person["id"], "administrator")
    try:
        with tempfile.TemporaryDirectory(prefix="kefu-screenshots-") as tmp:
            settings = settings.model_copy(update={
                "telegram": settings.telegram.model_copy(update={
                    "token": SecretStr(TOKEN), "base_url": emulator.base_url, "base_file_url": emulator.base_file_url,
                    "agent_chat_id": group["id"], "supervisors": [p["id"] for p in people.values()], "poll_timeout": 10,
                }),
                "database": settings.database.model_copy(update={"url": f"sqlite://{Path(tmp) / 'kefu.db'}"}),
            })
            processor = ChatOrderedProcessor()
            app = build_application(settings, processor)
            async with (
                open_database(settings),
                serving_http(settings, "127.0.0.1:0", app=app) as server,
                running_bot(app, settings),
                async_playwright() as playwright,
            ):
                await load_samples()
                await load_sample_history()
                tickets = await open_tickets(emulator, processor, group, people["zh-Hans"])
                browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
                for language, person in people.items():
                    await shoot_language(browser, server, app, language, person, tickets, out)
                await browser.close()
    finally:
        await emulator.stop()


async def shoot_language(
    browser: Browser, server: str, app: KefuApp, language: str, person: dict, tickets: list[int], out: Path
) -> None:
    """Every page as ``person`` sees it: the Mini App on a phone, then the pages in a browser."""
    now = app.bot_data.now()
    user = {k: v for k, v in person.items() if k != "is_bot"}
    phone = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True)
    page = await phone.new_page()
    init_data = sign_init_data(TOKEN, user, now, chat_type="sender")
    launch = urlencode({"tgWebAppData": init_data, "tgWebAppVersion": "8.0", "tgWebAppPlatform": "ios"})
    await shoot(page, f"{server}/console/#{launch}", out / f"{language}-mini-app.png", wait_for="main h1 >> nth=0")
    await phone.close()

    desk = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await desk.new_page()
    agent = await record_agent(person["id"], f"{person['first_name']} {person['last_name']}", person["username"], supervisor=True)
    token = await mint_link(agent.id, language, now, 10)
    await page.goto(login_url(server, token))
    await page.wait_for_selector("main h1")
    pages = {
        "tickets": "/console/tickets",
        "ticket": f"/console/tickets/{tickets[0]}",
        "ticket-escaped": f"/console/tickets/{tickets[-1]}",
        "kb": "/console/kb",
        "kb-triage": "/console/kb/triage",
        "reports": "/console/reports",
        "campaigns": "/console/campaigns",
    }
    for name, path in pages.items():
        await shoot(page, server + path, out / f"{language}-{name}.png")
    await page.goto(server + "/console/kb")
    entry = await page.locator("a[href^='/console/kb/entry/']").first.get_attribute("href")
    if entry:
        await shoot(page, server + entry, out / f"{language}-kb-entry.png")
    await desk.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "console", help="where the PNGs go")
    asyncio.run(main(parser.parse_args().out.resolve()))
