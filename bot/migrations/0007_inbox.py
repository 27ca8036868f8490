import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0006_outbox')]

    initial = False

    operations = [
        ops.CreateModel(
            name='ConversationState',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('scope', fields.CharField(description='user or chat', max_length=8)),
                ('owner_id', fields.BigIntField(description='the Telegram user or chat id')),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'conversation_state', 'app': 'kefu', 'unique_together': (('scope', 'owner_id'),), 'pk_attr': 'id', 'table_description': "The conversation memory of one user or chat (python-telegram-bot's user_data/chat_data)."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='InboxUpdate',
            fields=[
                ('id', fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('update_id', fields.BigIntField(unique=True, description="Telegram's update_id: a redelivery is a no-op")),
                ('chat_id', fields.BigIntField(null=True, description='the chat it belongs to: updates of one chat are handled in order')),
                ('user_id', fields.BigIntField(null=True, description='who sent it')),
                ('payload', fields.JSONField(description='the update as Telegram sent it', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('status', fields.CharField(default='new', description='new, processing, done, throttled (over the flood limit) or unknown (a process died mid-reply)', db_default='new', max_length=12)),
                ('replying', fields.BooleanField(default=False, description='a reply went out while it was handled: never handled again', db_default=False)),
                ('claimed_by', fields.CharField(null=True, description='the process handling it', max_length=64)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
                ('claimed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('finished_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'inbox_update', 'app': 'kefu', 'indexes': [Index(fields=['chat_id', 'status']), Index(fields=['status', 'received_at']), Index(fields=['user_id', 'received_at'])], 'pk_attr': 'id', 'table_description': 'An update from Telegram, stored before it is acknowledged, handled from here.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='JobLease',
            fields=[
                ('name', fields.CharField(primary_key=True, unique=True, db_index=True, max_length=64)),
                ('period', fields.CharField(description='e.g. 2026-11-25T10:31 (sortable text)', max_length=32)),
                ('holder', fields.CharField(null=True, description='the process that ran it', max_length=64)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'job_lease', 'app': 'kefu', 'pk_attr': 'name', 'table_description': 'The last period a fleet-wide job ran for: whoever moves it forward runs the job.'},
            bases=['Model'],
        ),
    ]
