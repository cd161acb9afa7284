"""Delegation: signed delegate statements, the directory's derived rows and relayed delegations.

* DelegateStatement — one signed version of a delegate's statement. Immutable (append-only, like the
  archive): publishing again adds a version; the latest version is the current statement.
* Delegate — the directory: one row per delegate (an address with a statement or with delegated
  votes > 0), denormalised from the indexer's checkpoints by delegation.directory.refresh_* so the
  directory can sort, search and page 20,000 delegates from one indexed table.
* RelayedDelegation — a holder's signed `delegateBySig` submitted by the portal's relayer:
  requested → submitted (tx hash, relayer nonce) → confirmed | failed (with a reason).
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import models

from govapp.errors import ConflictError

UINT256_DIGITS = 78  # 2**256 - 1 has 78 decimal digits


class ImmutableRowError(ConflictError):
    code = "immutable_statement"


class DelegateStatement(models.Model):
    """One version of a delegate statement, exactly as signed (EIP-712 DelegateStatement)."""

    delegate = models.CharField(max_length=42, help_text="EIP-55 checksummed address that signed")
    version = models.PositiveIntegerField(help_text="1, 2, 3, ... per delegate")
    display_name = models.CharField(max_length=80)
    statement = models.TextField(help_text="Markdown source, as signed")
    statement_html = models.TextField(help_text="The Markdown rendered and sanitised with nh3")
    interests = models.JSONField(default=list, help_text="Interest tag slugs (delegation.constants.INTERESTS)")
    links = models.JSONField(default=list, help_text="http(s) URLs")
    signed_timestamp = models.PositiveBigIntegerField(help_text="The message's timestamp (unix seconds)")
    typed_data = models.JSONField(help_text="The EIP-712 typed data, verbatim")
    signature = models.CharField(max_length=1024)
    digest = models.CharField(max_length=66, unique=True, help_text="EIP-712 digest: the message id")
    contract_wallet = models.BooleanField(default=False, help_text="Verified by EIP-1271 rather than ecrecover")
    archive_sequence = models.BigIntegerField(null=True, blank=True, help_text="Its Foundation archive entry")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delegate", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["delegate", "version"], name="delegation_statement_version_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.display_name} ({self.delegate}) v{self.version}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableRowError("Statement versions are immutable: publish a new version instead.")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        raise ImmutableRowError("Statement versions are kept forever: they cannot be deleted.")


class Delegate(models.Model):
    """A directory row, derived from statements and the indexer's checkpoints (never edited by hand)."""

    address = models.CharField(max_length=42, unique=True, help_text="EIP-55 checksummed address")
    display_name = models.CharField(max_length=80, blank=True, help_text="From the latest statement")
    name_key = models.CharField(max_length=96, help_text="Sort key: '0'+casefolded name, or '1'+address")
    search_text = models.CharField(max_length=130, help_text="casefolded name and lowercase address")
    interests = models.JSONField(default=list, blank=True)
    statement = models.ForeignKey(DelegateStatement, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+", help_text="The latest statement version")
    voting_power = models.DecimalField(max_digits=UINT256_DIGITS, decimal_places=0, default=0)
    delegator_count = models.PositiveIntegerField(default=0)
    first_power_block = models.PositiveBigIntegerField(null=True, blank=True,
                                                       help_text="First block with votes > 0")
    votes_cast = models.PositiveIntegerField(default=0)
    participation_bps = models.PositiveIntegerField(null=True, blank=True,
                                                    help_text="Votes cast / proposals held power in (bps)")
    last_vote_at = models.DateTimeField(null=True, blank=True)
    power_block = models.PositiveBigIntegerField(default=0, help_text="Block the power figures are as of")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-voting_power", "address"]
        # One index per sort key, ending with the (unique) address: a page's addresses come from an
        # index-only scan however deep the page is (delegation.selectors.page_of).
        indexes = [
            models.Index(fields=["-voting_power", "address"], name="delegation_dir_power"),
            models.Index(fields=["-delegator_count", "address"], name="delegation_dir_delegators"),
            models.Index(fields=["name_key", "address"], name="delegation_dir_name"),
        ]

    def __str__(self) -> str:
        return self.display_name or self.address

    @staticmethod
    def keys_for(address: str, display_name: str) -> tuple[str, str]:
        """(name_key, search_text) of a row: named delegates sort first, by name, then the unnamed by address."""
        name = display_name.casefold()
        name_key = ("0" + name)[:95] if name else "1" + address.lower()
        return name_key, f"{name} {address.lower()}".strip()[:130]


class RelayStatus(models.TextChoices):
    REQUESTED = "requested", "Requested"
    SUBMITTED = "submitted", "Submitted"
    CONFIRMED = "confirmed", "Confirmed"
    FAILED = "failed", "Failed"


class RelayedDelegation(models.Model):
    """A holder's delegateBySig signature, submitted on chain by the portal's relayer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chain_id = models.PositiveBigIntegerField()
    token_address = models.CharField(max_length=42)
    holder = models.CharField(max_length=42, db_index=True, help_text="The signer, checksummed")
    delegatee = models.CharField(max_length=42, help_text="Checksummed")
    token_nonce = models.DecimalField(max_digits=UINT256_DIGITS, decimal_places=0)
    expiry = models.DecimalField(max_digits=UINT256_DIGITS, decimal_places=0, help_text="Unix seconds")
    typed_data = models.JSONField(help_text="The token's Delegation typed data, as signed")
    signature = models.CharField(max_length=132)
    status = models.CharField(max_length=16, choices=RelayStatus.choices, default=RelayStatus.REQUESTED)
    relayer = models.CharField(max_length=42, blank=True, help_text="The sending account")
    relayer_nonce = models.PositiveBigIntegerField(null=True, blank=True, help_text="The relayer's tx nonce")
    tx_hash = models.CharField(max_length=66, blank=True)
    raw_tx = models.TextField(blank=True, help_text="The signed transaction, kept to rebroadcast")
    block_number = models.PositiveBigIntegerField(null=True, blank=True)
    failure_code = models.CharField(max_length=48, blank=True)
    failure_reason = models.TextField(blank=True)
    track_attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="delegation_relay_status"),
            models.Index(fields=["relayer", "relayer_nonce"], name="delegation_relay_sender"),
        ]
        constraints = [
            # One live relay per signature nonce: the same delegateBySig is never sent twice.
            models.UniqueConstraint(fields=["chain_id", "token_address", "holder", "token_nonce"],
                                    condition=~models.Q(status="failed"), name="delegation_relay_one_live"),
        ]

    def __str__(self) -> str:
        return f"relay {self.id} {self.holder} → {self.delegatee} ({self.status})"

    @property
    def is_final(self) -> bool:
        return self.status in (RelayStatus.CONFIRMED, RelayStatus.FAILED)
