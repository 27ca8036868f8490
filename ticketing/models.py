"""What kefu stores about the people it serves.

Model and field docstrings become SQL comments, and tortoise splits migration SQL at semicolons:
keep semicolons out of them.

Times are stored in UTC (tortoise ``use_tz``); they are converted to the shop's or the
customer's time zone only when shown.
"""

from __future__ import annotations

from enum import StrEnum

from tortoise import fields
from tortoise.models import Model

from bot.core.crypto import BlindIndexed, BlindIndexField, EncryptedTextField
from ticketing.search import SearchTermsField


class Customer(BlindIndexed, Model):
    """A person who writes to the bot in a private chat, one row per Telegram user."""

    id = fields.IntField(primary_key=True)
    telegram_id = fields.BigIntField(unique=True)
    first_name = EncryptedTextField(default="", description="encrypted (bot/core/crypto.py), as are the other names")
    last_name = EncryptedTextField(null=True)
    username = EncryptedTextField(null=True)
    telegram_language = fields.CharField(max_length=16, null=True, description="Telegram's language_code")
    language = fields.CharField(max_length=8, default="en", description="zh-Hans, zh-Hant or en")
    language_chosen = fields.BooleanField(
        default=False, description="set with /lang: replies stay in this language"
    )
    blocked = fields.BooleanField(default=False, description="the customer blocked the bot (403)")
    opted_out = fields.BooleanField(default=False, description="no care or marketing messages")
    phone = EncryptedTextField(
        null=True, description="E.164, from the customer's own shared Telegram contact, encrypted"
    )
    phone_hash = BlindIndexField(
        of="phone", kind="phone", null=True, db_index=True, description="blind index of phone (HMAC-SHA256), what look-ups compare"
    )
    tags = fields.JSONField(default=list, db_default=[], description="free labels agents and imports give")
    segment = fields.CharField(max_length=16, default="new", db_default="new", description="new, returning, vip, inactive")
    birthday = fields.DateField(null=True)
    timezone = fields.CharField(max_length=48, null=True, description="IANA zone, for quiet hours")
    first_seen = fields.DatetimeField(auto_now_add=True)
    last_seen = fields.DatetimeField(auto_now_add=True)
    forgotten_at = fields.DatetimeField(
        null=True, description="when the customer had their personal data deleted (/forgetme), the row kept for counts"
    )
    username_hash = BlindIndexField(
        of="username", kind="username", null=True, db_index=True, description="blind index of username, what /ban @name compares"
    )
    standing = fields.CharField(
        max_length=8, default="new", db_default="new",
        description="new, verified, held, cleared, banned or shadow (ticketing/moderation.py)",
    )
    """A :class:`~ticketing.moderation.Standing` value: whether what they write reaches the agents."""
    withheld = fields.IntField(
        default=0, db_default=0, description="messages dropped (banned) or kept from the agents (shadow) since the last ban"
    )

    class Meta:
        table = "customer"

    @property
    def display_name(self) -> str:
        """Names, else the username, else the Telegram id, or 🕶 for a customer who was forgotten."""
        names = " ".join(p for p in (self.first_name, self.last_name) if p) or self.username
        return names or ("🕶" if self.forgotten_at else str(self.telegram_id))


