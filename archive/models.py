"""The Foundation archive: an append-only hash chain of every decision, its documents and anchors.

Rows of ArchiveEntry are written only by archive.services.record(). On PostgreSQL a trigger
(migration 0002) refuses UPDATE, DELETE and TRUNCATE of the archive tables; the models also
refuse save() of an existing row and delete() so the mistake shows up in Python first.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from archive import kinds
from govapp.errors import DomainError

EntryKind = models.TextChoices("EntryKind", [(v.replace(".", "_").upper(), (v, label)) for v, label in kinds.KINDS])
EntryKind.__doc__ = "Archive entry kinds (values from archive.kinds, defined once there)."


class AppendOnlyError(DomainError):
    code = "archive_append_only"
    status = 409


class _AppendOnlyModel(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError(f"{type(self).__name__} rows are append-only: they cannot be changed.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise AppendOnlyError(f"{type(self).__name__} rows are append-only: they cannot be deleted.")


class ArchiveEntry(_AppendOnlyModel):
    """One archived event. `hash` = SHA-256 of the canonical body (see archive.verify)."""

    sequence = models.BigIntegerField(primary_key=True, help_text="1, 2, 3, ... with no gap")
    kind = models.CharField(max_length=48, choices=EntryKind.choices)
    created_at = models.DateTimeField(help_text="The entry time (UTC, microseconds)")
    proposal_ref = models.CharField(max_length=64, blank=True)
    address = models.CharField(max_length=42, blank=True, help_text="The actor, checksummed")
    payload = models.JSONField()
    signed = models.JSONField(null=True, blank=True, help_text="EIP-712 typed data, signature and signer, verbatim")
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-sequence"]
        verbose_name_plural = "archive entries"
        constraints = [
            models.CheckConstraint(condition=models.Q(sequence__gte=1), name="archive_sequence_positive"),
            # Backstops of the serialized append: one successor per entry, one entry per hash.
            models.UniqueConstraint(fields=["prev_hash"], name="archive_prev_hash_unique"),
            models.UniqueConstraint(fields=["hash"], name="archive_hash_unique"),
        ]
        # (column, sequence): filtered timelines read newest-first by index, without sorting.
        indexes = [
            models.Index(fields=["kind", "sequence"], name="archive_kind_seq"),
            models.Index(fields=["proposal_ref", "sequence"], name="archive_proposal_seq"),
            models.Index(fields=["address", "sequence"], name="archive_address_seq"),
            models.Index(fields=["created_at"], name="archive_time"),
            # "Is this proposal's tally closed?" — asked on every append of a vote: one probe, not a walk
            # through every entry of the proposal (which grew with its votes).
            models.Index(fields=["proposal_ref"], condition=models.Q(kind=kinds.TALLY_FINAL),
                         name="archive_final_tally"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.kind}"

    @property
    def kind_label(self) -> str:
        return kinds.LABELS.get(self.kind, self.kind)

    def body(self) -> dict[str, Any]:
        """The hashed body of this entry (see archive.verify.entry_body)."""
        from archive.verify import entry_body, format_time

        return entry_body(sequence=self.sequence, kind=self.kind, time=format_time(self.created_at),
                          proposal_ref=self.proposal_ref, address=self.address, payload=self.payload,
                          signed=self.signed, prev_hash=self.prev_hash)


class DocumentCategory(models.TextChoices):
    REPORT = "report", "Report"
    AUDIT = "audit", "Audit"
    MINUTES = "minutes", "Minutes"
    POLICY = "policy", "Policy"
    OTHER = "other", "Other"


class Document(_AppendOnlyModel):
    """A Foundation document (report, audit, minutes...). Its SHA-256 is in its archive entry."""

    title = models.CharField(max_length=200)
    category = models.CharField(max_length=16, choices=DocumentCategory.choices)
    date = models.DateField(help_text="The date the document is about or was issued")
    content = models.BinaryField(help_text="The exact bytes published (markdown text as UTF-8, or the file)")
    content_type = models.CharField(max_length=100)
    filename = models.CharField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64, db_index=True)
    published_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    published_at = models.DateTimeField()
    entry = models.OneToOneField(ArchiveEntry, on_delete=models.PROTECT, related_name="document")

    class Meta:
        ordering = ["-published_at", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def is_text(self) -> bool:
        return self.content_type.startswith("text/")

    def text(self) -> str:
        return bytes(self.content).decode("utf-8", "replace")


class Anchor(models.Model):
    """A head published to the ArchiveAnchor contract (one row per anchoring transaction)."""

    sequence = models.BigIntegerField()
    head_hash = models.CharField(max_length=64)
    chain_id = models.BigIntegerField()
    contract_address = models.CharField(max_length=42)
    tx_hash = models.CharField(max_length=66, unique=True)
    block_number = models.BigIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-sequence"]
        constraints = [models.UniqueConstraint(fields=["contract_address", "sequence"], name="archive_anchor_once")]

    def __str__(self) -> str:
        return f"anchor #{self.sequence} in {self.tx_hash}"
