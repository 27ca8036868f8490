import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0003_orders')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Agent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('telegram_id', fields.BigIntField(unique=True)),
                ('name', fields.CharField(default='', max_length=128)),
                ('username', fields.CharField(null=True, max_length=64)),
                ('role', fields.CharField(default='agent', description='agent or supervisor', max_length=16)),
                ('active', fields.BooleanField(default=True)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'agent', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'A member of the agent group who has worked a ticket, one row per Telegram user.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='Ticket',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True, description='the ticket number agents and customers see')),
                ('customer', fields.ForeignKeyField('kefu.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.CASCADE)),
                ('active_customer_id', fields.IntField(null=True, unique=True)),
                ('source', fields.CharField(description='complaint, handoff, feedback or command', max_length=16)),
                ('is_complaint', fields.BooleanField(default=False)),
                ('category', fields.CharField(default='other', max_length=24)),
                ('priority', fields.CharField(default='normal', max_length=8)),
                ('status', fields.CharField(default='new', db_index=True, description='new, open, pending, resolved, closed', max_length=8)),
                ('subject', fields.CharField(default='', max_length=255)),
                ('assignee', fields.ForeignKeyField('kefu.Agent', source_field='assignee_id', null=True, db_constraint=True, to_field='id', related_name='tickets', on_delete=OnDelete.SET_NULL)),
                ('order_no', fields.CharField(null=True, max_length=64)),
                ('topic_id', fields.BigIntField(null=True, description='message_thread_id of its topic in the agent group')),
                ('card_message_id', fields.BigIntField(null=True, description='the customer card posted in the agent group')),
                ('repeat_of', fields.ForeignKeyField('kefu.Ticket', source_field='repeat_of_id', null=True, db_constraint=True, to_field='id', related_name='repeats', on_delete=OnDelete.SET_NULL)),
                ('reopen_count', fields.IntField(default=0)),
                ('waiting_since', fields.DatetimeField(description='when the customer started waiting for a person', auto_now=False, auto_now_add=False)),
                ('first_response_due', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolution_due', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('paused_at', fields.DatetimeField(null=True, description='SLA clock paused (pending) since', auto_now=False, auto_now_add=False)),
                ('first_response_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('resolved_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('closed_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('reminded_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('escalated_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
                ('updated_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ticket', 'app': 'kefu', 'pk_attr': 'id', 'table_description': "A customer's problem that people work on, from the hand-off to its close."},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketEvent',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('kefu.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='events', on_delete=OnDelete.CASCADE)),
                ('kind', fields.CharField(max_length=24)),
                ('actor', fields.CharField(description='agent:ID, customer or system', max_length=64)),
                ('data', fields.JSONField(default=dict, encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ticket_event', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'The audit trail: every change of a ticket, who made it and when.'},
            bases=['Model'],
        ),
        ops.CreateModel(
            name='TicketMessage',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('kefu.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.CASCADE)),
                ('direction', fields.CharField(description='in, out or note', max_length=4)),
                ('agent', fields.ForeignKeyField('kefu.Agent', source_field='agent_id', null=True, db_constraint=True, to_field='id', related_name='messages', on_delete=OnDelete.SET_NULL)),
                ('text', fields.TextField(default='', unique=False)),
                ('media', fields.JSONField(null=True, description='kind and Telegram file id of a photo, document or voice', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads)),
                ('customer_message_id', fields.BigIntField(null=True, description='the message id in the customer chat')),
                ('group_message_id', fields.BigIntField(null=True, description='the message id in the agent group')),
                ('edited_at', fields.DatetimeField(null=True, auto_now=False, auto_now_add=False)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=False)),
            ],
            options={'table': 'ticket_message', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'One message of a ticket: from the customer (in), to the customer (out), or an internal note.'},
            bases=['Model'],
        ),
    ]
