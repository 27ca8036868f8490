"""What the knowledge base learns from: every question the bot routed, and what came of it.

Model and field docstrings become SQL comments, and tortoise splits migration SQL at semicolons:
keep semicolons out of them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class Question(Model):
    """A customer message the bot routed: where it went, how sure the bot was, the customer's verdict."""

    id = fields.IntField(primary_key=True)
    customer = fields.ForeignKeyField("kefu.Customer", related_name="questions", on_delete=fields.CASCADE)
    text = fields.TextField()
    normalized = fields.CharField(max_length=255, db_index=True, description="grouping key for /kb_missed")
    language = fields.CharField(max_length=8)
    action = fields.CharField(max_length=16, null=True, description="answer, order_status, complaint, handoff, smalltalk")
    entry_id = fields.CharField(max_length=64, null=True, description="the knowledge-base entry answered")
    score = fields.FloatField(default=0.0)
    band = fields.CharField(max_length=8, description="high, middle or low confidence")
    feedback = fields.CharField(max_length=4, null=True, description="up or down, from the buttons under an answer")
    learned = fields.BooleanField(default=False, description="added to the knowledge base with /kb_add")
    asked_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "kb_question"


class QuestionCandidate(Model):
    """A customer's question proposed as an example of an entry: they picked it in a did-you-mean, or gave a middle-band answer a 👍.

    The words are the customer's own, so they are read through the question (forgotten with it
    by /forgetme), never copied here. One customer counts once per entry and question.
    """

    id = fields.IntField(primary_key=True)
    entry_id = fields.CharField(max_length=64, description="the knowledge-base entry it would teach")
    language = fields.CharField(max_length=8)
    question = fields.ForeignKeyField("kefu.Question", related_name="candidates", on_delete=fields.CASCADE)
    customer = fields.ForeignKeyField("kefu.Customer", related_name="kb_candidates", on_delete=fields.CASCADE)
    normalized = fields.CharField(max_length=255, description="grouping key, as kb_question.normalized")
    status = fields.CharField(max_length=8, default="pending", db_index=True, description="pending, accepted or rejected")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "kb_candidate"
        unique_together = (("entry_id", "normalized", "customer"),)
