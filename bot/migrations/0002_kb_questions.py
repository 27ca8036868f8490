from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0001_initial')]

    initial = False

    operations = [
        ops.CreateModel(
            name='Question',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('customer', fields.ForeignKeyField('kefu.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='questions', on_delete=OnDelete.CASCADE)),
                ('text', fields.TextField(unique=False)),
                ('normalized', fields.CharField(db_index=True, description='grouping key for /kb_missed', max_length=255)),
                ('language', fields.CharField(max_length=8)),
                ('action', fields.CharField(null=True, description='answer, order_status, complaint, handoff, smalltalk', max_length=16)),
                ('entry_id', fields.CharField(null=True, description='the knowledge-base entry answered', max_length=64)),
                ('score', fields.FloatField(default=0.0)),
                ('band', fields.CharField(description='high, middle or low confidence', max_length=8)),
                ('feedback', fields.CharField(null=True, description='up or down, from the buttons under an answer', max_length=4)),
                ('learned', fields.BooleanField(default=False, description='added to the knowledge base with /kb_add')),
                ('asked_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'kb_question', 'app': 'kefu', 'pk_attr': 'id', 'table_description': "A customer message the bot routed: where it went, how sure the bot was, the customer's verdict."},
            bases=['Model'],
        ),
    ]
