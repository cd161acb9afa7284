"""The chain index: what the indexer (chain.indexer) keeps of the chain, read by chain.selectors.

Conventions (the boundary normalises; everything inside the index follows them):

* Addresses are stored in **lower case** ("0x" + 40 lower-case hex digits), in every table and in
  ContractEvent.args. chain.selectors accepts any case (a mixed-case address must be a valid EIP-55
  checksum) and returns EIP-55 checksummed addresses.
* 256-bit integers (balances, votes, total supply) are NUMERIC(78,0) on PostgreSQL (Uint256Field);
  inside ContractEvent.args JSON every integer is a decimal string (JSON numbers lose precision past 2**53).
* Block hashes, transaction hashes, topics and data are 0x-prefixed lower-case hex.
* A checkpoint row (account, block, value) is the value at the *end* of `block`; the value at block B is
  the row with the greatest block <= B (one seek in the (account, block DESC) unique index), 0 / no
  delegate when there is none — the same convention as ERC20Votes' getPastVotes / getPastTotalSupply.
  On PostgreSQL those unique indexes also INCLUDE the value (migration 0002): the seek reads the index only.
* On SQLite the 256-bit columns hold decimal text: compare and sum them in Python, not in SQL.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.db.models import F

UINT256_DIGITS = 78  # 2**256 - 1 has 78 decimal digits
DEFAULT_STATE = "default"


class Uint256Field(models.Field):
    """An unsigned 256-bit integer, read and written as a Python int.

    PostgreSQL (production, tests): NUMERIC(78,0) — exactly DecimalField(max_digits=78, decimal_places=0).
    SQLite (the embedded dev default) has no exact type that wide (its NUMERIC affinity turns integers
    past 2**63 into doubles), so there the value is stored as its decimal text; the index never compares
    or sums these columns in SQL, so text is enough for the dev portal.
    """

    description = "Unsigned 256-bit integer"

    def db_type(self, connection: Any) -> str:
        if connection.vendor == "sqlite":
            return "text"
        return f"numeric({UINT256_DIGITS}, 0)"

    def get_prep_value(self, value: Any) -> int | None:
        value = super().get_prep_value(value)
        return None if value is None else int(value)

    def get_db_prep_value(self, value: Any, connection: Any, prepared: bool = False) -> Any:
        value = value if prepared else self.get_prep_value(value)
        if value is None:
            return None
        return str(value) if connection.vendor == "sqlite" else Decimal(value)

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> int | None:
        return None if value is None else int(value)

    def to_python(self, value: Any) -> int | None:
        return None if value is None else int(value)


class IndexerState(models.Model):
    """The indexer's cursor and health: one row (name "default").

    head_block/head_hash move only inside the transaction that writes a range's rows, with a
    compare-and-set on head_block (chain.services.commit_range / rewind), so a crashed or duplicate
    worker can neither lose nor double a range. The other fields are status, written outside it.
    """

    name = models.CharField(max_length=40, primary_key=True, default=DEFAULT_STATE)
    contracts = models.JSONField(default=dict, help_text="Watched contracts: name -> lower-case address")
    start_block = models.BigIntegerField(help_text="First block indexed (the earliest deployment block)")
    head_block = models.BigIntegerField(help_text="Last block fully indexed (start_block - 1 before any)")
    head_hash = models.CharField(max_length=66, blank=True, help_text="Hash of head_block as indexed")
    chain_block = models.BigIntegerField(null=True, blank=True, help_text="Chain head when last seen")
    checked_at = models.DateTimeField(null=True, blank=True, help_text="Last successful poll of the node")
    last_advanced_at = models.DateTimeField(null=True, blank=True, help_text="When head_block last moved up")
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    failures = models.PositiveIntegerField(default=0, help_text="Consecutive failed runs (0 when healthy)")
    retry_at = models.DateTimeField(null=True, blank=True, help_text="Backoff: no run before this time")
    reorgs = models.PositiveIntegerField(default=0)
    last_reorg_at = models.DateTimeField(null=True, blank=True)
    last_reorg_depth = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"indexer {self.name} at block {self.head_block}"


class IndexedBlock(models.Model):
    """Hash of an indexed block: every block with events, each range's last block and the recent blocks
    (within chain.indexer.REORG_WINDOW of the chain head); used to detect reorgs and find the fork point."""

    number = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=66)
    parent_hash = models.CharField(max_length=66)
    timestamp = models.BigIntegerField(help_text="Unix seconds")
    has_events = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"block {self.number} {self.hash}"


class ContractEvent(models.Model):
    """One log of a watched contract (token, executor, core state, anchor), raw and decoded.

    args: the decoded arguments by ABI name; addresses lower case, integers as decimal strings, bytes as
    0x hex, tuples as objects by component name. Indexed dynamic arguments (string/bytes/arrays) are
    the topic hash (0x hex), as Solidity logs them.
    """

    contract = models.CharField(max_length=64, help_text='Artifact name, e.g. "GovernanceToken"')
    event = models.CharField(max_length=64, help_text='Event name, e.g. "Transfer"')
    address = models.CharField(max_length=42, help_text="Emitting contract (lower case)")
    block_number = models.BigIntegerField()
    block_hash = models.CharField(max_length=66)
    block_timestamp = models.BigIntegerField(help_text="Unix seconds")
    tx_hash = models.CharField(max_length=66)
    tx_index = models.IntegerField()
    log_index = models.IntegerField()
    topics = models.JSONField(help_text="Raw topics (0x hex)")
    data = models.TextField(help_text="Raw data (0x hex)")
    args = models.JSONField(help_text="Decoded arguments")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["block_hash", "log_index"], name="chain_event_block_log_uniq"),
        ]
        indexes = [models.Index(fields=["contract", "event", "block_number"], name="chain_event_name_block")]

    def __str__(self) -> str:
        return f"{self.contract}.{self.event} @ {self.block_number}:{self.log_index}"


class BalanceCheckpoint(models.Model):
    """Token balance of `account` at the end of `block` (from Transfer events)."""

    account = models.CharField(max_length=42)
    block = models.BigIntegerField()
    balance = Uint256Field()

    class Meta:
        constraints = [
            models.UniqueConstraint(F("account"), F("block").desc(), name="chain_balance_account_block"),
        ]
        indexes = [models.Index(fields=["block"], name="chain_balance_block")]

    def __str__(self) -> str:
        return f"balance {self.account} @ {self.block} = {self.balance}"


class DelegateCheckpoint(models.Model):
    """Delegate chosen by `account` as of the end of `block` (from DelegateChanged); NULL = none / zero address."""

    account = models.CharField(max_length=42)
    block = models.BigIntegerField()
    # NULL = no delegate (never chosen, or the zero address): a real absence, not an empty address
    delegate = models.CharField(max_length=42, null=True, blank=True)  # noqa: DJ001

    class Meta:
        constraints = [
            models.UniqueConstraint(F("account"), F("block").desc(), name="chain_delegate_account_block"),
        ]
        indexes = [
            models.Index(fields=["delegate", "block"], name="chain_delegate_delegate"),
            models.Index(fields=["block"], name="chain_delegate_block"),
        ]

    def __str__(self) -> str:
        return f"delegate {self.account} @ {self.block} = {self.delegate}"


class VotesCheckpoint(models.Model):
    """Delegated votes of `account` at the end of `block`: the last DelegateVotesChanged.newVotes of that block."""

    account = models.CharField(max_length=42)
    block = models.BigIntegerField()
    votes = Uint256Field()

    class Meta:
        constraints = [
            models.UniqueConstraint(F("account"), F("block").desc(), name="chain_votes_account_block"),
        ]
        indexes = [models.Index(fields=["block"], name="chain_votes_block")]

    def __str__(self) -> str:
        return f"votes {self.account} @ {self.block} = {self.votes}"


class SupplyCheckpoint(models.Model):
    """Total supply at the end of `block` (from mints and burns) == getPastTotalSupply(block)."""

    block = models.BigIntegerField()
    total_supply = Uint256Field()

    class Meta:
        constraints = [
            models.UniqueConstraint(F("block").desc(), name="chain_supply_block"),
        ]

    def __str__(self) -> str:
        return f"supply @ {self.block} = {self.total_supply}"


class LatestVotes(models.Model):
    """Each account's last two votes checkpoints, kept by the indexer in the same transaction as the
    checkpoints (chain.services.refresh_latest_votes; recomputed from the remaining checkpoints after a
    rollback). Derived data: always equal to what VotesCheckpoint says.

    Votes of `account` at block B from this row alone: `votes` if block <= B; else 0 if there is no earlier
    checkpoint (prev_block NULL); else `prev_votes` if prev_block <= B; else only the history knows (an
    account that changed twice or more after B). voting_power_many reads it so that a lookup at a recent
    block is a primary-key join instead of a pass over the history.
    """

    account = models.CharField(max_length=42, primary_key=True)
    block = models.BigIntegerField(help_text="Block of the latest votes checkpoint")
    votes = Uint256Field()
    prev_block = models.BigIntegerField(null=True, blank=True, help_text="Block of the one before (NULL: none)")
    prev_votes = Uint256Field(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["block"], name="chain_latestvotes_block")]

    def __str__(self) -> str:
        return f"latest votes {self.account} @ {self.block} = {self.votes}"
