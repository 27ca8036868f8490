"""Searching what customers and agents wrote, without keeping it readable in the database.

``TicketMessage.text`` is encrypted (bot/core/crypto.py): the database cannot look inside it.
Beside it, ``TicketMessage.search_terms`` holds the message's *terms*, each as a short keyed hash:

- a term is a Latin word or number, lowercased after NFKC (``Refund`` and ``ｒｅｆｕｎｄ`` are one
  term), or, for Chinese (and Japanese and Korean), every character and every pair of
  neighbouring characters, traditional folded to simplified first (退貨 is 退货). Chinese has no
  spaces between words: the pairs make a two-character word such as 快递 or 退款 one term, and
  the single characters let a one-character query find something;
- each term is stored as the first 32 bits of its blind index (HMAC-SHA256 under a key derived
  from the privacy key), written with the letters a–p so that both databases' full-text
  tokenizers take it as one plain word. Without the key the column tells nothing of the words;
  32 bits are few enough that different terms share a hash now and then, so every hit is
  checked against the decrypted message (:func:`matches`) and a collision never shows a wrong
  ticket.

The column is written with the row, whoever writes it (a :class:`SearchTermsField` is a blind
index of ``text``): a new message, an edit, a held message released. ``kefu db upgrade`` (and
every start) gives terms to the messages stored before there were any, and ``kefu privacy
rotate`` writes them again under the new key (bot/privacy.py treats them as any blind index).
Forgetting a customer empties both columns.

The database finds candidates through a full-text index (SQLite FTS5, PostgreSQL GIN over
``to_tsvector('simple', …)``: bot/core/sql.py spells both), all of a query's terms in one
message; for a word most tickets have, by walking the tickets newest first instead
(:func:`searched_tickets`). What a term frequency reveals (the same word gives the same hash in every message) is
what any blind index reveals; the texts themselves stay sealed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from typing import Any

from bot.core import crypto, sql
from bot.core.crypto import BlindIndexField
from bot.core.language import to_simplified

KIND = "search"
"""The blind-index domain of search terms (a phone and a word never share an index)."""
HASH_LETTERS = 8
"""Hex digits kept of each term's HMAC: 32 bits."""
COMMON = 5000
"""Messages the index finds from which a query counts as common (:func:`searched_tickets`)."""
MAX_QUERY_TERMS = 16
"""A query's terms beyond these are left out (a pasted paragraph is not a search)."""
SEARCHED = ("in", "out", "note")
"""The messages a search looks in: the customer's, the agents' replies and their notes (not
those a quality inspection held back nor a shadowbanned customer's, which no agent was shown)."""

_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_IS_CJK = re.compile(rf"[{_CJK}]")
_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def _runs(text: str) -> list[str]:
    """The text's runs of Chinese characters and its Latin words, in one written form."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        if _IS_CJK.search(text):
            text = to_simplified(text)
    return _TOKEN.findall(text.casefold())


def terms(text: str) -> set[str]:
    """Every term a message is found by: its words, and its Chinese characters and pairs."""
    found: set[str] = set()
    for run in _runs(text):
        if _IS_CJK.match(run):
            found.update(run)
            found.update(run[i:i + 2] for i in range(len(run) - 1))
        else:
            found.add(run)
    return found


def query_terms(query: str) -> list[str]:
    """The terms a message must all have to match ``query``: its words, and for Chinese the pairs
    (a single character alone when that is all there is). Order kept, duplicates dropped."""
    wanted: list[str] = []
    for run in _runs(query):
        if _IS_CJK.match(run) and len(run) > 1:
            wanted.extend(run[i:i + 2] for i in range(len(run) - 1))
        else:
            wanted.append(run)
    return list(dict.fromkeys(wanted))[:MAX_QUERY_TERMS]


def _sealed(index: str) -> str:
    return index[:HASH_LETTERS].translate(_LETTERS)


def sealed_terms(text: str | None) -> str | None:
    """What the column holds for ``text``: its terms' short hashes, space separated, sorted (so the
    order of words tells nothing); None for no text, "" for a text without any word (emoji)."""
    if not text:
        return None
    keyring = crypto.keyring()
    return " ".join(sorted({_sealed(keyring.blind_index(KIND, term)) for term in terms(text)}))


def sealed_query(query: str) -> list[list[str]]:
    """Per query term, the hashes a matching message may hold it as: one per key, since during a
    rotation some rows still carry the old key's (see :func:`bot.core.crypto.Keyring.blind_indexes`)."""
    keyring = crypto.keyring()
    return [sorted({_sealed(index) for index in keyring.blind_indexes(KIND, term)}) for term in query_terms(query)]


