"""Read-only admin views of delegation: statements are signed and immutable, the directory is derived,
relays are the relayer's record. Staff look; nobody edits here."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from delegation.models import Delegate, DelegateStatement, RelayedDelegation


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(DelegateStatement)
class DelegateStatementAdmin(_ReadOnly):
    list_display = ["delegate", "version", "display_name", "created_at", "archive_sequence"]
    search_fields = ["delegate", "display_name"]


@admin.register(Delegate)
class DelegateAdmin(_ReadOnly):
    list_display = ["address", "display_name", "voting_power", "delegator_count", "participation_bps", "power_block"]
    search_fields = ["address", "display_name"]


@admin.register(RelayedDelegation)
class RelayedDelegationAdmin(_ReadOnly):
    list_display = ["id", "holder", "delegatee", "status", "tx_hash", "relayer_nonce", "created_at"]
    list_filter = ["status"]
    search_fields = ["holder", "delegatee", "tx_hash"]
