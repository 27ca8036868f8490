"""Every button kefu puts under a message, as typed callback data (bot/core/callback_data.py).

One frozen dataclass per kind, one prefix each; :data:`KINDS` holds them all, those under the
outbox's messages (scheduler/buttons.py) too. A press is parsed before any handler sees it:
:func:`on_press` makes the handler of some kinds, which gets the button parsed and valid — its
ids in range, its choices among the ones kefu offers. A press that parses to no kind (forged, cut,
or of a kind kefu no longer has) reaches :func:`handlers.common.unknown_button`, which answers it.
Whose ticket, survey or question a valid id names is still the handler's to check.

The wire formats are those of every kefu before, so a button already sent keeps its meaning:

- ``lang:<language>`` PickLanguage (handlers/language.py)
- ``fb+:<question>:``, ``fb-:<question>:``, ``human:<question>:`` FeedbackUp, FeedbackDown,
  AskPerson; ``kbp:<question>:<entry>``, ``kbf:<question>:<entry>`` PickEntry, FollowUp
  (handlers/answers.py)
- ``ord:<order number>``, ``ordp:<order number>``, ``ordh:<order number or nothing>``
  OrderDetails, OrderProblem, OrderPerson (handlers/orders.py)
- ``tc:cat:<ticket>:<category>``, ``tc:solved:<ticket>`` TicketCategory, TicketSolved
  (handlers/tickets.py)
- ``pv:forget``, ``pv:keep`` ForgetMe, KeepMyData (handlers/privacy.py)
- ``sv:<outbox>:<1-5>``, ``svskip:<outbox>``, ``sq:<outbox>:start``, ``sq:<outbox>:<step>:<1-7>``,
  ``svn:<outbox>:<0-10>`` Stars, SkipComment, Servqual, NpsScore (handlers/surveys.py)
- ``tk:claim:<ticket>``, ``tk:close:<ticket>``, ``tk:prio:<ticket>[:<level>]`` ClaimTicket,
  CloseTicket, SetPriority (handlers/desk.py)
- ``cp:seg:<segment>``, ``cp:tpl:<template>``, ``cp:send``, ``cp:cancel``,
  ``cp:stop:<campaign>[:yes]``, ``cp:keep`` CampaignSegment, CampaignTemplate, SendCampaign,
  CancelCampaign, StopCampaign, KeepCampaign (handlers/campaigns.py)
- ``kbl+:<candidate>``, ``kbl-:<candidate>`` AcceptCandidate, RejectCandidate (handlers/kb_teach.py)
- ``kbq:<question>:<entry>``, ``kbqn:<question>:<ticket>`` AttachQuestion, AttachAsNewEntry
  (handlers/kb_attach.py)
- ``fc:ok`` NotARobot; ``sp:allow:<customer>``, ``sp:ban:<customer>`` AllowHeld, BanHeld
  (handlers/spam.py)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Self, TypeVar

from telegram import Update
from telegram.ext import CallbackQueryHandler

from bot.context import KefuContext
from bot.core.callback_data import ROW_ID, Button, Kinds, any_text, one_of, some_text
from bot.core.i18n import LANGUAGE_NAMES
from bot.core.language import Language
from scheduler.buttons import (
    NpsScore,
    OrderDetails,
    OrderProblem,
    Servqual,
    SkipComment,
    Stars,
)
from scheduler.campaigns import TEMPLATES, valid_segment
from ticketing.triage import CATEGORIES, PRIORITIES, Category, Priority

# -- the customer's buttons --------------------------------------------------------------------


@dataclass(frozen=True)
class PickLanguage(Button):
    """/lang's choice of the language kefu answers in."""

    PREFIX = "lang"
    FIELDS = (one_of(LANGUAGE_NAMES),)
    language: Language


@dataclass(frozen=True)
class _AboutQuestion(Button):
    """A button under an answer that names the question only: ``<prefix>:<question id>:`` (the
    empty last field is where the entry buttons carry their entry)."""

    question_id: int

    def pack(self) -> str:
        return f"{self.PREFIX}:{self.question_id}:"

    @classmethod
    def unpack(cls, rest: str | None) -> Self | None:
        question, colon, entry = (rest or "").partition(":")
        question_id = ROW_ID(question)
        return cls(question_id) if question_id is not None and colon and not entry else None


