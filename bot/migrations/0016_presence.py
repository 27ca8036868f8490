"""Agents' presence and automatic assignment, and response times: what each agent last said
(/online, /away, /offline) and when they were last seen in the agent group, when a ticket last
went to them automatically; when a queued ticket's customer was told their place; for each
customer message when it was answered, how long it waited (wall clock and business time), and
whether its agent or the supervisors were nudged about it. Nullable columns and a column with a
default: older databases keep all their rows.

Customer messages already in the database are marked 3 (written before response times were
kept): a database that upgrades nudges nobody about them, and the 3-minute response rate leaves
them out rather than count them as never answered."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0015_media')]

    initial = False

    operations = [
        ops.AddField(
            model_name='Agent',
            name='presence',
            field=fields.CharField(null=True, description='what the agent last said: online, away or offline (ticketing/presence.py)', max_length=8),
        ),
        ops.AddField(
            model_name='Agent',
            name='presence_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False, description='when they said it'),
        ),
        ops.AddField(
            model_name='Agent',
            name='last_seen',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False, description='their last message or command in the agent group'),
        ),
        ops.AddField(
            model_name='Agent',
            name='last_assigned_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False, description='when a ticket was last given to them automatically (round robin, ties)'),
        ),
        ops.AddField(
            model_name='Ticket',
            name='queued_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False, description='when the customer was told their place in the queue: they are told again when an agent takes it'),
        ),
        ops.AddField(
            model_name='TicketMessage',
            name='answered_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False, description="a customer's message: the first agent reply after it"),
        ),
        ops.AddField(
            model_name='TicketMessage',
            name='response_seconds',
            field=fields.IntField(null=True, description="a customer's message: seconds until answered_at, wall clock"),
        ),
        ops.AddField(
            model_name='TicketMessage',
            name='response_business_seconds',
            field=fields.IntField(null=True, description="a customer's message: seconds until answered_at within business hours"),
        ),
        ops.AddField(
            model_name='TicketMessage',
            name='nudged',
            field=fields.SmallIntField(default=0, db_default=0, description="a customer's message left waiting: 1 its agent was nudged, 2 the supervisors too, 3 written before response times were kept"),
        ),
        # Messages from before the upgrade: nobody is nudged about them.
        ops.RunSQL("UPDATE ticket_message SET nudged = 3 WHERE direction = 'in'"),
    ]
