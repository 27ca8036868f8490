"""Searching tickets' messages (ticketing/search.py) and the console's queue at 100,000 tickets.

- ``ticket_message.search_terms``: the words of the (encrypted) text as short keyed hashes,
  with a full-text index: on PostgreSQL a GIN index over ``to_tsvector('simple', search_terms)``;
  on SQLite an FTS5 table ``ticket_message_search_terms`` whose content is ``ticket_message``
  itself, kept by three triggers. A migration that rebuilds ``ticket_message`` on SQLite (an
  AlterField does) drops the triggers with the old table: it must create them again
  (``sqlite_search_index`` below).
- Existing messages get their terms at the first start with the privacy keys (``kefu db
  upgrade`` or ``kefu run``: bot/privacy.py ``prepare``, as for any blind index added by a
  migration); a migration cannot, it has no keys. Until then they are not found.
- Indexes for the queue's keyset paging (newest first, by id, within a filter) and for reading a
  ticket's messages, which had none: ``ticket_message (ticket_id, id)``, ``ticket (status, id)``,
  ``ticket (assignee_id, id)``, ``ticket (category, id)``.
"""

from typing import Any

from tortoise import migrations
from tortoise.migrations import operations as ops

from ticketing.search import SearchTermsField

FTS = "ticket_message_search_terms"

SQLITE_SEARCH_INDEX = [
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS} USING fts5("
    "search_terms, content='ticket_message', content_rowid='id', tokenize='ascii', detail='none')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS}_insert AFTER INSERT ON ticket_message WHEN new.search_terms IS NOT NULL BEGIN"
    f" INSERT INTO {FTS} (rowid, search_terms) VALUES (new.id, new.search_terms); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS}_delete AFTER DELETE ON ticket_message WHEN old.search_terms IS NOT NULL BEGIN"
    f" INSERT INTO {FTS} ({FTS}, rowid, search_terms) VALUES ('delete', old.id, old.search_terms); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS}_update AFTER UPDATE OF search_terms ON ticket_message BEGIN"
    f" INSERT INTO {FTS} ({FTS}, rowid, search_terms) SELECT 'delete', old.id, old.search_terms WHERE old.search_terms IS NOT NULL;"
    f" INSERT INTO {FTS} (rowid, search_terms) SELECT new.id, new.search_terms WHERE new.search_terms IS NOT NULL; END",
    f"INSERT INTO {FTS} ({FTS}) VALUES ('rebuild')",
]
POSTGRES_SEARCH_INDEX = [
    "CREATE INDEX IF NOT EXISTS idx_ticket_message_search_terms ON ticket_message"
    " USING gin (to_tsvector('simple', search_terms))",
]
QUEUE_INDEXES = [
    "CREATE INDEX IF NOT EXISTS idx_ticket_message_ticket_id ON ticket_message (ticket_id, id)",
    "CREATE INDEX IF NOT EXISTS idx_ticket_status_id ON ticket (status, id)",
    "CREATE INDEX IF NOT EXISTS idx_ticket_assignee_id ON ticket (assignee_id, id)",
    "CREATE INDEX IF NOT EXISTS idx_ticket_category_id ON ticket (category, id)",
]


async def sqlite_search_index(client: Any) -> None:
    """The FTS5 table and its triggers (again, after a migration rebuilt ``ticket_message``)."""
    for statement in SQLITE_SEARCH_INDEX:
        await client.execute_query(statement)


async def _indexes(apps: Any, editor: Any) -> None:
    client = editor.client
    if client.capabilities.dialect == "postgres":
        for statement in POSTGRES_SEARCH_INDEX:
            await client.execute_query(statement)
    else:
        await sqlite_search_index(client)
    for statement in QUEUE_INDEXES:
        await client.execute_query(statement)


class Migration(migrations.Migration):
    dependencies = [('kefu', '0018_console')]

    initial = False

    operations = [
        ops.AddField(
            model_name='TicketMessage',
            name='search_terms',
            field=SearchTermsField(null=True, description='the words of text as short keyed hashes, what search looks up (ticketing/search.py)', of='text'),
        ),
        ops.RunPython(_indexes),
    ]
