"""The console's Ticket page: the conversation as it happened, and the agent group's actions on
the ticket, which reach its topic and its customer as the chat commands do."""

from __future__ import annotations

import html

from markupsafe import escape

from bot.console.models import ConsoleAudit
from bot.core.config import DeskQualitySettings
from knowledge_base.models import Question
from tests.harness import Bot, Console, Person
from ticketing.models import Agent, Ticket, TicketEvent, TicketMessage

PHOTO = b"a photo of a broken cup " * 10  # ASCII: the harness reads answers as text
QUALITY = DeskQualitySettings(forbidden=["不知道"], required_on_close=["还有其他问题吗"])


async def ticket_of(customer: Person) -> Ticket:
    return await Ticket.filter(customer__telegram_id=customer.id).order_by("-id").first()


def topic_texts(agent: Person, ticket: Ticket, since: int = 0) -> list[str]:
    """What the bot posted in the ticket's topic after ``since``."""
    emulator = agent.bot.emulator
    return [m["text"] for m in emulator.bot_messages(agent.chat_id, since=since) if m.get("message_thread_id") == ticket.topic_id]


def customer_texts(customer: Person, since: int = 0) -> list[str]:
    return [m.get("text", "") for m in customer.bot.emulator.bot_messages(customer.chat_id, since=since)]


async def test_claiming_and_resolving_in_the_console_shows_in_the_topic_and_the_customer_is_told(
    customer: Person, agent: Person, console: Console
) -> None:
    await customer.say("/human")
    await customer.say("My parcel never arrived")
    ticket = await ticket_of(customer)
    at_console = await console.signed_in(agent)
    page = await at_console.get(f"/console/tickets/{ticket.id}")
    assert page.status == 200 and "My parcel never arrived" in page.text and "Emma Smith" in page.text

    emulator = customer.bot.emulator
    before = emulator.seq
    forged = await at_console.post(f"/console/tickets/{ticket.id}/claim", csrf=False)  # another site's form
    assert forged.status == 403 and topic_texts(agent, ticket, before) == []
    assert (await Ticket.get(id=ticket.id)).assignee_id is None
    claimed = await at_console.post(f"/console/tickets/{ticket.id}/claim")
    assert claimed.status == 200 and claimed.url.endswith(f"/console/tickets/{ticket.id}?done=claim")
    assert "您认领了这个工单，已告知话题。" in claimed.text
    assert topic_texts(agent, ticket, before) == ["🙋 Lei Li 认领了这个工单。（控制台）"]
    assert (await Ticket.get(id=ticket.id).prefetch_related("assignee")).assignee.telegram_id == agent.id

    before = emulator.seq
    resolved = await at_console.post(f"/console/tickets/{ticket.id}/resolve")
    assert resolved.status == 200
    assert customer_texts(customer, before)[-1].startswith(f"Our team has marked ticket #{ticket.id} as solved.")
    assert topic_texts(agent, ticket, before) == [
        f"✅ 工单 #{ticket.id} 已由 Lei Li 标记为已解决，已通知客户，客户留言即可重新打开。（控制台）"
    ]
    assert (await Ticket.get(id=ticket.id)).status == "resolved"

    history = [(e.kind, e.actor) for e in await TicketEvent.filter(ticket_id=ticket.id, kind__in=("claimed", "status", "console")).order_by("id")]
    assert ("claimed", f"agent:{agent.id}") in history and ("status", f"agent:{agent.id}") in history
    assert history.count(("console", f"console:{agent.id}")) == 2
    assert [a.action for a in await ConsoleAudit.filter(target_kind="ticket", target_id=str(ticket.id)).order_by("id")] == ["claim", "resolve"]
    shown = (await at_console.get(f"/console/tickets/{ticket.id}")).text
    assert "在控制台：认领" in shown and "在控制台：标记已解决" in shown


