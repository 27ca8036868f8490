"""The console's Knowledge base page (issue 23, acceptance 5): an answer edited there is what the
bot answers next; an invalid edit is refused with the file loader's own message and nothing is
saved; a new entry answers; a missed question attached to an entry is answered outright; customers'
confirmations are accepted or rejected as with /kb_learn; the try-it box says which entry a
message reaches, how sure the bot is and in which band."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import yaml
from markupsafe import escape

from bot.cli import main
from bot.console.models import ConsoleAudit
from bot.core.i18n import text
from knowledge_base.entries import KBError
from knowledge_base.loader import load_file
from knowledge_base.models import QuestionCandidate
from knowledge_base.questions import question_key
from tests.harness import Bot, Console, Person

RETURNS_QUESTION = "how do I return an item"
RETURNS_EN = "Send it back within 30 days with the return label from your order page."


def returns_form(**changes: str) -> dict[str, str]:
    """The edit form of the shipped entry ``returns`` as the page fills it, with ``changes``."""
    form = {
        "category": "returns", "action": "answer", "tags": "returns",
        "q_zh-Hans": "怎么退货\n我要退货\n可以退货吗", "q_zh-Hant": "",
        "q_en": f"{RETURNS_QUESTION}\nI want to return my order\nwhat is your return policy",
        "a_zh-Hans": "收货后 {return_days} 天内可以退货。", "a_zh-Hant": "", "a_en": RETURNS_EN,
        "buttons": "3",
        "b0_zh-Hans": "退货运费谁出", "b0_en": "Who pays return postage", "b0_target": "return_shipping_cost",
        "b1_zh-Hans": "换货", "b1_en": "Exchanges", "b1_target": "exchange",
        "b2_zh-Hans": "", "b2_en": "", "b2_target": "",
    }
    return form | changes


def escaped(shown: str) -> str:
    """``shown`` as the page's templates write it (autoescaped)."""
    return str(escape(shown))


def learned_file(bot: Bot) -> Path:
    return Path(bot.settings.knowledge_base.learned_file)


async def test_an_answer_edited_in_the_console_is_what_the_bot_answers_next(
    bot: Bot, console: Console, supervisor: Person, customer: Person, tmp_path: Path, monkeypatch
) -> None:
    at_console = await console.signed_in(supervisor)
    page = await at_console.get("/console/kb/entry/returns")
    assert page.status == 200
    assert text("zh-Hans", "console_kb_origin_default") in page.text
    assert "You can return unused items" in page.text  # the shipped answer, in the form

    saved = await at_console.post("/console/kb/entry/returns", returns_form())
    assert saved.status == 200 and saved.url.endswith("/console/kb/entry/returns?saved=1")
    assert text("zh-Hans", "console_kb_saved") in saved.text

    assert (await customer.say(RETURNS_QUESTION)).text == RETURNS_EN
    learned = yaml.safe_load(learned_file(bot).read_text(encoding="utf-8"))
    assert [e["id"] for e in learned["entries"]] == ["returns"]  # a shipped entry: overridden there
    audit = await ConsoleAudit.get(action="kb_edit").select_related("agent")
    assert (audit.agent.telegram_id, audit.target_kind, audit.target_id) == (supervisor.id, "kb_entry", "returns")
    assert audit.details["changed"] == ["questions", "answer"]

    monkeypatch.chdir(tmp_path)  # the saved file is a KB file like any other: kefu kb import takes it
    assert await asyncio.to_thread(main, ["kb", "import", str(learned_file(bot)), "--to", "imported.yaml"]) == 0
    assert load_file(tmp_path / "imported.yaml")[0].answer["en"] == RETURNS_EN


async def test_an_edit_of_a_shop_file_entry_is_written_back_to_that_file(
    bot: Bot, console: Console, supervisor: Person, customer: Person, tmp_path: Path
) -> None:
    shop = tmp_path / "shop.yaml"
    shop.write_text(
        "entries:\n- id: gift_wrap\n  category: extras\n  questions:\n    en: [do you offer gift wrapping, can you wrap it as a present]\n"
        "  answer:\n    en: Gift wrapping is free.\n", encoding="utf-8",
    )
    live = bot.app.bot_data.kb
    live.files = [shop]
    assert live.reload_if_changed()
    at_console = await console.signed_in(supervisor)
    page = await at_console.get("/console/kb/entry/gift_wrap")
    assert text("zh-Hans", "console_kb_rewrites_file", file=shop) in page.text  # its comments would go
    form = {"category": "extras", "action": "answer", "q_en": "do you offer gift wrapping\ncan you wrap it as a present", "a_en": "Gift wrapping costs ¥5."}
    assert (await at_console.post("/console/kb/entry/gift_wrap", form)).status == 200
    assert [e.answer for e in load_file(shop)] == [{"en": "Gift wrapping costs ¥5."}]
    assert not learned_file(bot).exists()
    assert (await customer.say("do you offer gift wrapping")).text == "Gift wrapping costs ¥5."


