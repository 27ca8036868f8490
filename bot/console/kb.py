"""The console's Knowledge base page: the entries the bot answers from, edited and added; the
questions it missed and those customers confirmed, triaged with one click; a "try it" box.

The work is the knowledge base's: :mod:`knowledge_base.editing` saves an edit into the file its
entry comes from, validated by the file loader (so a refusal is the loader's own message) and
served at once; :func:`knowledge_base.questions.teach_missed` is what ``/kb_add N ENTRY`` does;
:func:`knowledge_base.learning.decide` is /kb_learn's Accept and Reject; the try-it box routes
with the live router and says what ``kefu kb match`` says (:func:`route_to_json`).

Anyone in the agent group may read the page and try messages. Changing what the bot knows is
for supervisors, as in the chat (/kb_add and /kb_learn are theirs); every change is audited.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import aiohttp_jinja2
from aiohttp import web
from multidict import MultiDictProxy

from bot.console import audit
from bot.console.auth import CONSOLE_BOT
from bot.console.staff import STAFF, require_supervisor
from bot.core.language import LANGUAGES, detect_language
from knowledge_base.editing import (
    ORIGINS,
    StaleEdit,
    categories,
    fingerprint,
    listing,
    placed,
    save_entry,
    warnings,
)
from knowledge_base.entries import ACTIONS, Entry, KBError
from knowledge_base.learning import Undecidable, decide, pending
from knowledge_base.live import LiveKnowledgeBase
from knowledge_base.loader import entry_to_dict
from knowledge_base.match_cli import route_to_json
from knowledge_base.questions import (
    MISSED_POOL,
    Missed,
    mark_learned,
    missed_group,
    missed_questions,
    teach_missed,
)

routes = web.RouteTableDef()

SHOWN = 200
"""Entries listed at once; a search narrows the rest."""
TRIAGE = 30
"""Missed questions and candidates listed at once (most frequent first, as in the chat)."""
SUGGESTED = 3
"""Entries offered as one-click targets for a missed question: the router's best."""
TRY_MAX = 4096
"""Characters of a try-it message (a Telegram message's length)."""


def _live(request: web.Request) -> LiveKnowledgeBase:
    return request.app[CONSOLE_BOT].bot_data.kb


@routes.get("/console/kb")
async def entries_page(request: web.Request) -> web.Response:
    live = _live(request)
    search, origin, category = (request.query.get(k, "").strip() for k in ("q", "origin", "category"))
    found = listing(live, search[:200], origin if origin in ORIGINS else None, category or None)
    language = request[STAFF].language
    rows = [(p, _first(p.entry.questions, language), _first_answer(p.entry, language)) for p in found[:SHOWN]]
    return aiohttp_jinja2.render_template("kb.html", request, {
        "rows": rows, "total": len(live.kb), "found": len(found), "shown": SHOWN,
        "search": search, "origin": origin, "category": category,
        "origins": ORIGINS, "categories": categories(live),
    })


def _first(questions: Mapping[str, tuple[str, ...]], language: str) -> str:
    for lang in (language, *LANGUAGES):
        if questions.get(lang):
            return questions[lang][0]
    return ""


def _first_answer(entry: Entry, language: str) -> str:
    for lang in (language, *LANGUAGES):
        if lang in entry.answer:
            return entry.answer[lang]
    return ""


# -- one entry ---------------------------------------------------------------------------------


@routes.get("/console/kb/entry/{entry_id}")
async def entry_page(request: web.Request) -> web.Response:
    live = _live(request)
    entry = live.kb.entry(request.match_info["entry_id"])
    if entry is None:
        raise web.HTTPNotFound(text="no such entry")
    return _entry_form(request, live, entry_to_dict(entry), new=False, saved=request.query.get("saved") == "1")


@routes.get("/console/kb/new")
async def new_page(request: web.Request) -> web.Response:
    """An empty entry; ``?missed=`` (a missed question's :func:`_tag`): with that question."""
    require_supervisor(request)
    raw: dict[str, Any] = {"id": "", "category": "", "action": "answer"}
    group = await _missed_by_tag(request.query.get("missed", ""))
    if group is not None:
        raw["questions"] = {detect_language(group.text) or "en": [group.text]}
    return _entry_form(request, _live(request), raw, new=True, missed=_tag(group.normalized) if group else "")


def _tag(key: str) -> str:
    """A missed question's group named in a link without the customer's words (which a proxy's
    access log would keep)."""
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