async def test_claiming_a_ticket_someone_else_has_is_refused_and_changes_nothing(
    customer: Person, agent: Person, supervisor: Person, console: Console
) -> None:
    await customer.say("/human")
    ticket = await ticket_of(customer)
    await agent.in_topic(ticket).say("/claim")
    boss = await console.signed_in(supervisor)
    before = customer.bot.emulator.seq
    refused = await boss.post(f"/console/tickets/{ticket.id}/claim")
    assert refused.status == 409 and "这个工单已经有人认领了。" in refused.text
    assert topic_texts(agent, ticket, before) == [] and not await ConsoleAudit.exists()


async def test_only_a_supervisor_assigns_and_only_to_a_member_of_the_agent_group(
    customer: Person, agent: Person, supervisor: Person, console: Console
) -> None:
    await customer.say("/human")
    ticket = await ticket_of(customer)
    at_console = await console.signed_in(agent)
    lei = await Agent.get(telegram_id=agent.id)  # known to kefu once signed in
    refused = await at_console.post(f"/console/tickets/{ticket.id}/assign", {"agent": str(lei.id)})
    assert refused.status == 403 and "只有主管可以执行此操作。" in refused.text
    assert (await Ticket.get(id=ticket.id)).assignee_id is None
    page = await at_console.get(f"/console/tickets/{ticket.id}")
    assert f"/console/tickets/{ticket.id}/assign" not in page.text  # not offered either

    boss = await console.signed_in(supervisor)
    before = customer.bot.emulator.seq
    assigned = await boss.post(f"/console/tickets/{ticket.id}/assign", {"agent": str(lei.id)})
    assert assigned.status == 200
    assert topic_texts(agent, ticket, before) == ["👤 Min Zhao 把这个工单分配给了 Lei Li。（控制台）"]
    assert (await Ticket.get(id=ticket.id)).assignee_id == lei.id

    gone = customer.bot.add_agent(first_name="Old", last_name="Hand")
    await console.signed_in(gone)  # known to kefu as an agent …
    customer.bot.emulator.set_member(agent.chat_id, gone.id, "left")  # … who then left the group
    old_hand = await Agent.get(telegram_id=gone.id)
    left = await boss.post(f"/console/tickets/{ticket.id}/assign", {"agent": str(old_hand.id)})
    assert left.status == 409 and "Old Hand 不是客服群成员。" in left.text
    assert (await Ticket.get(id=ticket.id)).assignee_id == lei.id


async def test_priority_and_pending_are_said_in_the_topic(customer: Person, agent: Person, console: Console) -> None:
    await customer.say("/human")
    ticket = await ticket_of(customer)
    at_console = await console.signed_in(agent)
    before = customer.bot.emulator.seq
    assert (await at_console.post(f"/console/tickets/{ticket.id}/priority", {"priority": "urgent"})).status == 200
    assert (await at_console.post(f"/console/tickets/{ticket.id}/priority", {"priority": "whenever"})).status == 400
    assert (await at_console.post(f"/console/tickets/{ticket.id}/pending")).status == 200
    said = topic_texts(agent, ticket, before)
    assert said[0].startswith("⚡ Lei Li 把优先级改为 urgent，期限 ") and said[0].endswith("（控制台）")
    assert said[1].startswith("⏸ 等待客户回复") and said[1].endswith("（控制台）") and len(said) == 2
    ticket = await Ticket.get(id=ticket.id)
    assert (ticket.priority, ticket.status) == ("urgent", "pending")


async def test_a_note_is_kept_and_shown_in_the_topic_but_never_reaches_the_customer(
    customer: Person, agent: Person, console: Console
) -> None:
    await customer.say("/human")
    ticket = await ticket_of(customer)
    at_console = await console.signed_in(agent)
    before = customer.bot.emulator.seq
    noted = await at_console.post(f"/console/tickets/{ticket.id}/note", {"text": "Customer is a reseller, check the invoice"})
    assert noted.status == 200 and "Customer is a reseller, check the invoice" in noted.text
    assert customer_texts(customer, before) == []
    assert topic_texts(agent, ticket, before) == ["📝 Lei Li（控制台）的备注，客户看不到：\nCustomer is a reseller, check the invoice"]
    note = await TicketMessage.get(ticket_id=ticket.id, direction="note")
    assert note.text == "Customer is a reseller, check the invoice"
    assert (await at_console.post(f"/console/tickets/{ticket.id}/note", {"text": "   "})).status == 400