async def test_an_invalid_edit_is_refused_with_the_file_loaders_message_and_nothing_is_saved(
    bot: Bot, console: Console, supervisor: Person, customer: Person
) -> None:
    at_console = await console.signed_in(supervisor)
    shipped = (await customer.say(RETURNS_QUESTION)).text
    for change in ({"a_en": "Returns within {return days} days."}, {"a_zh-Hans": "", "a_en": ""}):
        refused = await at_console.post("/console/kb/entry/returns", returns_form(**change))
        assert refused.status == 422
        assert text("zh-Hans", "console_kb_refused") in refused.text
        assert not learned_file(bot).exists()  # nothing saved

        # the same entry written into the file by hand: the loader says exactly what the page said
        raw = {
            "id": "returns", "category": "returns", "action": "answer", "tags": ["returns"],
            "questions": {"zh-Hans": ["怎么退货", "我要退货", "可以退货吗"], "en": [RETURNS_QUESTION, "I want to return my order", "what is your return policy"]},
            "answer": {lang: a for lang, a in {"zh-Hans": "收货后 {return_days} 天内可以退货。", "en": RETURNS_EN}.items() if change.get(f"a_{lang}", a)}
            | ({"en": change["a_en"]} if change.get("a_en") else {}),
            "buttons": [
                {"text": {"zh-Hans": "退货运费谁出", "en": "Who pays return postage"}, "entry": "return_shipping_cost"},
                {"text": {"zh-Hans": "换货", "en": "Exchanges"}, "entry": "exchange"},
            ],
        }
        learned_file(bot).write_text(yaml.safe_dump({"entries": [raw]}, allow_unicode=True), encoding="utf-8")
        try:
            load_file(learned_file(bot))
        except KBError as error:
            message = str(error)
        learned_file(bot).unlink()
        assert escaped(message) in refused.text, message
    assert "{return days}" in message or "missing answer" in message
    assert (await customer.say(RETURNS_QUESTION)).text == shipped
    assert not await ConsoleAudit.exists()


async def test_a_new_entry_added_in_the_console_answers(bot: Bot, console: Console, supervisor: Person, customer: Person) -> None:
    at_console = await console.signed_in(supervisor)
    form = {
        "id": "gift_cards", "category": "extras", "action": "answer", "tags": "presale",
        "q_en": "do you sell gift cards\ncan I buy a gift card\nare there gift vouchers", "q_zh-Hans": "有礼品卡吗\n可以买礼品卡吗",
        "a_en": "Gift cards from ¥50, sent by email.", "a_zh-Hans": "礼品卡 50 元起，通过邮件发送。", "buttons": "1",
        "b0_en": "Refunds", "b0_zh-Hans": "退款", "b0_target": "refund",
    }
    added = await at_console.post("/console/kb/new", form)
    assert added.status == 200 and added.url.endswith("/console/kb/entry/gift_cards?saved=1")
    assert (await customer.say("do you sell gift cards")).text == "Gift cards from ¥50, sent by email."
    assert [e.id for e in load_file(learned_file(bot))] == ["gift_cards"]
    assert await ConsoleAudit.filter(action="kb_add", target_id="gift_cards").exists()

    again = await at_console.post("/console/kb/new", form)  # an id in use
    assert again.status == 422
    assert escaped(f"{learned_file(bot)}: entry 'gift_cards': field 'id': the same id is used by two entries") in again.text


async def test_entries_are_listed_searched_and_filtered(bot: Bot, console: Console, agent: Person) -> None:
    at_console = await console.signed_in(agent)
    everything = await at_console.get("/console/kb")
    assert everything.status == 200
    assert everything.text.count('class="kb-entry"') == len(bot.app.bot_data.kb.kb)
    found = await at_console.get("/console/kb", {"q": "礼品卡"})
    assert found.text.count('class="kb-entry"') == 0
    refunds = await at_console.get("/console/kb", {"q": "退款", "category": "returns"})
    assert 'data-entry="refund_status"' in refunds.text and 'data-entry="delivery_time"' not in refunds.text
    learned = await at_console.get("/console/kb", {"origin": "learned"})
    assert learned.text.count('class="kb-entry"') == 0


