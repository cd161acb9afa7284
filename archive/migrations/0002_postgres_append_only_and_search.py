"""PostgreSQL only: the database itself keeps the archive append-only, and indexes it for search.

* Triggers refuse UPDATE, DELETE (row level) and TRUNCATE (statement level) on the archive entry
  and document tables, raising SQLSTATE 23001 (restrict_violation; Django: IntegrityError).
  TRUNCATE of an EMPTY table is let through: it destroys nothing, and test runners (Django's
  flush after a transactional test) truncate every table of every app.
* A stored generated tsvector column `search_vector` over kind, proposal ref, address and every
  string/number of the payload, with a GIN index, for the timeline's full-text search.

Skipped on other databases (SQLite is the embedded development default: no triggers there, the
models refuse changes and search falls back to icontains).
"""

from django.db import migrations

TABLES = ("archive_archiveentry", "archive_document")

FORWARD = [
    """
    CREATE OR REPLACE FUNCTION archive_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
        has_rows boolean;
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            -- Emptying an empty table destroys nothing (this keeps test-database flushes working).
            EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I)', TG_TABLE_SCHEMA, TG_TABLE_NAME) INTO has_rows;
            IF NOT has_rows THEN
                RETURN NULL;
            END IF;
        END IF;
        RAISE EXCEPTION 'the Foundation archive is append-only: % on % is refused', TG_OP, TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
    END;
    $$
    """,
    *[
        sql
        for table in TABLES
        for sql in (
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION archive_refuse_change()",
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION archive_refuse_change()",
        )
    ],
    """
    ALTER TABLE archive_archiveentry ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (
        to_tsvector('english'::regconfig, kind || ' ' || proposal_ref || ' ' || address)
        || jsonb_to_tsvector('english'::regconfig, payload, '["string", "numeric"]'::jsonb)
    ) STORED
    """,
    "CREATE INDEX archive_entry_search_gin ON archive_archiveentry USING GIN (search_vector)",
]

BACKWARD = [
    "DROP INDEX IF EXISTS archive_entry_search_gin",
    "ALTER TABLE archive_archiveentry DROP COLUMN IF EXISTS search_vector",
    *[
        f"DROP TRIGGER IF EXISTS {table}_{name} ON {table}"
        for table in TABLES
        for name in ("append_only", "no_truncate")
    ],
    "DROP FUNCTION IF EXISTS archive_refuse_change()",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, None)

    return run


class Migration(migrations.Migration):
    dependencies = [("archive", "0001_initial")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
