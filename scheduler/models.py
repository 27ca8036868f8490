"""What the scheduler stores: the outbox of messages to send, campaigns, and survey answers.

Model and field docstrings become SQL comments, and tortoise splits migration SQL at semicolons:
keep semicolons out of them. Columns with a default also get a database default, so a column
added later gives existing rows a value.

Times are stored in UTC (tortoise ``use_tz``).
"""

from __future__ import annotations

from typing import Final

from tortoise import fields
from tortoise.models import Model

KINDS: Final = ("survey", "servqual", "delivered_survey", "revisit", "greeting", "campaign", "notice")
STATUSES: Final = ("queued", "sending", "sent", "blocked", "failed", "cancelled", "unknown")
CAMPAIGN_STATUSES: Final = ("draft", "queueing", "running", "done", "cancelled")
SURVEY_KINDS: Final = ("csat", "servqual", "delivered")


class Campaign(Model):
    """A message a supervisor sends to a segment of customers, one outbox row per customer."""

    id = fields.IntField(primary_key=True)
    segment = fields.CharField(max_length=32, description="the customers it goes to, e.g. vip or all")
    template = fields.TextField(description="the text, with placeholders such as {customer_name}")
    created_by_telegram_id = fields.BigIntField(description="the supervisor who started it")
    status = fields.CharField(
        max_length=12, default="draft", db_default="draft",
        description="draft, queueing (its outbox rows being written), running, done or cancelled",
    )
    audience_until_id = fields.IntField(
        null=True, description="its audience is the segment's customers with an id up to this, fixed at the start"
    )
    queued_through_id = fields.IntField(
        default=0, db_default=0, description="outbox rows are written for its audience up to this customer id"
    )
    payload = fields.JSONField(null=True, description="what each of its outbox rows carries: the text or the template")
    claimed_by = fields.CharField(max_length=64, null=True, description="the process writing its outbox rows")
    claimed_at = fields.DatetimeField(null=True, description="when that process took the writing on")
    total = fields.IntField(default=0, db_default=0)
    sent = fields.IntField(default=0, db_default=0)
    blocked = fields.IntField(default=0, db_default=0)
    failed = fields.IntField(default=0, db_default=0)
    progress_chat_id = fields.BigIntField(null=True, description="the chat of the progress message")
    progress_message_id = fields.BigIntField(null=True, description="the progress message, edited as it goes")
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "campaign"


class OutboxMessage(Model):
    """A message to send to a customer at a time, sent at most once.

    A sender marks it sending (committed) before the Bot API call and settles it after: sent,
    blocked, failed, or back to queued for a retry. Rows a crash left sending become unknown.
    """

    id = fields.IntField(primary_key=True)
    customer = fields.ForeignKeyField("kefu.Customer", related_name="outbox", on_delete=fields.CASCADE)
    kind = fields.CharField(
        max_length=24, description="survey, servqual, delivered_survey, revisit, greeting, campaign or notice"
    )
    key = fields.CharField(
        max_length=128, unique=True, description="de-duplication key, e.g. survey:ticket:123"
    )
    payload = fields.JSONField(default=dict, db_default={}, description="what the sender needs to write it")
    due_at = fields.DatetimeField(db_index=True, description="when it was asked to go out")
    not_before = fields.DatetimeField(null=True, description="deferred to (quiet hours or a retry), due_at kept")
    status = fields.CharField(
        max_length=12,
        default="queued",
        db_default="queued",
        db_index=True,
        description="queued, sending, sent, blocked, failed, cancelled or unknown",
    )
    attempts = fields.IntField(default=0, db_default=0, description="how often it was claimed")
    last_error = fields.TextField(null=True)
    claimed_by = fields.CharField(max_length=64, null=True, description="the worker sending it")
    claimed_at = fields.DatetimeField(null=True)
    sent_at = fields.DatetimeField(null=True)
    settled_at = fields.DatetimeField(null=True, description="when it became sent, blocked, failed, cancelled or unknown")
    telegram_message_id = fields.BigIntField(null=True)
    campaign = fields.ForeignKeyField("kefu.Campaign", related_name="messages", null=True, on_delete=fields.SET_NULL)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "outbox"


class SurveyResponse(Model):
    """A customer's answer to a survey: one per survey kind and subject (a ticket, an order)."""

    id = fields.IntField(primary_key=True)
    customer = fields.ForeignKeyField("kefu.Customer", related_name="survey_responses", on_delete=fields.CASCADE)
    kind = fields.CharField(max_length=12, description="csat, servqual or delivered")
    subject_key = fields.CharField(max_length=64, description="what was rated, e.g. ticket:123 or order:SO100245")
    ticket = fields.ForeignKeyField("kefu.Ticket", related_name="survey_responses", null=True, on_delete=fields.SET_NULL)
    order_no = fields.CharField(max_length=64, null=True)
    score = fields.IntField(null=True, description="1 to 5")
    comment = fields.TextField(null=True)
    servqual = fields.JSONField(null=True, description="per dimension, the expectation and perception scores")
    answered_at = fields.DatetimeField()
    updated_at = fields.DatetimeField()

    class Meta:
        table = "survey_response"
        unique_together = (("kind", "subject_key"),)
