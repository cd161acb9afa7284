"""The database keeps the archive append-only: no UPDATE, DELETE or TRUNCATE gets through."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, connection, transaction

from archive.models import AppendOnlyError, ArchiveEntry, Document
from archive.services import publish_document

pytestmark = [pytest.mark.django_db, pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the database's append-only refusal is PostgreSQL's triggers (archive migration 0002); SQLite, the "
           "embedded dev default, has the model guard only")]


@pytest.fixture
def filled(builder, staff_user):
    builder.story()
    publish_document(staff_user, title="Minutes", category="minutes", date="2025-03-01", text="# Minutes")
    return ArchiveEntry.objects.count()


def _refused(action) -> str:
    with pytest.raises(IntegrityError) as info, transaction.atomic():
        action()
    return str(info.value)


def test_orm_changes_are_refused(filled):
    entry = ArchiveEntry.objects.get(sequence=1)
    assert entry.kind == "proposal.created"
    entry.kind = "endorsement"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    document = Document.objects.get()
    document.title = "Other minutes"
    with pytest.raises(AppendOnlyError):
        document.save()
    # querysets go straight to SQL: the database refuses
    assert "append-only" in _refused(lambda: ArchiveEntry.objects.filter(sequence=1).update(kind="endorsement"))
    assert "append-only" in _refused(lambda: ArchiveEntry.objects.filter(sequence__lt=5).delete())
    assert "append-only" in _refused(lambda: Document.objects.update(title="x"))
    assert "append-only" in _refused(lambda: Document.objects.all().delete())
    # the model's own guard is not what stops it: bypass it and the database still refuses
    assert "append-only" in _refused(lambda: ArchiveEntry.save_base(entry, force_update=True))
    assert ArchiveEntry.objects.count() == filled
    assert ArchiveEntry.objects.get(sequence=1).kind == "proposal.created"


@pytest.mark.parametrize("sql", [
    "UPDATE archive_archiveentry SET payload = '{}'::jsonb WHERE sequence = 2",
    "UPDATE archive_archiveentry SET hash = prev_hash",
    "DELETE FROM archive_archiveentry WHERE sequence = (SELECT max(sequence) FROM archive_archiveentry)",
    "DELETE FROM archive_archiveentry",
    "TRUNCATE archive_archiveentry CASCADE",
    "TRUNCATE archive_document",
    "UPDATE archive_document SET content = 'evil'::bytea",
    "DELETE FROM archive_document",
])
def test_raw_sql_changes_are_refused_by_the_database(filled, sql):
    def run():
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as if the fixture's rows were committed
            cursor.execute(sql)

    message = _refused(run)
    assert "append-only" in message
    assert ArchiveEntry.objects.count() == filled and Document.objects.count() == 1


def test_truncating_an_empty_archive_is_harmless_and_allowed():
    """Empty tables may be truncated (what test-database flushes do); a non-empty one never."""
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE archive_document, archive_archiveentry")
    assert not ArchiveEntry.objects.exists()


def test_the_triggers_are_what_refuses(filled):
    """Disable the trigger (as only the table owner can) and the same UPDATE goes through."""
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE archive_archiveentry DISABLE TRIGGER archive_archiveentry_append_only")
            cursor.execute("UPDATE archive_archiveentry SET proposal_ref = 'x' WHERE sequence = 1")
        assert ArchiveEntry.objects.get(sequence=1).proposal_ref == "x"
        transaction.set_rollback(True)
    assert ArchiveEntry.objects.get(sequence=1).proposal_ref == "7"
