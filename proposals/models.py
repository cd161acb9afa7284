"""Improvement proposals (SNIP-style)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ProposalKind(models.TextChoices):
    OS_UPGRADE = "os_upgrade", "OS upgrade"
    PARAMETER_CHANGE = "parameter_change", "Parameter change"
    TREASURY_GRANT = "treasury_grant", "Treasury / public-goods grant"
    PROCESS = "process", "Process (meta)"
    INFORMATIONAL = "informational", "Informational"


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    DISCUSSION = "discussion", "Discussion"
    ENDORSEMENT = "endorsement", "Endorsement"
    TECHNICAL_REVIEW = "technical_review", "Technical review"
    VOTING = "voting", "Voting"
    PASSED = "passed", "Passed"
    REJECTED = "rejected", "Rejected"
    QUORUM_NOT_MET = "quorum_not_met", "Quorum not met"
    QUEUED = "queued", "Queued"
    EXECUTED = "executed", "Executed"
    VETOED = "vetoed", "Vetoed"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Proposal(models.Model):
    number = models.PositiveIntegerField(unique=True, help_text="Public proposal number (SNIP-style)")
    title = models.CharField(max_length=200)
    kind = models.CharField(max_length=32, choices=ProposalKind.choices)
    status = models.CharField(max_length=32, choices=ProposalStatus.choices, default=ProposalStatus.DRAFT)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="proposals")
    body = models.TextField(help_text="Markdown; rendered sanitised")
    payload = models.JSONField(default=dict, blank=True, help_text="Typed payload of executable kinds")
    discussion_url = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-number"]
        indexes = [models.Index(fields=["status", "kind"]), models.Index(fields=["-created_at"])]

    def __str__(self) -> str:
        return f"#{self.number} {self.title}"
