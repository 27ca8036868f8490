"""A ticket's subject (the customer's first message, up to 255 characters: names, phone numbers,
addresses) becomes an encrypted column, like the messages' texts: a Fernet token, longer than
255 characters, so the column is TEXT.

- PostgreSQL: ``ALTER COLUMN subject TYPE TEXT`` (and its comment). varchar to text rewrites no
  row and keeps every index and constraint of ``ticket``.
- SQLite: nothing to do. A VARCHAR(255) column has TEXT affinity and holds text of any length,
  and tortoise's AlterField would rebuild the table: its ``DROP TABLE ticket``, with foreign keys
  on, deletes every message and event of every ticket (ON DELETE CASCADE) and drops the table's
  indexes (those of 0019_search among them).
- The subjects already there are encrypted at the first start with the privacy keys (``kefu db
  upgrade`` or ``kefu run``: bot/privacy.py ``prepare``, as for every encrypted column); a
  migration cannot, it has no keys. Until then they are read as they are.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

from bot.core.crypto import EncryptedTextField


class SubjectAsText(ops.AlterField):
    """The AlterField on PostgreSQL only (see the module's docstring for SQLite)."""

    async def database_forward(self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None) -> None:
        if state_editor and state_editor.client.capabilities.dialect == "postgres":
            await super().database_forward(app_label, old_state, new_state, state_editor)

    async def database_backward(self, app_label: str, old_state: Any, new_state: Any, state_editor: Any = None) -> None:
        if state_editor and state_editor.client.capabilities.dialect == "postgres":
            await super().database_backward(app_label, old_state, new_state, state_editor)


class Migration(migrations.Migration):
    dependencies = [('kefu', '0019_search')]

    initial = False

    operations = [
        SubjectAsText(
            model_name='Ticket',
            name='subject',
            field=EncryptedTextField(default='', description="encrypted (bot/core/crypto.py): the customer's first message, up to 255 characters"),
        ),
    ]
