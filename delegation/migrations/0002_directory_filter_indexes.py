"""Indexes of the directory's filters (PostgreSQL only; skipped elsewhere).

* a JSONB GIN index (jsonb_path_ops) on `interests`: the `interests @> '["defi"]'` filter;
* a trigram index for the substring search:

`search_text LIKE '%term%'` (delegation.selectors.directory_queryset) can use a pg_trgm GIN index for
terms of three characters or more. pg_trgm is a trusted extension (PostgreSQL 13+): the database owner
can create it. Where it cannot be created, the migration goes on without the index (search then scans
the 20,000-row table, a few milliseconds) and says so.
"""

import logging

from django.db import migrations, transaction

log = logging.getLogger(__name__)


def create(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("CREATE INDEX IF NOT EXISTS delegation_dir_interests ON delegation_delegate "
                       "USING gin (interests jsonb_path_ops)")
    try:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
            cursor.execute("CREATE INDEX IF NOT EXISTS delegation_dir_search_trgm ON delegation_delegate "
                           "USING gin (search_text gin_trgm_ops)")
    except Exception as exc:  # noqa: BLE001 - no privilege for the extension: search works without the index
        log.warning("delegation: no trigram index for the directory search (%s)", exc)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        with schema_editor.connection.cursor() as cursor:
            cursor.execute("DROP INDEX IF EXISTS delegation_dir_search_trgm")
            cursor.execute("DROP INDEX IF EXISTS delegation_dir_interests")


class Migration(migrations.Migration):
    dependencies = [("delegation", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
