"""Improvement proposals (SNIP-style): the proposal, its immutable revisions, endorsements, reviews and
status timeline. Rules live in proposals.services (writes) and proposals.selectors (reads); the state
machine in proposals.lifecycle.

Token amounts (voting power, weights) are stored as decimal strings: they exceed 64 bits and must
stay exact on every database.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVectorField
from django.db import models

from govapp.errors import ConflictError
from proposals.lifecycle import EXECUTABLE_KINDS, REVIEWED_KINDS, ProposalKind, ProposalStatus

__all__ = ["Endorsement", "Proposal", "ProposalKind", "ProposalStatus", "Revision", "StatusChange",
           "TechnicalReview"]


class Proposal(models.Model):
    """The current state of a proposal; its text is the latest Revision's (denormalized for lists)."""

    number = models.PositiveIntegerField(unique=True, help_text="Public proposal number (SNIP-style)")
    title = models.CharField(max_length=500)
    kind = models.CharField(max_length=32, choices=ProposalKind.choices)
    status = models.CharField(max_length=32, choices=ProposalStatus.choices, default=ProposalStatus.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposals")
    body = models.TextField(help_text="Markdown as written; rendered sanitized")
    payload = models.JSONField(default=dict, blank=True, help_text="Typed payload (proposals.payloads)")
    discussion_url = models.URLField(max_length=500, blank=True)
    revision_number = models.PositiveIntegerField(default=1)
    revision_hash = models.CharField(max_length=66, help_text="Hash of the current revision (EIP-712 revisionHash)")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)

    # Discussion
    discussion_ends_at = models.DateTimeField(null=True, blank=True)
    # Endorsement: a round starts at each entry into Endorsement, with its reference block.
    endorsement_round = models.PositiveIntegerField(default=0)
    endorsement_block = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="Indexed block whose voting power weighs the endorsements")
    endorsement_total_power = models.CharField(max_length=80, blank=True,
                                               help_text="Total voting power at endorsement_block")
    endorsement_opened_at = models.DateTimeField(null=True, blank=True)
    # Technical review: a round starts at each entry into Technical review.
    review_round = models.PositiveIntegerField(default=0)
    review_opened_at = models.DateTimeField(null=True, blank=True)
    # Voting (filled on entry into Voting; read by the voting engine).
    snapshot_block = models.PositiveBigIntegerField(null=True, blank=True,
                                                    help_text="Voting power is read at this indexed block")
    voting_starts_at = models.DateTimeField(null=True, blank=True)
    voting_ends_at = models.DateTimeField(null=True, blank=True)

    search_vector = SearchVectorField(null=True, editable=False)

    class Meta:
        ordering = ["-number"]
        indexes = [
            models.Index(fields=["status", "kind"], name="proposal_status_kind"),
            models.Index(fields=["-created_at"], name="proposal_created"),
            models.Index(fields=["author", "-number"], name="proposal_author"),
            models.Index(fields=["status", "discussion_ends_at"], name="proposal_discussion_due"),
        ]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("proposals:detail", args=[self.number])


    @property
    def ref(self) -> str:
        """The proposal's reference in the archive (proposal_ref / payload "proposal"): its number."""
        return str(self.number)

    @property
    def is_executable(self) -> bool:
        return self.kind in EXECUTABLE_KINDS

    @property
    def needs_review(self) -> bool:
        return self.kind in REVIEWED_KINDS


class _Immutable(models.Model):
    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ConflictError(f"{type(self).__name__} rows are immutable.", code="immutable")
        super().save(*args, **kwargs)


class Revision(_Immutable):
    """One immutable version of a proposal's content. Every edit adds one."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="revisions")
    number = models.PositiveIntegerField()
    title = models.CharField(max_length=500)
    body = models.TextField()
    kind = models.CharField(max_length=32, choices=ProposalKind.choices)
    payload = models.JSONField(default=dict, blank=True)
    discussion_url = models.URLField(max_length=500, blank=True)
    content_hash = models.CharField(max_length=66, db_index=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(max_length=500, blank=True, help_text="What changed")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["proposal", "number"]
        constraints = [models.UniqueConstraint(fields=["proposal", "number"], name="revision_number_once")]

    def __str__(self) -> str:
        return f"#{self.proposal_id} r{self.number}"


class _Signed(_Immutable):
    """A signature the portal accepted: the typed data and signature verbatim, and its digest."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="+")
    revision = models.ForeignKey(Revision, on_delete=models.PROTECT, related_name="+")
    round = models.PositiveIntegerField()
    signed_timestamp = models.PositiveBigIntegerField(help_text="The message's timestamp (unix seconds)")
    digest = models.CharField(max_length=66, unique=True, help_text="EIP-712 digest")
    typed_data = models.JSONField()
    signature = models.CharField(max_length=2000)
    contract_wallet = models.BooleanField(default=False)
    archive_sequence = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True


class Endorsement(_Signed):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="endorsements")
    endorser = models.CharField(max_length=42, help_text="Checksummed address")
    weight = models.CharField(max_length=80, help_text="Voting power at the reference block (decimal)")
    block = models.PositiveBigIntegerField(help_text="The reference block the weight was read at")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["proposal", "round", "revision", "endorser"],
                                               name="endorsement_once_per_revision")]

    def __str__(self) -> str:
        return f"{self.endorser} endorses #{self.proposal_id}"


class TechnicalReview(_Signed):
    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.CharField(max_length=42, help_text="Checksummed address of a core developer")
    approve = models.BooleanField()
    comment = models.TextField()

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["proposal", "round", "revision", "reviewer"],
                                               name="review_once_per_revision")]

    def __str__(self) -> str:
        return f"{self.reviewer} {'approves' if self.approve else 'rejects'} #{self.proposal_id}"


class StatusChange(_Immutable):
    """One entry of the status timeline (also archived as proposal.status_changed)."""

    proposal = models.ForeignKey(Proposal, on_delete=models.CASCADE, related_name="status_changes")
    from_status = models.CharField(max_length=32, choices=ProposalStatus.choices, blank=True)
    to_status = models.CharField(max_length=32, choices=ProposalStatus.choices)
    actor = models.CharField(max_length=32, help_text="author | staff | core_developer | system")
    actor_address = models.CharField(max_length=42, blank=True)
    reason = models.TextField(blank=True)
    archive_sequence = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"#{self.proposal_id} {self.from_status} → {self.to_status}"
