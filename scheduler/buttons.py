"""The buttons under the outbox's messages: survey stars and SERVQUAL's scale, and the order
buttons under revisits and order notices.

Their callback data is defined here, with the messages that carry them (scheduler/messages.py),
because the scheduler does not import handlers; handlers/callbacks.py parses them with every
other kind. A survey button carries the outbox row's id, checked against the presser on the
server, so a forged or someone else's button does nothing; an order button carries the order
number, and the orders handler shows an order only to a customer who proved it is theirs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Self

from bot.core.callback_data import ROW_ID, Button, any_text, whole
from scheduler.surveys import STEPS

STAR = whole(1, 5)
ZERO_TO_TEN = whole(0, 10)
SCALE = whole(1, 7)
STEP = whole(0, len(STEPS) - 1)


@dataclass(frozen=True)
class Stars(Button):
    """``sv:<outbox id>:<score>``: 1–5 stars under a satisfaction survey."""

    PREFIX = "sv"
    FIELDS = (ROW_ID, STAR)
    outbox_id: int
    score: int


@dataclass(frozen=True)
class NpsScore(Button):
    """``svn:<outbox id>:<0-10>``: "would you recommend us?" under the stars (``[scheduler] nps``)."""

    PREFIX = "svn"
    FIELDS = (ROW_ID, ZERO_TO_TEN)
    outbox_id: int
    score: int


@dataclass(frozen=True)
class SkipComment(Button):
    """``svskip:<outbox id>``: no comment after the stars."""

    PREFIX = "svskip"
    FIELDS = (ROW_ID,)
    outbox_id: int


@dataclass(frozen=True)
class Servqual(Button):
    """``sq:<outbox id>:start``, then ``sq:<outbox id>:<step>:<score>``: the SERVQUAL survey's
    start button, then its 1–7 scale for each step (:data:`scheduler.surveys.STEPS`)."""

    PREFIX = "sq"
    outbox_id: int
    answer: tuple[int, int] | None = None
    """(step, score); None: the start button."""

    def pack(self) -> str:
        said = "start" if self.answer is None else f"{self.answer[0]}:{self.answer[1]}"
        return f"{self.PREFIX}:{self.outbox_id}:{said}"

    @classmethod
    def unpack(cls, rest: str | None) -> Self | None:
        outbox, *said = (rest or "").split(":")
        outbox_id = ROW_ID(outbox)
        if outbox_id is None:
            return None
        if said == ["start"]:
            return cls(outbox_id)
        if len(said) == 2 and (step := STEP(said[0])) is not None and (score := SCALE(said[1])) is not None:
            return cls(outbox_id, (step, score))
        return None


@dataclass(frozen=True)
class OrderDetails(Button):
    """``ord:<order number>``: the order's card (also the pick among a customer's orders)."""

    PREFIX = "ord"
    FIELDS = (any_text,)
    order_no: str


@dataclass(frozen=True)
class OrderProblem(Button):
    """``ordp:<order number>``: a ticket about the order; without a number, a hand-off."""

    PREFIX = "ordp"
    FIELDS = (any_text,)
    order_no: str