@dataclass(frozen=True)
class FeedbackUp(_AboutQuestion):
    """👍 under an answer."""

    PREFIX = "fb+"


@dataclass(frozen=True)
class FeedbackDown(_AboutQuestion):
    """👎 under an answer (then a person is offered)."""

    PREFIX = "fb-"


@dataclass(frozen=True)
class AskPerson(_AboutQuestion):
    """"Talk to a person" under an answer, an "I don't know" or a 👎: a ticket with the question."""

    PREFIX = "human"


@dataclass(frozen=True)
class PickEntry(Button):
    """A "did you mean" choice: the question is answered with that entry."""

    PREFIX = "kbp"
    FIELDS = (ROW_ID, some_text)
    question_id: int
    entry_id: str


@dataclass(frozen=True)
class FollowUp(Button):
    """A knowledge-base entry's own button leading to another entry."""

    PREFIX = "kbf"
    FIELDS = (ROW_ID, some_text)
    question_id: int
    entry_id: str


@dataclass(frozen=True)
class OrderPerson(Button):
    """"Talk to a person" under an order card (with its number) or a failed look-up (without)."""

    PREFIX = "ordh"
    FIELDS = (any_text,)
    order_no: str = ""


@dataclass(frozen=True)
class TicketCategory(Button):
    """The customer confirms or corrects what their complaint is about."""

    PREFIX = "tc:cat"
    FIELDS = (ROW_ID, one_of(CATEGORIES))
    ticket_id: int
    category: Category


@dataclass(frozen=True)
class TicketSolved(Button):
    """"Problem solved" under an agent's reply."""

    PREFIX = "tc:solved"
    FIELDS = (ROW_ID,)
    ticket_id: int


@dataclass(frozen=True)
class ForgetMe(Button):
    """/forgetme confirmed."""

    PREFIX = "pv:forget"


@dataclass(frozen=True)
class KeepMyData(Button):
    """/forgetme called off."""

    PREFIX = "pv:keep"


# -- the agent group's buttons -----------------------------------------------------------------


@dataclass(frozen=True)
class ClaimTicket(Button):
    """Claim, under the customer card."""

    PREFIX = "tk:claim"
    FIELDS = (ROW_ID,)
    ticket_id: int


@dataclass(frozen=True)
class CloseTicket(Button):
    """Close, under the customer card."""

    PREFIX = "tk:close"
    FIELDS = (ROW_ID,)
    ticket_id: int


PRIORITY: Callable[[str], Priority | None] = one_of(PRIORITIES)  # type: ignore[assignment]  # a PRIORITIES value is a Priority


@dataclass(frozen=True)
class SetPriority(Button):
    """Priority under the card (``tk:prio:<ticket>``: shows the levels), then a level
    (``tk:prio:<ticket>:<level>``)."""

    PREFIX = "tk:prio"
    ticket_id: int
    level: Priority | None = None

    def pack(self) -> str:
        return f"{self.PREFIX}:{self.ticket_id}" + (f":{self.level}" if self.level else "")

    @classmethod
    def unpack(cls, rest: str | None) -> Self | None:
        ticket, colon, level = (rest or "").partition(":")
        ticket_id = ROW_ID(ticket)
        if ticket_id is None or (colon and PRIORITY(level) is None):
            return None
        return cls(ticket_id, PRIORITY(level) if colon else None)


@dataclass(frozen=True)
class CampaignSegment(Button):
    """/campaign's first step: who gets it."""

    PREFIX = "cp:seg"
    FIELDS = (lambda given: given if valid_segment(given) else None,)  # a listed segment or inactive_<days>
    segment: str


@dataclass(frozen=True)
class CampaignTemplate(Button):
    """/campaign's second step: a catalog template instead of a text of one's own."""

    PREFIX = "cp:tpl"
    FIELDS = (one_of(TEMPLATES),)
    template: str


@dataclass(frozen=True)
class SendCampaign(Button):
    """Send, under the preview."""

    PREFIX = "cp:send"


