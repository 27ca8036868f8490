"""Searching tickets by what customers and agents wrote (ticketing/search.py), through the queue
(ticketing/queue.py), on both databases: English words and two-character Chinese words in either
script are found, nothing else is, and the database never holds the words readably."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tortoise import Tortoise

from bot import privacy
from bot.core import crypto, sql
from tests.conftest import TEST_PRIVACY_KEY
from ticketing import copies, search
from ticketing.customers import record_customer
from ticketing.models import Ticket, TicketMessage
from ticketing.queue import QueueFilter, queue_page
from ticketing.service import (
    SlaPolicy,
    add_agent_reply,
    add_note,
    open_ticket,
    record_agent,
)

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
POLICY = SlaPolicy()


@pytest.fixture(autouse=True, params=["rare", "common"])
def _both_ways(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every search runs both ways: through the full-text index's hits (a rare word), and walking
    the tickets newest first (a word so common that the index's hits would cost more)."""
    if request.param == "common":
        monkeypatch.setattr(search, "COMMON", 1)


async def found(query: str, status: str = "all") -> list[int]:
    page = await queue_page(QueueFilter(status=status, query=query), NOW)  # type: ignore[arg-type]
    return [t.id for t in page.tickets]


async def ticket_of(telegram_id: int, text: str) -> Ticket:
    customer = await record_customer(telegram_id, first_name=f"Customer {telegram_id}")
    return (await open_ticket(customer, text=text, source="handoff", now=NOW, policy=POLICY)).ticket


async def test_an_english_word_finds_the_ticket_it_was_written_in_and_no_other(database: str) -> None:
    parcel = await ticket_of(1, "My parcel never arrived, I want a Refund")
    other = await ticket_of(2, "How do I change my delivery address?")
    assert await found("refund") == [parcel.id]
    assert await found("REFUND parcel") == [parcel.id]  # every word, any case
    assert await found("address") == [other.id]
    assert await found("refund address") == []  # both words in one message: none has them
    assert await found("refunds") == []  # words, not prefixes
    assert await found("   ") == [other.id, parcel.id]  # no words: no search, the whole queue


async def test_two_character_chinese_words_are_found_in_either_script(database: str) -> None:
    simplified = await ticket_of(1, "我的快递三天了还没到，能退款吗？")
    traditional = await ticket_of(2, "我的快遞還沒到，我要退款")
    other = await ticket_of(3, "请问发票怎么开")
    assert await found("快递") == [traditional.id, simplified.id]
    assert await found("快遞") == [traditional.id, simplified.id]
    assert await found("退款") == [traditional.id, simplified.id]
    assert await found("快递 退款") == [traditional.id, simplified.id]
    assert await found("发票") == [other.id]
    assert await found("三天") == [simplified.id]
    assert await found("退货") == []  # 退 and 货 are both written, but not 退货
    assert await found("到") == [traditional.id, simplified.id]  # one character alone is a term too


async def test_agents_replies_and_notes_are_searched_too(database: str) -> None:
    ticket = await ticket_of(1, "hello")
    agent = await record_agent(70, "Wang", "wang", supervisor=False)
    await add_agent_reply(ticket, agent, text="我们已经补发了", now=NOW + timedelta(minutes=5), policy=POLICY)
    await add_note(ticket, agent, "customer is a reseller", NOW + timedelta(minutes=6))
    assert await found("补发") == [ticket.id]
    assert await found("reseller") == [ticket.id]
    page = await queue_page(QueueFilter(status="all", query="补发"), NOW)
    assert page.hits == {ticket.id: "我们已经补发了"}


async def test_the_database_holds_no_word_readably(database: str) -> None:
    await ticket_of(1, "Refund my parcel 快递")
    stored = await Tortoise.get_connection("default").execute_query_dict("SELECT text, search_terms FROM ticket_message")
    assert len(stored) == 1 and crypto.looks_encrypted(stored[0]["text"])
    terms = stored[0]["search_terms"].split()
    assert len(terms) == len(search.terms("Refund my parcel 快递"))
    assert all(len(term) == search.HASH_LETTERS and set(term) <= set("abcdefghijklmnop") for term in terms)
    assert not {"refund", "parcel", "快递"} & set(terms)