async def test_an_agent_reads_and_tries_but_only_supervisors_change_the_kb(bot: Bot, console: Console, agent: Person) -> None:
    at_console = await console.signed_in(agent)
    assert (await at_console.get("/console/kb/entry/returns")).status == 200
    assert (await at_console.post("/console/kb/entry/returns", returns_form())).status == 403
    assert (await at_console.post("/console/kb/new", {"id": "x", "category": "x", "q_en": "x", "a_en": "x"})).status == 403
    assert not learned_file(bot).exists()
    tried = await at_console.post("/console/kb/try", {"text": "how long does delivery take"})
    assert tried.status == 200 and 'data-entry="delivery_time"' in tried.text


async def test_try_it_shows_the_entry_the_confidence_and_the_band(bot: Bot, console: Console, agent: Person) -> None:
    at_console = await console.signed_in(agent)
    live = bot.app.bot_data.kb
    for message in ("how long does delivery take", "parcel came damaged", "what is the airspeed of an unladen swallow"):
        route = live.route(message)
        tried = await at_console.post("/console/kb/try", {"text": message})
        assert tried.status == 200
        assert f'data-band="{route.band}"' in tried.text
        assert text("zh-Hans", f"console_kb_band_{route.band}") in tried.text
        assert text("zh-Hans", "console_kb_confidence", score=f"{route.score:.2f}") in tried.text
        if route.band == "high":
            assert f'data-entry="{route.entry_id}"' in tried.text
            assert escaped(live.answer(route.entry_id, "en")) in tried.text
        if route.band == "middle":
            assert all(f"/console/kb/entry/{c.entry_id}" in tried.text for c in route.suggestions)
    assert {live.route(m).band for m in ("how long does delivery take", "parcel came damaged", "what is the airspeed of an unladen swallow")} == {"high", "middle", "low"}


async def test_a_missed_question_attached_to_an_entry_is_answered_outright(
    bot: Bot, console: Console, supervisor: Person, make_customer
) -> None:
    question = "can my parcel go to the moon <script>alert(1)</script>"
    asker = make_customer(language_code="en")
    first = await asker.say(question)
    assert first.text != bot.app.bot_data.kb.answer("international_shipping", "en")
    at_console = await console.signed_in(supervisor)
    triage = await at_console.get("/console/kb/triage")
    assert triage.status == 200
    assert escaped(question) in triage.text and "<script>alert(1)" not in triage.text

    attached = await at_console.post("/console/kb/missed", {"key": question_key(question), "entry": "international_shipping"})
    assert attached.status == 200 and text("zh-Hans", "console_kb_done_attached") in attached.text
    assert escaped(question) not in attached.text  # it left the missed list
    answered = await make_customer(language_code="en").say(question)
    assert answered.text == bot.app.bot_data.kb.answer("international_shipping", "en")
    assert await ConsoleAudit.filter(action="kb_attach_missed", target_id="international_shipping").exists()

    gone = await at_console.post("/console/kb/missed", {"key": question_key(question), "entry": "international_shipping"})
    assert gone.status == 422 and text("zh-Hans", "console_kb_problem_gone") in gone.text


async def test_customers_confirmations_are_accepted_or_rejected_by_supervisors(
    bot: Bot, console: Console, supervisor: Person, agent: Person, make_customer
) -> None:
    live = bot.app.bot_data.kb
    for question in ("parcel came damaged", "the box arrived crushed"):
        route = live.route(question)
        assert route.band == "middle", question
        customer = make_customer(language_code="en")
        asked = await customer.say(question)
        await customer.press(asked.buttons[0], asked)
    candidates = {c.question.text: c for c in await QuestionCandidate.all().prefetch_related("question")}
    damaged, crushed = candidates["parcel came damaged"], candidates["the box arrived crushed"]

    as_agent = await console.signed_in(agent)
    listed = await as_agent.get("/console/kb/triage")
    assert "parcel came damaged" in listed.text and f"/console/kb/candidate/{damaged.id}/accept" not in listed.text
    assert (await as_agent.post(f"/console/kb/candidate/{damaged.id}/accept")).status == 403

    at_console = await console.signed_in(supervisor)
    listed = await at_console.get("/console/kb/triage")
    assert f"/console/kb/candidate/{damaged.id}/accept" in listed.text
    accepted = await at_console.post(f"/console/kb/candidate/{damaged.id}/accept")
    assert accepted.status == 200 and text("zh-Hans", "console_kb_done_accepted") in accepted.text
    rejected = await at_console.post(f"/console/kb/candidate/{crushed.id}/reject")
    assert rejected.status == 200 and text("zh-Hans", "console_kb_done_rejected") in rejected.text

    assert live.route("parcel came damaged").entry_id == damaged.entry_id  # answered outright now
    assert live.route("the box arrived crushed").band == "middle"
    assert {c.status for c in await QuestionCandidate.all()} == {"accepted", "rejected"}
    assert await ConsoleAudit.filter(action__in=("kb_accept_candidate", "kb_reject_candidate")).count() == 2
    again = await at_console.post(f"/console/kb/candidate/{damaged.id}/accept")
    assert again.status == 422 and text("zh-Hans", "console_kb_problem_gone") in again.text