async def _missed_by_tag(tag: str) -> Missed | None:
    if not tag:
        return None
    return next((m for m in await missed_questions(limit=MISSED_POOL) if _tag(m.normalized) == tag), None)


@routes.post("/console/kb/entry/{entry_id}")
async def save(request: web.Request) -> web.Response:
    staff = require_supervisor(request)
    live = _live(request)
    entry_id = request.match_info["entry_id"]
    current = live.kb.entry(entry_id)
    if current is None:
        raise web.HTTPNotFound(text="no such entry")
    form = await request.post()
    raw = entry_from_form(form, entry_id, rich=placed(live, current).rich)
    try:
        saved = save_entry(live, raw, was=str(form.get("was", "")) or None)
    except KBError as error:
        return _entry_form(request, live, raw, new=False, error=error)
    except StaleEdit as stale:  # their text stays in the form; saving again overwrites knowingly
        return _entry_form(request, live, raw, new=False, was=fingerprint(stale.current.entry))
    await audit.record(
        staff, "kb_edit", "kb_entry", entry_id, file=saved.file, changed=_changed(entry_to_dict(current), raw)
    )
    raise web.HTTPSeeOther(f"/console/kb/entry/{entry_id}?saved=1")


@routes.post("/console/kb/new")
async def add(request: web.Request) -> web.Response:
    staff = require_supervisor(request)
    live = _live(request)
    form = await request.post()
    raw = entry_from_form(form, str(form.get("id", "")).strip(), rich=True)
    missed = str(form.get("missed", ""))
    try:
        saved = save_entry(live, raw, new=True)
    except KBError as error:
        return _entry_form(request, live, raw, new=True, error=error, missed=missed)
    group = await _missed_by_tag(missed)
    if group is not None:  # the missed question it was made from leaves the list, as /kb_add's do
        await mark_learned(group.text, *group.keys)
    await audit.record(staff, "kb_add", "kb_entry", saved.entry.id, file=saved.file, from_missed=group is not None)
    raise web.HTTPSeeOther(f"/console/kb/entry/{saved.entry.id}?saved=1")


def _entry_form(
    request: web.Request, live: LiveKnowledgeBase, raw: Mapping[str, Any], *, new: bool,
    error: KBError | None = None, saved: bool = False, was: str | None = None, missed: str = "",
) -> web.Response:
    """The form, filled with ``raw``; ``was``: the entry changed since the form was opened and
    is now that fingerprint (the form says so, and a save overwrites it)."""
    entry = None if new else live.kb.entry(str(raw.get("id")))
    place = placed(live, entry) if entry is not None else None
    status = 422 if error else 409 if was else 200
    buttons = list(raw.get("buttons") or [])
    return aiohttp_jinja2.render_template("kb_entry.html", request, {
        "raw": raw, "new": new, "place": place, "rich": place.rich if place else True,
        "languages": LANGUAGES, "actions": ACTIONS,
        "questions": {lang: "\n".join(_texts((raw.get("questions") or {}).get(lang))) for lang in LANGUAGES},
        "answers": {lang: str((raw.get("answer") or {}).get(lang) or "") for lang in LANGUAGES},
        "tags": ", ".join(raw.get("tags") or []),
        "buttons": [*buttons, {"text": {}}],  # one blank row to add a button
        "problems": [str(p) for p in error.problems] if error else [],
        "warnings": warnings(live, entry) if entry is not None and not error else [],
        "saved": saved, "ids": sorted(live.kb.entries), "stale": was is not None, "missed": missed,
        "was": was or (fingerprint(entry) if entry is not None else ""),
    }, status=status)


