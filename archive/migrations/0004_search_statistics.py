"""PostgreSQL only: finer statistics on the archive's search vector, so a rare search term uses the GIN index.

With the default statistics target (100) ANALYZE keeps ~1,000 most common lexemes; any other term is estimated
at a fixed share of the rows, so for "newest first, 50 per page" the planner walks the primary key backwards
expecting a match soon — and a rare or absent term reads the whole table (444 ms at 400,000 entries, growing
with the archive). With 1,000 the estimate of a rare term is small and the plan is a GIN bitmap scan (0.8 ms);
common words keep the backward walk, which stops after 50 matches (8 ms). See docs/scaling.md.
"""

from django.db import migrations


def _run(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("archive", "0003_postgres_append_function")]

    operations = [
        migrations.RunPython(
            _run("ALTER TABLE archive_archiveentry ALTER COLUMN search_vector SET STATISTICS 1000"),
            _run("ALTER TABLE archive_archiveentry ALTER COLUMN search_vector SET STATISTICS -1"),
        ),
    ]
