"""What the running bot keeps in the database so that several processes can share the work.

- :class:`InboxUpdate`: every update from Telegram, stored before it is acknowledged (see
  ``bot/intake/inbox.py``), so none is lost when a process dies and none is handled twice.
- :class:`ConversationState`: python-telegram-bot's ``user_data``/``chat_data``, loaded before an
  update is handled and saved after, so a conversation can go on in any process.
- :class:`JobLease`: the last period a fleet-wide job (SLA watch, weekly report) ran for, so that
  it runs once across all processes.

Model and field docstrings become SQL comments: keep semicolons out of them.
"""

from __future__ import annotations

from typing import Final

from tortoise import fields
from tortoise.models import Model

from bot.core.crypto import EncryptedJSONField

INBOX_STATUSES: Final = ("new", "processing", "done", "throttled", "unknown", "failed", "held", "dropped")
"""held: kept back from a new customer until they may write (bot/intake/inbox.py release_held)
dropped: from a banned customer, its payload erased."""


class InboxUpdate(Model):
    """An update from Telegram, stored before it is acknowledged, handled from here."""

    id = fields.BigIntField(primary_key=True)
    update_id = fields.BigIntField(unique=True, description="Telegram's update_id: a redelivery is a no-op")
    chat_id = fields.BigIntField(null=True, description="the chat it belongs to: updates of one chat are handled in order")
    user_id = fields.BigIntField(null=True, description="who sent it")
    payload = EncryptedJSONField(description="the update as Telegram sent it, encrypted (it holds names and phones)")
    status = fields.CharField(
        max_length=12, default="new", db_default="new",
        description="new, processing, done, throttled (over the flood limit), unknown (a process died mid-reply) "
        "or failed (could not be read or handled, set aside)",
    )
    replying = fields.BooleanField(
        default=False, db_default=False, description="a reply went out while it was handled: never handled again"
    )
    on_wire = fields.BooleanField(
        default=False, db_default=False,
        description="a request of its handling was being written or awaited its answer: if its process died then, it is in doubt",
    )
    attempts = fields.SmallIntField(default=0, db_default=0, description="times it was claimed to be handled")
    error = fields.TextField(null=True, description="why it failed (status failed)")
    claimed_by = fields.CharField(max_length=64, null=True, description="the process handling it")
    received_at = fields.DatetimeField(auto_now_add=True)
    claimed_at = fields.DatetimeField(null=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "inbox_update"
        indexes = (("chat_id", "status"), ("status", "received_at"), ("user_id", "received_at"))


class ConversationState(Model):
    """The conversation memory of one user or chat (python-telegram-bot's user_data/chat_data)."""

    id = fields.IntField(primary_key=True)
    scope = fields.CharField(max_length=8, description="user or chat")
    owner_id = fields.BigIntField(description="the Telegram user or chat id")
    data = fields.JSONField(default=dict)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "conversation_state"
        unique_together = (("scope", "owner_id"),)


class ProcessHeartbeat(Model):
    """A running kefu process, renewing its beat: work held by a process whose beat lapsed is taken over."""

    name = fields.CharField(max_length=64, primary_key=True, description="as in inbox_update.claimed_by")
    started_at = fields.DatetimeField()
    beat_at = fields.DatetimeField(description="the last beat")

    class Meta:
        table = "process_heartbeat"


class RateBucket(Model):
    """One of Telegram's rate limits shared by all processes of the bot (bot/telegram/ratelimit.py): the earliest
    time the next request under it may go (GCRA's theoretical arrival time)."""

    name = fields.CharField(max_length=48, primary_key=True, description="global, or chat:ID")
    next_at = fields.FloatField(description="seconds since the epoch")

    class Meta:
        table = "rate_bucket"


class JobLease(Model):
    """The last period a fleet-wide job ran for: whoever moves it forward runs the job."""

    name = fields.CharField(max_length=64, primary_key=True)
    period = fields.CharField(max_length=32, description="e.g. 2026-11-25T10:31 (sortable text)")
    holder = fields.CharField(max_length=64, null=True, description="the process that ran it")
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "job_lease"