def _texts(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else [str(v) for v in value or []]


def entry_from_form(form: MultiDictProxy[Any], entry_id: str, *, rich: bool) -> dict[str, Any]:
    """The entry in its file form from the edit form's fields: one question a line, an answer per
    language (a language left empty is one the entry does not answer in), tags separated by
    commas, buttons a row each (labels per language and a link or an entry id). Nothing is
    checked here: the file loader checks it all."""

    def field(name: str) -> str:
        value = form.get(name, "")
        return value.replace("\r\n", "\n").replace("\r", "\n") if isinstance(value, str) else ""

    raw: dict[str, Any] = {"id": entry_id, "category": field("category").strip(), "action": field("action").strip() or "answer"}
    if rich and (tags := [t.strip() for t in field("tags").replace("，", ",").split(",") if t.strip()]):
        raw["tags"] = tags
    raw["questions"] = {
        lang: lines for lang in LANGUAGES if (lines := [q.strip() for q in field(f"q_{lang}").split("\n") if q.strip()])
    }
    raw["answer"] = {lang: text for lang in LANGUAGES if (text := field(f"a_{lang}").strip())}
    buttons = []
    for row in range(min(_number(field("buttons")), 20)) if rich else ():
        labels = {lang: label for lang in LANGUAGES if (label := field(f"b{row}_{lang}").strip())}
        target = field(f"b{row}_target").strip()
        if labels or target:
            buttons.append({"text": labels, ("url" if "://" in target else "entry"): target})
    if buttons:
        raw["buttons"] = buttons
    return raw


def _number(value: str) -> int:
    return int(value) if value.isdigit() and len(value) < 4 else 0


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The fields an edit changed (the audit names them; the texts are in the file)."""
    return [key for key in ("category", "action", "tags", "questions", "answer", "buttons") if before.get(key) != after.get(key)]


# -- try it ------------------------------------------------------------------------------------


@routes.post("/console/kb/try")
async def try_it(request: web.Request) -> web.Response:
    """Where a message would go: the entry, the confidence and the band, as ``kefu kb match``
    prints them, routed by the live router (the shop's bands), with the answer it would get."""
    live = _live(request)
    form = await request.post()
    message = str(form.get("text", ""))[:TRY_MAX]
    context: dict[str, Any] = {"message": message, "result": None}
    if message.strip():
        route = live.route(message)
        result = route_to_json(message, route)
        context["result"] = result
        context["answer"] = live.answer(route.entry_id, route.lang or "en") if route.entry_id and route.entry_id in live.kb else ""
    return aiohttp_jinja2.render_template("kb_try.html", request, context)


# -- triage: missed questions and customers' confirmations ---------------------------------------


@routes.get("/console/kb/triage")
async def triage_page(request: web.Request) -> web.Response:
    done = request.query.get("done", "")
    return await _triage(request, done if done in ("attached", "accepted", "rejected") else "")


async def _triage(request: web.Request, done: str = "", problem: str = "", error: KBError | None = None) -> web.Response:
    live = _live(request)
    offered = []
    for item in await missed_questions(limit=TRIAGE):
        route = live.route(item.text)
        ids = [c.entry_id for c in (route.suggestions or route.candidates)]
        offered.append((item, [i for i in dict.fromkeys(ids) if i in live.kb][:SUGGESTED], _tag(item.normalized)))
    return aiohttp_jinja2.render_template("kb_triage.html", request, {
        "missed": offered, "candidates": await pending(limit=TRIAGE), "ids": sorted(live.kb.entries),
        "done": done, "problem": problem, "problems": [str(p) for p in error.problems] if error else [],
    }, status=422 if problem else 200)


def _done(outcome: str) -> web.HTTPSeeOther:
    """After a change, the list again (a reload does not repeat the change)."""
    return web.HTTPSeeOther(f"/console/kb/triage?done={outcome}")


@routes.post("/console/kb/missed")
async def attach_missed(request: web.Request) -> web.Response:
    """A missed question (its /kb_missed group, by key) becomes an example of an entry."""
    staff = require_supervisor(request)
    live = _live(request)
    form = await request.post()
    entry_id = str(form.get("entry", "")).strip()
    group = await missed_group(str(form.get("key", "")))
    if group is None:
        return await _triage(request, problem="gone")
    if entry_id not in live.kb:
        return await _triage(request, problem="no_entry")
    try:
        await teach_missed(live, entry_id, group.text, group.keys)
    except KBError as error:
        return await _triage(request, problem="refused", error=error)
    await audit.record(staff, "kb_attach_missed", "kb_entry", entry_id, wordings=len(group.keys), asked=group.times)
    raise _done("attached")


@routes.post("/console/kb/candidate/{candidate_id:\\d+}/{verdict:accept|reject}")
async def decide_candidate(request: web.Request) -> web.Response:
    """/kb_learn's Accept or Reject, for supervisors as there."""
    staff = require_supervisor(request)
    accept = request.match_info["verdict"] == "accept"
    candidate_id = int(request.match_info["candidate_id"])
    try:
        decided = await decide(_live(request), candidate_id, accept=accept)
    except Undecidable:
        return await _triage(request, problem="gone")
    except KBError as error:
        return await _triage(request, problem="refused", error=error)
    action = "kb_accept_candidate" if accept else "kb_reject_candidate"
    await audit.record(staff, action, "kb_candidate", candidate_id, entry=decided.entry_id)
    raise _done("accepted" if accept else "rejected")
