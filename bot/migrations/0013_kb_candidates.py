"""The bot learns from its own chats: a did-you-mean pick or a 👍 after a middle-band answer makes
the customer's question a candidate example of that entry (kb_candidate), which /kb_learn shows
supervisors and [knowledge_base] auto_learn may accept. A new table: older databases keep all
their rows and start with no candidates."""

from tortoise import fields, migrations
from tortoise.fields.base import OnDelete
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [('kefu', '0012_campaigns')]

    initial = False

    operations = [
        ops.CreateModel(
            name='QuestionCandidate',
            fields=[
                ('id', fields.IntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ('entry_id', fields.CharField(description='the knowledge-base entry it would teach', max_length=64)),
                ('language', fields.CharField(max_length=8)),
                ('question', fields.ForeignKeyField('kefu.Question', source_field='question_id', db_constraint=True, to_field='id', related_name='candidates', on_delete=OnDelete.CASCADE)),
                ('customer', fields.ForeignKeyField('kefu.Customer', source_field='customer_id', db_constraint=True, to_field='id', related_name='kb_candidates', on_delete=OnDelete.CASCADE)),
                ('normalized', fields.CharField(description='grouping key, as kb_question.normalized', max_length=255)),
                ('status', fields.CharField(default='pending', db_index=True, description='pending, accepted or rejected', max_length=8)),
                ('created_at', fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={'table': 'kb_candidate', 'app': 'kefu', 'unique_together': (('entry_id', 'normalized', 'customer'),), 'pk_attr': 'id', 'table_description': "A customer's question proposed as an example of an entry: they picked it in a did-you-mean, or gave a middle-band answer a 👍."},
            bases=['Model'],
        ),
    ]
