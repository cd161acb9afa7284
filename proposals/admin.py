"""Read-only admin views of proposals: every change goes through proposals.services (and the archive)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from proposals.models import Endorsement, Proposal, Revision, StatusChange, TechnicalReview


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Proposal)
class ProposalAdmin(ReadOnlyAdmin):
    list_display = ["number", "title", "kind", "status", "author", "revision_number", "updated_at"]
    list_filter = ["kind", "status"]
    search_fields = ["title", "author__address"]
    list_select_related = ["author"]


@admin.register(Revision)
class RevisionAdmin(ReadOnlyAdmin):
    list_display = ["proposal", "number", "title", "content_hash", "created_at"]
    list_select_related = ["proposal"]


@admin.register(Endorsement)
class EndorsementAdmin(ReadOnlyAdmin):
    list_display = ["proposal", "endorser", "weight", "block", "round", "created_at"]
    list_select_related = ["proposal"]


@admin.register(TechnicalReview)
class TechnicalReviewAdmin(ReadOnlyAdmin):
    list_display = ["proposal", "reviewer", "approve", "round", "created_at"]
    list_select_related = ["proposal"]


@admin.register(StatusChange)
class StatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["proposal", "from_status", "to_status", "actor", "actor_address", "created_at"]
    list_select_related = ["proposal"]