class Agent(BlindIndexed, Model):
    """A member of the agent group who has worked a ticket, one row per Telegram user."""

    id = fields.IntField(primary_key=True)
    telegram_id = fields.BigIntField(unique=True)
    name = EncryptedTextField(default="", description="encrypted (bot/core/crypto.py), as is the username")
    username = EncryptedTextField(null=True)
    username_hash = BlindIndexField(
        of="username", kind="username", null=True, db_index=True, description="blind index of username, what /assign @name compares"
    )
    role = fields.CharField(max_length=16, default="agent", description="agent or supervisor")
    active = fields.BooleanField(default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    presence = fields.CharField(
        max_length=8, null=True, description="what the agent last said: online, away or offline (ticketing/presence.py)"
    )
    presence_at = fields.DatetimeField(null=True, description="when they said it")
    last_seen = fields.DatetimeField(null=True, description="their last message or command in the agent group")
    last_assigned_at = fields.DatetimeField(
        null=True, description="when a ticket was last given to them automatically (round robin, ties)"
    )

    class Meta:
        table = "agent"


class TicketStatus(StrEnum):
    """Where a ticket stands; the stored strings. Its moves go through ticketing/lifecycle.py."""

    NEW = "new"
    """Waiting for its first person."""
    OPEN = "open"
    """Being worked (an agent answered or took it), or reopened."""
    PENDING = "pending"
    """Waiting for the customer: the SLA clock is paused."""
    RESOLVED = "resolved"
    """Solved as far as we know: the customer reopens it by writing within ``reopen_days``."""
    CLOSED = "closed"
    """Done for good: the customer's next problem is a new ticket."""


WORKING: tuple[TicketStatus, ...] = (TicketStatus.NEW, TicketStatus.OPEN, TicketStatus.PENDING)
"""Someone still has to act on the ticket: the queue, the backlog."""
ACTIVE: tuple[TicketStatus, ...] = (*WORKING, TicketStatus.RESOLVED)
"""Not closed: the customer's messages join it (one active ticket per customer)."""


class Ticket(Model):
    """A customer's problem that people work on, from the hand-off to its close.

    ``active_customer_id`` equals ``customer_id`` while the ticket is not closed and is NULL
    after: its unique index allows one active ticket per customer (NULLs never collide).
    """

    id = fields.IntField(primary_key=True, description="the ticket number agents and customers see")
    customer = fields.ForeignKeyField("kefu.Customer", related_name="tickets", on_delete=fields.CASCADE)
    active_customer_id = fields.IntField(null=True, unique=True)
    source = fields.CharField(max_length=16, description="complaint, handoff, feedback or command")
    is_complaint = fields.BooleanField(default=False)
    category = fields.CharField(max_length=24, default="other")
    priority = fields.CharField(max_length=8, default="normal")
    status = fields.CharField(
        max_length=8, default=TicketStatus.NEW, db_index=True, description="new, open, pending, resolved, closed"
    )
    """A :class:`TicketStatus` value (a plain column: no migration for the enum, the strings are the same)."""
    subject = EncryptedTextField(
        default="", description="encrypted (bot/core/crypto.py): the customer's first message, up to 255 characters"
    )
    assignee = fields.ForeignKeyField("kefu.Agent", related_name="tickets", null=True, on_delete=fields.SET_NULL)
    order_no = fields.CharField(max_length=64, null=True)
    topic_id = fields.BigIntField(null=True, description="message_thread_id of its topic in the agent group")
    card_message_id = fields.BigIntField(null=True, description="the customer card posted in the agent group")
    topic_requested_at = fields.DatetimeField(
        null=True, description="when its topic was asked of Telegram: with no topic_id, the topic may exist (a crash)"
    )
    card_requested_at = fields.DatetimeField(
        null=True, description="when its card was sent: with no card_message_id, the card may exist (a crash)"
    )
    repeat_of = fields.ForeignKeyField("kefu.Ticket", related_name="repeats", null=True, on_delete=fields.SET_NULL)
    reopen_count = fields.IntField(default=0)
    waiting_since = fields.DatetimeField(description="when the customer started waiting for a person")
    first_response_due = fields.DatetimeField(null=True)
    resolution_due = fields.DatetimeField(null=True)
    paused_at = fields.DatetimeField(null=True, description="SLA clock paused (pending) since")
    first_response_at = fields.DatetimeField(null=True)
    resolved_at = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True)
    first_response_business_seconds = fields.IntField(null=True, description="waiting to first reply, business time")
    resolution_business_seconds = fields.IntField(null=True, description="waiting to resolution, business time")
    reminded_at = fields.DatetimeField(null=True)
    escalated_at = fields.DatetimeField(null=True)
    queued_at = fields.DatetimeField(
        null=True, description="when the customer was told their place in the queue: they are told again when an agent takes it"
    )
    created_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "ticket"


