"""PostgreSQL only: a GIN index on the proposals' search vector (title weight A, body weight B).

The vector is written by proposals.services on every create and revision. Skipped on other
databases (SQLite, the embedded development default, searches with icontains).
"""

from django.db import migrations


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("proposals", "0001_initial")]

    operations = [
        migrations.RunPython(
            _run("CREATE INDEX proposal_search_gin ON proposals_proposal USING GIN (search_vector)"),
            _run("DROP INDEX IF EXISTS proposal_search_gin"),
        ),
    ]
