"""Reads of proposals."""

from __future__ import annotations

from django.db.models import QuerySet

from proposals.models import Proposal


def recent_proposals(limit: int = 10) -> QuerySet[Proposal]:
    return Proposal.objects.select_related("author").order_by("-created_at")[:limit]