async def test_an_edit_begun_before_the_bot_learned_a_question_does_not_lose_it(
    bot: Bot, console: Console, supervisor: Person
) -> None:
    at_console = await console.signed_in(supervisor)
    opened = await at_console.get("/console/kb/entry/returns")
    was = re.search(r'name="was" value="([0-9a-f]+)"', opened.text)[1]
    bot.app.bot_data.kb.add_question("returns", "en", "can I bring it back")  # /kb_learn, meanwhile

    stale = await at_console.post("/console/kb/entry/returns", returns_form(was=was))
    assert stale.status == 409 and text("zh-Hans", "console_kb_stale") in stale.text
    assert escaped(RETURNS_EN) in stale.text  # the supervisor's text is still in the form
    assert "can I bring it back" in bot.app.bot_data.kb.kb.entries["returns"].questions["en"]

    now = re.search(r'name="was" value="([0-9a-f]+)"', stale.text)[1]
    assert (await at_console.post("/console/kb/entry/returns", returns_form(was=now))).status == 200  # knowingly
    assert bot.app.bot_data.kb.answer("returns", "en") == RETURNS_EN


async def test_a_missed_question_becomes_a_new_entry_and_leaves_the_list(
    bot: Bot, console: Console, supervisor: Person, make_customer
) -> None:
    question = "do you sell gift cards"
    await make_customer(language_code="en").say(question)
    at_console = await console.signed_in(supervisor)
    triage = await at_console.get("/console/kb/triage")
    link = re.search(r'href="(/console/kb/new\?missed=[0-9a-f]+)"', triage.text)[1]
    assert question.replace(" ", "+") not in link and question not in link  # no customer's words in a URL
    form_page = await at_console.get(link)
    assert form_page.status == 200 and escaped(question) in form_page.text
    missed = re.search(r'name="missed" value="([0-9a-f]+)"', form_page.text)[1]

    form = {"id": "gift_cards", "category": "extras", "action": "answer", "missed": missed,
            "q_en": f"{question}\ncan I buy a gift card", "a_en": "Gift cards from ¥50."}
    assert (await at_console.post("/console/kb/new", form)).status == 200
    assert question not in (await at_console.get("/console/kb/triage")).text
    assert (await make_customer(language_code="en").say(question)).text == "Gift cards from ¥50."


async def test_hostile_form_values_are_refused_as_a_file_would_be(bot: Bot, console: Console, supervisor: Person) -> None:
    at_console = await console.signed_in(supervisor)
    base = {"category": "extras", "action": "answer", "q_en": "is this safe"}
    refusals = {
        "a NUL in an answer": ({**base, "id": "nul_answer", "a_en": "bad\x00answer"}, "holds the control character U+0000 (NUL)"),
        "an id that is a path": ({**base, "id": "../../etc/passwd", "a_en": "x"}, "is not an id"),
        "an answer over 4,000 characters": ({**base, "id": "long_answer", "a_en": "x" * 4001}, "English answer is longer than 4000 characters"),
        "an unknown action": ({**base, "id": "odd_action", "action": "rm -rf", "a_en": "x"}, "is not one of answer, order_status, complaint, handoff"),
        "a javascript: link": ({**base, "id": "bad_link", "a_en": "x", "buttons": "1", "b0_en": "Go", "b0_target": "javascript://alert(1)"}, "url must start with https://, http:// or tg://"),
    }
    for why, (form, message) in refusals.items():
        refused = await at_console.post("/console/kb/new", form)
        assert refused.status == 422, why
        assert escaped(message) in refused.text, why
    assert not learned_file(bot).exists()
    assert (await at_console.post("/console/kb/new", {**base, "id": "many_buttons", "a_en": "x", "buttons": "99999"})).status == 200
