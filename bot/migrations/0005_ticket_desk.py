import functools
from json import dumps, loads

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0004_tickets')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Snippet',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('name', fields.CharField(unique=True, max_length=32)),
                ('text', fields.TextField(unique=False)),
                ('author', fields.ForeignKeyField('kefu.Agent', source_field='author_id', null=True, db_constraint=True, to_field='id', related_name='snippets', on_delete=OnDelete.SET_NULL)),
                ('updated_at', fields.DatetimeField(auto_now=True, auto_now_add=False)),
            ],
            options={'table': 'snippet', 'app': 'kefu', 'pk_attr': 'id', 'table_description': 'A canned reply agents send with /snippet NAME, with placeholders such as {customer_name}.'},
            bases=['Model'],
        ),
        ops.AddField(
            model_name='Customer',
            name='birthday',
            field=fields.DateField(null=True),
        ),
        ops.AddField(
            model_name='Customer',
            name='segment',
            field=fields.CharField(default='new', description='new, returning, vip, inactive', db_default='new', max_length=16),
        ),
        ops.AddField(
            model_name='Customer',
            name='tags',
            field=fields.JSONField(default=list, description='free labels agents and imports give', db_default=[], encoder=functools.partial(dumps, separators=(',', ':')), decoder=loads),
        ),
        ops.AddField(
            model_name='Customer',
            name='timezone',
            field=fields.CharField(null=True, description='IANA zone, for quiet hours', max_length=48),
        ),
        ops.AddField(
            model_name='Ticket',
            name='first_response_business_seconds',
            field=fields.IntField(null=True, description='waiting to first reply, business time'),
        ),
        ops.AddField(
            model_name='Ticket',
            name='resolution_business_seconds',
            field=fields.IntField(null=True, description='waiting to resolution, business time'),
        ),
    ]
