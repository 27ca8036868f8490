"""The console's Tickets page, as an agent signed in to it sees it: the queue and its filters, the
search (English and two-character Chinese words, issue 23 acceptance 3), paging, and whatever a
customer wrote shown as text."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.core.config import DeskSettings
from bot.core.i18n import text
from bot.http import serving_http
from tests.harness import Bot, Console, ConsoleClient, Person
from ticketing.customers import record_customer
from ticketing.models import Agent, Ticket
from ticketing.service import SlaPolicy, assign, close, open_ticket

ROW = re.compile(r'data-ticket="(\d+)"')


async def shown(client: ConsoleClient, **params: str) -> list[int]:
    page = await client.get("/console/tickets", params=params)
    assert page.status == 200, page.text
    return [int(n) for n in ROW.findall(page.text)]


async def ticket_of(bot: Bot, said: str, **kwargs: object) -> Ticket:
    """A ticket opened on the service (quicker than a chat), for a customer the emulator knows."""
    person = bot.add_customer()
    customer = await record_customer(person.id, first_name=f"Customer {person.id}")
    now = bot.app.bot_data.now()
    return (await open_ticket(customer, text=said, source="handoff", now=now, policy=SlaPolicy(), **kwargs)).ticket  # type: ignore[arg-type]


async def test_the_queue_lists_working_tickets_newest_first_each_linking_to_its_page(
    console: Console, agent: Person, customer: Person
) -> None:
    await customer.say("快递一周了还没到，我要投诉")
    complaint = await Ticket.get(customer__telegram_id=customer.id)
    client = await console.signed_in(agent)
    page = await client.get("/console/tickets")
    assert page.status == 200
    assert f'href="/console/tickets/{complaint.id}"' in page.text
    assert text("zh-Hans", "console_tickets_title") in page.text and "物流配送" in page.text
    assert [int(n) for n in ROW.findall(page.text)] == [complaint.id]


async def test_filters_narrow_the_queue(console: Console, bot: Bot, agent: Person) -> None:
    parcel = await ticket_of(bot, "快递还没到")
    invoice = await ticket_of(bot, "发票怎么开", category="payment")
    done = await ticket_of(bot, "thanks")
    client = await console.signed_in(agent)
    me = await Agent.get(telegram_id=agent.id)
    now = bot.app.bot_data.now()
    await assign(invoice, me, "agent:1", now)
    await close(done, "agent:1", now)

    assert await shown(client) == [invoice.id, parcel.id]
    assert await shown(client, status="all") == [done.id, invoice.id, parcel.id]
    assert await shown(client, status="closed") == [done.id]
    assert await shown(client, category="logistics") == [parcel.id]
    assert await shown(client, agent="me") == [invoice.id]
    assert await shown(client, agent=str(me.id)) == [invoice.id]
    assert await shown(client, agent="none") == [parcel.id]
    assert await shown(client, priority="urgent") == []
    assert await shown(client, sla="on_track") == [invoice.id, parcel.id]
    bot.travel(parcel.resolution_due + timedelta(minutes=1))
    client = await console.signed_in(agent)  # days later: a new session
    assert await shown(client, sla="breached") == [invoice.id, parcel.id]
    assert await shown(client, breaching="1") == [invoice.id, parcel.id]
    # a value the page never offers narrows nothing, and is no error
    assert await shown(client, category="<b>", agent="999999", status="nonsense", after="x") == [invoice.id, parcel.id]


async def test_search_finds_what_the_customer_wrote_in_english_and_in_chinese(
    console: Console, bot: Bot, agent: Person, make_customer
) -> None:
    fang: Person = make_customer(first_name="Fang", language_code="zh-TW")
    await fang.say("我的快遞還沒到，我要投訴，要退款")
    mine = await Ticket.get(customer__telegram_id=fang.id)
    other = await ticket_of(bot, "Where is my invoice? I want a refund")
    await ticket_of(bot, "发票怎么开")
    client = await console.signed_in(agent)

    assert await shown(client, q="快递") == [mine.id]
    assert await shown(client, q="快遞") == [mine.id]
    assert await shown(client, q="退款") == [mine.id]
    assert await shown(client, q="invoice") == [other.id]
    assert await shown(client, q="Refund") == [other.id]
    assert await shown(client, q="refund invoice") == [other.id]
    assert await shown(client, q="parcel") == []
    page = await client.get("/console/tickets", params={"q": "parcel"})
    assert text("zh-Hans", "console_tickets_none_found") in page.text
    page = await client.get("/console/tickets", params={"q": "invoice"})
    assert "Where is my invoice? I want a refund" in page.text  # the message found, under its ticket
    await close(other, "agent:1", bot.app.bot_data.now())
    assert await shown(client, q="invoice") == [other.id]  # a search looks in closed tickets too
    assert await shown(client, q="invoice", status="working") == []  # unless told otherwise


async def test_pages_go_forward_and_back(console: Console, bot: Bot, agent: Person) -> None:
    tickets = [await ticket_of(bot, f"problem number {n}") for n in range(1, 56)]  # a page holds 50
    newest_first = [t.id for t in reversed(tickets)]
    client = await console.signed_in(agent)
    first = await client.get("/console/tickets")
    assert [int(n) for n in ROW.findall(first.text)] == newest_first[:50]
    older = re.search(r'href="([^"]+)" class="queue-older"', first.text)
    assert older and 'class="queue-newer"' not in first.text
    second = await client.get(older.group(1).replace("&amp;", "&"))
    assert [int(n) for n in ROW.findall(second.text)] == newest_first[50:]
    assert 'class="queue-older"' not in second.text
    newer = re.search(r'href="([^"]+)" class="queue-newer"', second.text)
    assert newer
    back = await client.get(newer.group(1).replace("&amp;", "&"))
    assert [int(n) for n in ROW.findall(back.text)] == newest_first[:50]
    searched = await shown(client, q="problem", after=str(newest_first[49]))
    assert searched == newest_first[50:]


async def test_what_a_customer_wrote_is_shown_as_text(console: Console, agent: Person, customer: Person) -> None:
    await customer.say("<script>alert('x')</script> 快递丢了，我要投诉 <b>now</b>")
    client = await console.signed_in(agent)
    for params in ({}, {"q": "快递"}, {"q": "now"}):
        page = await client.get("/console/tickets", params=params)
        assert "<script>alert" not in page.text and "<b>now" not in page.text
        assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    filled = await client.get("/console/tickets", params={"q": '"><script>alert(2)</script>'})
    assert "<script>alert(2)" not in filled.text and "&lt;script&gt;alert(2)" in filled.text


async def test_only_signed_in_agents_see_the_queue(console: Console, customer: Person) -> None:
    await customer.say("快递丢了，我要投诉")
    anonymous = console.client()
    page = await anonymous.get("/console/tickets")
    assert page.status == 401 and "快递" not in page.text


async def test_a_team_is_the_tickets_its_agents_have(start_bot) -> None:
    """[desk.teams] names a category's agents: the Team filter shows the tickets one of them has."""
    async with start_bot(desk=DeskSettings(teams={"payment": ["@li_pay"]})) as bot, serving_http(
        bot.settings, "127.0.0.1:0", app=bot.app
    ) as url:
        console = Console(bot, url)
        try:
            li = bot.add_agent(first_name="Li", username="li_pay", language_code="en")
            wang = bot.add_agent(first_name="Wang", username="wang", language_code="en")
            client = await console.signed_in(li)
            await console.signed_in(wang)
            invoice = await ticket_of(bot, "发票怎么开", category="payment")
            parcel = await ticket_of(bot, "快递还没到")
            now = bot.app.bot_data.now()
            await assign(invoice, await Agent.get(telegram_id=li.id), "agent:1", now)
            await assign(parcel, await Agent.get(telegram_id=wang.id), "agent:1", now)
            page = await client.get("/console/tickets")
            assert '<option value="payment">Payment (@li_pay)</option>' in page.text
            assert await shown(client, team="payment") == [invoice.id]
            assert await shown(client) == [parcel.id, invoice.id]
        finally:
            await console.close()


async def test_an_empty_queue_offers_every_ticket_resolved_and_closed_ones_too(
    console: Console, bot: Bot, agent: Person
) -> None:
    done = await ticket_of(bot, "thanks, all good")
    await close(done, "agent:1", bot.app.bot_data.now())
    client = await console.signed_in(agent)
    page = await client.get("/console/tickets")
    assert ROW.findall(page.text) == []
    assert 'href="/console/tickets?status=all"' in page.text
    assert text("zh-Hans", "console_tickets_show_all") in page.text
    assert await shown(client, status="all") == [done.id]