async def test_a_reply_from_the_console_reaches_the_customer_as_one_from_the_topic(
    make_customer, agent: Person, console: Console
) -> None:
    customer: Person = make_customer(first_name="Mei", language_code="zh-TW")
    await customer.say("/human 我的訂單還沒到")
    ticket = await ticket_of(customer)
    at_console = await console.signed_in(agent)
    before = customer.bot.emulator.seq
    sent = await at_console.post(f"/console/tickets/{ticket.id}/reply", {"text": "您好，快递明天到，请放心"})
    assert sent.status == 200
    told = customer.bot.emulator.bot_messages(customer.chat_id, since=before)
    assert told[-1]["text"].startswith("您好，快遞明天到，請放心")  # in the customer's script, signed
    assert told[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == f"tc:solved:{ticket.id}"
    assert topic_texts(agent, ticket, before) == [
        "💬 Lei Li（控制台）回复客户：\n您好，快递明天到，请放心",
        "🔤 已按客户习惯转为繁体发送：\n您好，快遞明天到，請放心",
    ]
    reply = await TicketMessage.get(ticket_id=ticket.id, direction="out")
    assert reply.text == "您好，快遞明天到，請放心" and reply.customer_message_id == told[-1]["message_id"]
    ticket = await Ticket.get(id=ticket.id)
    assert ticket.first_response_at is not None and ticket.status == "open"


async def test_quality_rules_apply_to_the_console_as_to_the_topic(
    bot: Bot, customer: Person, agent: Person, console: Console
) -> None:
    bot.settings.desk.quality = QUALITY
    await customer.say("/human")
    ticket = await ticket_of(customer)
    at_console = await console.signed_in(agent)
    before = bot.emulator.seq
    stopped = await at_console.post(f"/console/tickets/{ticket.id}/reply", {"text": "这个我不知道"})
    assert stopped.status == 409 and "“不知道”" in stopped.text and "这个我不知道</textarea>" in stopped.text
    assert customer_texts(customer, before) == []
    anyway = await at_console.post(f"/console/tickets/{ticket.id}/reply", {"text": "这个我不知道", "anyway": "1"})
    assert anyway.status == 200 and customer_texts(customer, before)[0].startswith("这个我不知道")
    kinds = [e.kind for e in await TicketEvent.filter(ticket_id=ticket.id, kind__startswith="quality").order_by("id")]
    assert kinds == ["quality_warning", "quality_warning", "quality_override"]

    reminded = await at_console.post(f"/console/tickets/{ticket.id}/resolve")
    assert reminded.status == 409 and "还有其他问题吗" in reminded.text
    assert (await Ticket.get(id=ticket.id)).status == "open"
    assert (await at_console.post(f"/console/tickets/{ticket.id}/resolve")).status == 200  # again: resolved as it is
    assert (await Ticket.get(id=ticket.id)).status == "resolved"


async def test_what_a_customer_wrote_is_shown_as_text(make_customer, agent: Person, console: Console) -> None:
    customer: Person = make_customer(first_name="<b>Eve</b>", language_code="en")
    await customer.say("/human")
    await customer.say('<script>alert("pwned")</script> <img src=x onerror=alert(1)>')
    ticket = await ticket_of(customer)
    page = await (await console.signed_in(agent)).get(f"/console/tickets/{ticket.id}")
    assert str(escape('<script>alert("pwned")</script> <img src=x onerror=alert(1)>')) in page.text
    assert "<script>alert" not in page.text and "<img src=x" not in page.text
    assert "&lt;b&gt;Eve&lt;/b&gt;" in page.text and "<b>Eve</b>" not in page.text


async def test_the_bots_answers_before_the_ticket_are_part_of_the_conversation(
    customer: Person, agent: Person, console: Console
) -> None:
    await customer.say("How long does shipping take?")
    await customer.say("/human")
    ticket = await ticket_of(customer)
    question = await Question.get(text="How long does shipping take?")
    answer = customer.bot.app.bot_data.kb.answer(question.entry_id, "en")
    page = await (await console.signed_in(agent)).get(f"/console/tickets/{ticket.id}")
    assert "How long does shipping take?" in page.text and html.escape(answer, quote=False).splitlines()[0] in page.text


async def test_media_previews_are_served_to_staff_for_the_message_they_belong_to(
    customer: Person, make_customer, agent: Person, console: Console
) -> None:
    await customer.say("/human")
    await customer.send_photo(PHOTO, caption="The cup arrived broken")
    await customer.say("see above")
    other: Person = make_customer(first_name="Fang", language_code="en")
    await other.say("/human")
    await other.send_photo(b"another customer's passport " * 10)
    ticket = await ticket_of(customer)
    photo = await TicketMessage.get(ticket_id=ticket.id, direction="in", media__not_isnull=True)
    theirs = await TicketMessage.get(ticket_id=(await ticket_of(other)).id, direction="in", media__not_isnull=True)
    text_message = await TicketMessage.filter(ticket_id=ticket.id, direction="in", media__isnull=True).first()
    at_console = await console.signed_in(agent)
    page = await at_console.get(f"/console/tickets/{ticket.id}")
    assert f'data-media-src="/console/media/{photo.id}?part=0"' in page.text and "The cup arrived broken" in page.text
    assert f"/console/media/{theirs.id}" not in page.text

    served = await at_console.get(f"/console/media/{photo.id}", {"part": "0"})
    assert served.status == 200 and served.headers["Content-Type"] == "image/jpeg"
    assert served.text.encode() == PHOTO  # this message's file, and no other's
    assert (await at_console.get(f"/console/media/{theirs.id}")).text.encode() == b"another customer's passport " * 10
    for wrong in (f"/console/media/{text_message.id}", f"/console/media/{photo.id}?part=1", "/console/media/999999", "/console/media/abc"):
        assert (await at_console.get(wrong)).status == 404, wrong
    assert (await console.client().get(f"/console/media/{photo.id}")).status == 401  # staff only


async def test_a_document_a_customer_sent_is_a_download_never_a_page(customer: Person, agent: Person, console: Console) -> None:
    await customer.say("/human")
    await customer.exchange(customer.bot.emulator.send_document(
        customer.id, b"<script>alert(1)</script>", file_name="invoice.html", mime_type="text/html", chat_id=customer.chat_id,
    ))
    document = await TicketMessage.get(ticket_id=(await ticket_of(customer)).id, media__not_isnull=True)
    served = await (await console.signed_in(agent)).get(f"/console/media/{document.id}")
    assert served.status == 200 and served.headers["Content-Type"] == "application/octet-stream"
    assert served.headers["Content-Disposition"].startswith("attachment")
    assert served.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_forgotten_customers_ticket_shows_nothing_of_theirs(make_customer, agent: Person, console: Console) -> None:
    customer: Person = make_customer(first_name="Meilin", last_name="Zhou", username="meilin_z", language_code="en")
    await customer.say("What are your opening hours?")
    await customer.say("/human")
    await customer.say("My address is 88 Nanjing Road")
    ticket = await ticket_of(customer)
    asked = await customer.say("/forgetme")
    await customer.press("Yes, delete my data", asked)
    at_console = await console.signed_in(agent)
    page = await at_console.get(f"/console/tickets/{ticket.id}")
    assert page.status == 200 and "🕶" in page.text
    for personal in ("Meilin", "Zhou", "meilin_z", "Nanjing Road", "opening hours", str(customer.id)):
        assert personal not in page.text, personal
    before = customer.bot.emulator.seq
    refused = await at_console.post(f"/console/tickets/{ticket.id}/note", {"text": "call her back"})
    assert refused.status == 409 and customer_texts(customer, before) == []
    assert not await TicketMessage.filter(ticket_id=ticket.id, direction="note").exists()


async def test_an_unknown_ticket_or_action_is_a_polite_404(agent: Person, console: Console) -> None:
    at_console = await console.signed_in(agent)
    assert (await at_console.get("/console/tickets/424242")).status == 404
    assert (await at_console.post("/console/tickets/424242/claim")).status == 404
    assert (await at_console.get("/console/tickets/99999999999999999999")).status == 404
