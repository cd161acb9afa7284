from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from accounts.models import SignInNonce, User


@admin.register(User)
class UserAdmin(admin.ModelAdmin):
    """Read-mostly: users come into being by signing in with their wallet.

    Staff may edit the display name and the staff/active flags; the address (the identity) is
    fixed, and users are neither added nor deleted here (deleting would orphan their history).
    """

    list_display = ["address", "display_name", "is_staff", "is_active", "date_joined", "last_login"]
    list_filter = ["is_staff", "is_active", "is_superuser"]
    search_fields = ["address", "display_name"]
    ordering = ["-date_joined"]
    fields = ["address", "display_name", "is_staff", "is_active", "is_superuser", "date_joined", "last_login"]
    readonly_fields = ["address", "is_superuser", "date_joined", "last_login"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: User | None = None) -> bool:
        return False


@admin.register(SignInNonce)
class SignInNonceAdmin(admin.ModelAdmin):
    """Read-only audit of issued sign-in messages (deletable, e.g. to clean up)."""

    list_display = ["nonce", "address", "chain_id", "issued_at", "expires_at", "used_at"]
    list_filter = [("used_at", admin.EmptyFieldListFilter), "chain_id"]
    search_fields = ["address", "nonce"]
    date_hierarchy = "issued_at"
    readonly_fields = ["nonce", "address", "chain_id", "issued_at", "expires_at", "used_at", "message"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: SignInNonce | None = None) -> bool:
        return False
