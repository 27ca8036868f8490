"""Every kind of message both ways: an album's parts wait in album_part until the album is relayed
whole, and a ticket message relayed as several posts keeps every pair of ids (parts) so that an
edit or a /delete reaches each of them; deleted_at records an agent's /delete. A new table and
two nullable columns: older databases keep all their rows."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops

from bot.core.crypto import EncryptedTextField


class Migration(migrations.Migration):
    dependencies = [('kefu', '0014_spam')]

    initial = False

    operations = [
        ops.AddField(
            model_name='TicketMessage',
            name='parts',
            field=fields.JSONField(null=True, description='[[source id, copy id], …] of a message relayed as several posts (an album, a long text)'),
        ),
        ops.AddField(
            model_name='TicketMessage',
            name='deleted_at',
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False, description='when an agent took its copy back from the customer (/delete)'),
        ),
        ops.CreateModel(
            name='AlbumPart',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('ticket', fields.ForeignKeyField('kefu.Ticket', source_field='ticket_id', db_constraint=True, to_field='id', related_name='album_parts', on_delete=OnDelete.CASCADE)),
                ('album', fields.CharField(db_index=True, description='chat id and media_group_id', max_length=96)),
                ('direction', fields.CharField(description="in (from the customer) or out (an agent's)", max_length=4)),
                ('message_id', fields.BigIntField(description="the part's message id in the chat it was sent to")),
                ('agent', fields.ForeignKeyField('kefu.Agent', source_field='agent_id', null=True, db_constraint=True, to_field='id', related_name='album_parts', on_delete=OnDelete.SET_NULL)),
                ('media', fields.JSONField(null=True, description='kind and Telegram file id')),
                ('caption', EncryptedTextField(default='', description='encrypted (bot/core/crypto.py)')),
                ('claim', fields.CharField(null=True, description='the flush that took it', max_length=32)),
                ('received_at', fields.DatetimeField(auto_now=False, auto_now_add=False, description='real time of arrival: the album is complete a moment after its last part')),
            ],
            options={'table': 'album_part', 'app': 'kefu', 'unique_together': (('album', 'message_id'),), 'pk_attr': 'id', 'table_description': 'One photo or file of an album (a Telegram media group) waiting to be relayed with the rest.'},
            bases=['Model'],
        ),
    ]