@dataclass(frozen=True)
class CancelCampaign(Button):
    """Cancel, under the preview: the draft is dropped."""

    PREFIX = "cp:cancel"


@dataclass(frozen=True)
class StopCampaign(Button):
    """Stop, under a running campaign's progress (``cp:stop:<campaign>``: asks), then the
    confirmation (``cp:stop:<campaign>:yes``)."""

    PREFIX = "cp:stop"
    campaign_id: int
    sure: bool = False

    def pack(self) -> str:
        return f"{self.PREFIX}:{self.campaign_id}" + (":yes" if self.sure else "")

    @classmethod
    def unpack(cls, rest: str | None) -> Self | None:
        campaign, colon, yes = (rest or "").partition(":")
        campaign_id = ROW_ID(campaign)
        if campaign_id is None or (colon and yes != "yes"):
            return None
        return cls(campaign_id, bool(colon))


@dataclass(frozen=True)
class KeepCampaign(Button):
    """Stopping called off."""

    PREFIX = "cp:keep"


@dataclass(frozen=True)
class AcceptCandidate(Button):
    """/kb_learn: teach the entry this customer question (and the same from other customers)."""

    PREFIX = "kbl+"
    FIELDS = (ROW_ID,)
    candidate_id: int


@dataclass(frozen=True)
class RejectCandidate(Button):
    """/kb_learn: this customer question is not an example of the entry."""

    PREFIX = "kbl-"
    FIELDS = (ROW_ID,)
    candidate_id: int


@dataclass(frozen=True)
class AttachQuestion(Button):
    """Under a resolved ticket's offer: the customer's unanswered question becomes an example of this entry."""

    PREFIX = "kbq"
    FIELDS = (ROW_ID, some_text)
    question_id: int
    entry_id: str


@dataclass(frozen=True)
class AttachAsNewEntry(Button):
    """Under a resolved ticket's offer: a new entry, that question answered as the agent answered it."""

    PREFIX = "kbqn"
    FIELDS = (ROW_ID, ROW_ID)
    question_id: int
    ticket_id: int


@dataclass(frozen=True)
class NotARobot(Button):
    """"I'm not a robot" under the first-contact prompt (``[spam] first_contact = "button"``)."""

    PREFIX = "fc:ok"


@dataclass(frozen=True)
class AllowHeld(Button):
    """Under a held first message in the agent group: let the customer through (supervisors)."""

    PREFIX = "sp:allow"
    FIELDS = (ROW_ID,)
    customer_id: int


@dataclass(frozen=True)
class BanHeld(Button):
    """Under a held first message in the agent group: ban the customer (supervisors)."""

    PREFIX = "sp:ban"
    FIELDS = (ROW_ID,)
    customer_id: int


KINDS = Kinds(
    PickLanguage, FeedbackUp, FeedbackDown, AskPerson, PickEntry, FollowUp,
    OrderDetails, OrderProblem, OrderPerson, TicketCategory, TicketSolved, ForgetMe, KeepMyData,
    Stars, SkipComment, Servqual, NpsScore,
    ClaimTicket, CloseTicket, SetPriority,
    CampaignSegment, CampaignTemplate, SendCampaign, CancelCampaign, StopCampaign, KeepCampaign,
    AcceptCandidate, RejectCandidate, AttachQuestion, AttachAsNewEntry,
    NotARobot, AllowHeld, BanHeld,
)
parse = KINDS.parse

Pressed = TypeVar("Pressed", bound=Button)


def on_press(
    callback: Callable[[Update, KefuContext, Pressed], Awaitable[None]], *kinds: type[Pressed]
) -> CallbackQueryHandler[KefuContext, None]:
    """The handler of presses of ``kinds``: ``callback(update, context, button)`` gets the button
    parsed. A press that is not one of them is left to the next handler."""

    def takes(data: object) -> bool:
        return isinstance(parse(data), kinds)

    async def pressed(update: Update, context: KefuContext) -> None:
        button = parse(update.callback_query.data)  # type: ignore[union-attr]  # takes() saw a callback query
        await callback(update, context, button)  # type: ignore[arg-type]  # and one of kinds

    return CallbackQueryHandler(pressed, pattern=takes)