async def test_a_hash_collision_never_shows_a_wrong_ticket(database: str) -> None:
    """Two words may share a 32-bit hash: the index then names a message without the word, and the
    decrypted message is what decides."""
    right = await ticket_of(1, "I want a refund")
    wrong = await ticket_of(2, "Where is my order?")
    colliding = f"{search.sealed_terms('refund')} {search.sealed_terms('Where is my order?')}"
    await Tortoise.get_connection("default").execute_query(
        f"UPDATE ticket_message SET search_terms = '{colliding}' WHERE ticket_id = {wrong.id}"
    )
    where, params = await search.searched_tickets("refund")  # type: ignore[misc]
    candidates = [row["id"] for row in await sql.rows(f"SELECT t.id FROM ticket t WHERE {where} ORDER BY t.id", **params)]
    assert candidates == [right.id, wrong.id]  # the index alone would show both
    assert await found("refund") == [right.id]


async def test_a_forgotten_customer_is_not_found(database: str) -> None:
    kept = await ticket_of(1, "快递丢了 lost parcel")
    gone = await ticket_of(2, "快递破损 damaged parcel")
    await privacy.forget_customer(await gone.customer, NOW + timedelta(hours=1))
    assert await found("快递") == [kept.id]
    assert await found("damaged") == []
    assert await TicketMessage.filter(ticket=gone, search_terms__isnull=False).count() == 0


async def test_an_edited_message_is_found_by_what_it_says_now(database: str) -> None:
    ticket = await ticket_of(1, "the colour is wrong")
    message = await TicketMessage.get(ticket=ticket)
    await copies.edited(copies.Relayed(message, 1, None, first=True), "the size is wrong", NOW + timedelta(minutes=1))
    assert await found("size") == [ticket.id]
    assert await found("colour") == []


async def test_messages_from_before_the_index_are_indexed_at_start(database: str) -> None:
    """A database upgraded to 0019 has messages without terms (a migration has no key): the start
    (``kefu db upgrade``, ``kefu run``) gives them theirs."""
    ticket = await ticket_of(1, "退款还没到账")
    await Tortoise.get_connection("default").execute_query("UPDATE ticket_message SET search_terms = NULL")
    assert await found("退款") == []
    assert await privacy.prepare() == 1
    assert await found("退款") == [ticket.id]


async def test_search_keeps_working_through_a_key_rotation(database: str) -> None:
    ticket = await ticket_of(1, "退款 refund")
    before = (await TicketMessage.get(ticket=ticket)).search_terms
    new = crypto.new_key()
    try:
        crypto.install([new, TEST_PRIVACY_KEY])  # the new key first, rows still under the old one
        assert await found("退款") == [ticket.id]
        await privacy.rotate()
        assert (await TicketMessage.get(ticket=ticket)).search_terms != before
        crypto.install([new])
        assert await found("退款") == [ticket.id] and await found("refund") == [ticket.id]
    finally:  # back to the tests' key: the next test opens this database with it
        crypto.install([TEST_PRIVACY_KEY, new])
        await privacy.rotate()
        crypto.install([TEST_PRIVACY_KEY])


async def test_a_search_pages_through_many_hits(database: str) -> None:
    tickets = [await ticket_of(n, f"快递 number {n}" if n % 2 else f"发票 number {n}") for n in range(1, 13)]
    hits = [t.id for t in reversed(tickets) if t.id % 2]
    first = await queue_page(QueueFilter(status="all", query="快递"), NOW, limit=4)
    assert [t.id for t in first.tickets] == hits[:4] and first.newer is None
    second = await queue_page(QueueFilter(status="all", query="快递"), NOW, after=first.older, limit=4)
    assert [t.id for t in second.tickets] == hits[4:] and second.older is None
    back = await queue_page(QueueFilter(status="all", query="快递"), NOW, before=second.newer, limit=4)
    assert [t.id for t in back.tickets] == hits[:4]
