import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0005_ticket_desk')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Campaign',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('segment', fields.CharField(description='the customers it goes to, e.g. vip or all', max_length=32)),
                ('template', fields.TextField(description='the text, with placeholders such as {customer_name}', unique=False)),
                ('created_by_telegram_id', fields.BigIntField(description='the supervisor who started it')),
                ('status', fields.CharField(default='draft', description='draft, running, done or cancelled', db_default='draft', max_length=12)),
                ('total', fields.IntField(default=0, db_default=0)),
                ('sent', fields.IntField(default=0, db_default=0)),
                ('blocked', fields.IntField(default=0, db_default=0)),
                ('failed', fields.IntField(default=0, db_default=0)),
                ('progress_chat_id', fields.BigIntField(null=True, description='the chat of the progress message')),
                ('progress_message_id', fields.BigIntField(null=True, description='the progress message, edited as it goes')),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'campaign', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'A message a supervisor sends to a segment of customers, one outbox row per customer.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='OutboxMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('kefu.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='outbox', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(description='survey, servqual, delivered_survey, revisit, greeting, campaign or notice', max_length=24)),
                ('key', fields.CharField(unique=True, description='de-duplication key, e.g. survey:ticket:123', max_length=128)),
                ('payload', fields.JSONField(default=dict, description='what the sender needs to write it', db_default={}, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('due_at', fields.DatetimeField(db_index=True, description='when it was asked to go out', auto_now=False, auto_now_add=False)),
                ('not_before', fields.DatetimeField(null=True, description='deferred to (quiet hours or a retry), due_at kept', auto_now=False, auto_now_add=False)),
                ('status', fields.CharField(default='queued', db_index=True, description='queued, sending, sent, blocked, failed, cancelled or unknown', db_default='queued', max_length=12)),
                ('attempts', fields.IntField(default=0, description='how often it was claimed', db_default=0)),
                ('last_error', fields.TextField(null=True, unique=False)),
                ('claimed_by', fields.CharField(null=True, description='the worker sending it', max_length=64)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('sent_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('settled_at', fields.DatetimeField(null=True, description='when it became sent, blocked, failed, cancelled or unknown', auto_now=False, auto_now_add=False)),
                ('telegram_message_id', fields.BigIntField(null=True)),
                ('campaign', fields.ForeignKeyField('kefu.Campaign', source_field='campaign_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.SET_NULL)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'outbox', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'A message to send to a customer at a time, sent at most once.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='SurveyResponse',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('kefu.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='survey_responses', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(description='csat, servqual or delivered', max_length=12)),
                ('subject_key', fields.CharField(description='what was rated, e.g. ticket:123 or order:SO100245', max_length=64)),
                ('ticket', fields.ForeignKeyField('kefu.Ticket', source_field='ticket_id', null=True, db_constraint=True, to_field='id', related_name='survey_responses', on_delete=OnDelete.SET_NULL)),
                ('order_no', fields.CharField(null=True, max_length=64)),
                ('score', fields.IntField(null=True, description='1 to 5')),
                ('comment', fields.TextField(null=True, unique=False)),
                ('servqual', fields.JSONField(null=True, description='per dimension, the expectation and perception scores', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('answered_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'survey_response', 'app': 'kefu', 'unique_together': (('kind', 'subject_key'),), 'pk_attr': 'id', 'table_description': "A customer's answer to a survey: one per survey kind and subject (a ticket, an order)."},
            bases=['Model'],
        ),
    ]
