"""Read-only admin views of the execution engine (every change goes through execution.engine / vetoes)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin

from execution.models import ChainTransaction, Execution, SenderNonce, VetoSignature


class _ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(Execution)
class ExecutionAdmin(_ReadOnly):
    list_display = ("proposal", "state", "eta", "attempts", "failure_code", "updated_at")
    list_filter = ("state",)


@admin.register(ChainTransaction)
class ChainTransactionAdmin(_ReadOnly):
    list_display = ("tx_hash", "execution", "purpose", "attempt", "sender", "nonce", "state", "block_number")
    list_filter = ("purpose", "state")


@admin.register(VetoSignature)
class VetoSignatureAdmin(_ReadOnly):
    list_display = ("execution", "member", "created_at", "archive_sequence")


@admin.register(SenderNonce)
class SenderNonceAdmin(_ReadOnly):
    list_display = ("address", "next_nonce", "updated_at")
