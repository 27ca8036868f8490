"""Campaigns write their outbox rows in the background, in chunks, and can be cancelled while they
do: the audience is fixed at the start (``audience_until_id``), the writing resumes after the last
customer written (``queued_through_id``), the process writing holds it (``claimed_by``,
``claimed_at``) until it is gone (bot/intake/fleet.py), and ``payload`` is what each row carries. A
campaign of an older version was written whole at its start: its new columns stay empty and
nothing is resumed."""

import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0011_feed_replay')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Campaign',
            name='status',
            field=fields.CharField(default='draft', description='draft, queueing (its outbox rows being written), running, done or cancelled', db_default='draft', max_length=12),
        ),
        ops.AddField(
            model_name='Campaign',
            name='audience_until_id',
            field=fields.IntField(null=True, description="its audience is the segment's customers with an id up to this, fixed at the start"),
        ),
        ops.AddField(
            model_name='Campaign',
            name='queued_through_id',
            field=fields.IntField(default=0, description='outbox rows are written for its audience up to this customer id', db_default=0),
        ),
        ops.AddField(
            model_name='Campaign',
            name='payload',
            field=fields.JSONField(null=True, description='what each of its outbox rows carries: the text or the template', encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Campaign',
            name='claimed_by',
            field=fields.CharField(null=True, description='the process writing its outbox rows', max_length=64),
        ),
        ops.AddField(
            model_name='Campaign',
            name='claimed_at',
            field=fields.DatetimeField(null=True, description='when that process took the writing on', auto_now=False, auto_now_add=False),
        ),
    ]