def matches(text: str, query: str) -> bool:
    """Whether the decrypted ``text`` really holds every term of ``query`` (not a hash collision)."""
    wanted = query_terms(query)
    return bool(wanted) and set(wanted) <= terms(text)


class SearchTermsField(BlindIndexField):
    """``TicketMessage.search_terms``: the short hashes of the terms of the encrypted field ``of``,
    computed whenever the row is written, as any blind index (a TEXT column: a long message has
    thousands of terms). ``QuerySet.update(text=…)`` cannot know the row: set it there too."""

    SQL_TYPE = "TEXT"  # type: ignore[assignment]

    def __init__(self, of: str, **kwargs: Any) -> None:
        super().__init__(of=of, kind=KIND, max_length=64, **kwargs)
        self.validators = []

    @property
    def constraints(self) -> dict:
        return {}

    def to_db_value(self, value: Any, instance: Any) -> Any:
        if instance is not None and not isinstance(instance, type):  # a row being written
            value = sealed_terms(getattr(instance, self.of))
            setattr(instance, self.model_field_name, value)
        return value


async def searched_tickets(query: str) -> tuple[str, dict[str, Any]] | None:
    """SQL for a WHERE clause on ``ticket t``: the ticket has a searched message holding every
    term of ``query`` (candidates for :func:`verified`), and its parameters; None when the query
    has no term.

    Two ways, chosen by how many messages the full-text index finds (counted up to
    :data:`COMMON`): a rarer query takes the index's messages and their tickets (cost: the hits);
    a common one walks the tickets newest first and looks in each one's messages (cost: the
    tickets passed over to fill a page, a few when most of them match). Either alone is slow
    where the other is fast: the index's 100,000 hits for a word every ticket has, or a walk
    through every ticket for an order number only one has."""
    sealed = sealed_query(query)
    if not sealed:
        return None
    params: dict[str, Any] = {"terms": sql.terms_query(sealed), "directions": sql.any_of(SEARCHED)}
    [hits] = await sql.rows(sql.term_hits("ticket_message", "search_terms", "terms", COMMON), terms=params["terms"])
    if hits["n"] >= COMMON:
        return sql.each_row_has(
            "SELECT 1 FROM ticket_message m WHERE m.ticket_id = t.id AND m.direction IN ANY_OF(:directions)"
            f" AND {sql.holds_terms('m.search_terms', sealed)}"
        ), {"directions": params["directions"]}
    where = sql.has_terms("m", "ticket_message", "search_terms", "terms")
    hit = f"SELECT m.ticket_id FROM ticket_message m WHERE {where} AND m.direction IN ANY_OF(:directions)"
    return f"t.id {sql.among_results(hit)}", params


async def verified(ticket_ids: Sequence[int], query: str) -> dict[int, int]:
    """Of the candidate tickets, those with a searched message that really holds ``query``:
    ticket id → the first such message's id. The messages whose stored hashes match are read
    from the candidates' own (no index needed for a page of tickets), and only those decrypted."""
    sealed = [set(group) for group in sealed_query(query)]
    if not sealed or not ticket_ids:
        return {}
    found = await sql.rows(
        "SELECT m.id, m.ticket_id, m.text, m.search_terms FROM ticket_message m WHERE m.ticket_id IN ANY_OF(:ids)"
        " AND m.direction IN ANY_OF(:directions) AND m.search_terms IS NOT NULL ORDER BY m.id",
        ids=sql.any_of(list(ticket_ids)), directions=sql.any_of(SEARCHED),
    )
    keyring = crypto.keyring()
    hits: dict[int, int] = {}
    for row in found:
        if row["ticket_id"] in hits or not row["text"]:
            continue
        held = set(row["search_terms"].split())
        if all(group & held for group in sealed) and matches(keyring.reveal(row["text"]), query):
            hits[row["ticket_id"]] = row["id"]
    return hits