class TicketMessage(BlindIndexed, Model):
    """One message of a ticket: from the customer (in), to the customer (out), or an internal note."""

    id = fields.IntField(primary_key=True)
    ticket = fields.ForeignKeyField("kefu.Ticket", related_name="messages", on_delete=fields.CASCADE)
    direction = fields.CharField(max_length=4, description="in, out or note")
    agent = fields.ForeignKeyField("kefu.Agent", related_name="messages", null=True, on_delete=fields.SET_NULL)
    text = EncryptedTextField(default="", description="encrypted (bot/core/crypto.py): what people write holds names and numbers")
    media = fields.JSONField(null=True, description="kind and Telegram file id of a photo, document or voice")
    customer_message_id = fields.BigIntField(null=True, description="the message id in the customer chat")
    group_message_id = fields.BigIntField(null=True, description="the message id in the agent group")
    edited_at = fields.DatetimeField(null=True)
    parts = fields.JSONField(
        null=True, description="[[source id, copy id], …] of a message relayed as several posts (an album, a long text)"
    )
    deleted_at = fields.DatetimeField(null=True, description="when an agent took its copy back from the customer (/delete)")
    answered_at = fields.DatetimeField(null=True, description="a customer's message: the first agent reply after it")
    response_seconds = fields.IntField(null=True, description="a customer's message: seconds until answered_at, wall clock")
    response_business_seconds = fields.IntField(
        null=True, description="a customer's message: seconds until answered_at within business hours"
    )
    nudged = fields.SmallIntField(
        default=0, db_default=0, description="a customer's message left waiting: 1 its agent was nudged, 2 the supervisors too, 3 written before response times were kept"
    )
    created_at = fields.DatetimeField()
    search_terms = SearchTermsField(
        of="text", null=True, description="the words of text as short keyed hashes, what search looks up (ticketing/search.py)"
    )

    class Meta:
        table = "ticket_message"


class AlbumPart(Model):
    """One photo or file of an album (a Telegram media group) waiting to be relayed with the rest.

    The parts of an album arrive as separate updates, maybe on different processes of a fleet: each
    is written here, and whichever process sees the album complete claims all its rows (``claim``)
    and relays them as one album, then deletes them (ticketing/albums.py).
    """

    id = fields.IntField(primary_key=True)
    ticket = fields.ForeignKeyField("kefu.Ticket", related_name="album_parts", on_delete=fields.CASCADE)
    album = fields.CharField(max_length=96, db_index=True, description="chat id and media_group_id")
    direction = fields.CharField(max_length=4, description="in (from the customer) or out (an agent's)")
    message_id = fields.BigIntField(description="the part's message id in the chat it was sent to")
    agent = fields.ForeignKeyField("kefu.Agent", related_name="album_parts", null=True, on_delete=fields.SET_NULL)
    media = fields.JSONField(null=True, description="kind and Telegram file id")
    caption = EncryptedTextField(default="", description="encrypted (bot/core/crypto.py)")
    claim = fields.CharField(max_length=32, null=True, description="the flush that took it")
    received_at = fields.DatetimeField(description="real time of arrival: the album is complete a moment after its last part")

    class Meta:
        table = "album_part"
        unique_together = (("album", "message_id"),)


class TicketEvent(Model):
    """The audit trail: every change of a ticket, who made it and when."""

    id = fields.IntField(primary_key=True)
    ticket = fields.ForeignKeyField("kefu.Ticket", related_name="events", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=24)
    actor = fields.CharField(max_length=64, description="agent:ID, customer or system")
    data = fields.JSONField(default=dict)
    at = fields.DatetimeField()

    class Meta:
        table = "ticket_event"


class CustomerEvent(Model):
    """The customer's own audit trail, beside their tickets': bans, first-contact checks, held messages."""

    id = fields.IntField(primary_key=True)
    customer = fields.ForeignKeyField("kefu.Customer", related_name="events", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=24, description="banned, shadowbanned, unbanned, verified, held, allowed, cleared")
    actor = fields.CharField(max_length=64, description="agent:ID, customer or system")
    data = fields.JSONField(default=dict)
    at = fields.DatetimeField()

    class Meta:
        table = "customer_event"


class Snippet(Model):
    """A canned reply agents send with /snippet NAME, with placeholders such as {customer_name}."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=32, unique=True)
    text = fields.TextField()
    author = fields.ForeignKeyField("kefu.Agent", related_name="snippets", null=True, on_delete=fields.SET_NULL)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "snippet"
