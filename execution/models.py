"""The execution of a passed proposal on the UpgradeExecutor, its transactions, the per-key nonces and the
security council's veto signatures.

* Execution — one per proposal that passed: the frozen action list, the on-chain proposal id, the tally
  digest, the state (see execution.engine for the state machine), the ETA read back from the contract,
  the failure reason and what the core contract reads after the upgrade.
* ChainTransaction — one signed transaction the engine made (schedule, execute or cancel): persisted with
  its hash, nonce and raw bytes BEFORE it is broadcast, then followed signed → sent → mined → confirmed
  (or reverted / replaced / dropped). At most one is in flight per execution (a partial unique index).
* SenderNonce — one row per sending key; locked (SELECT … FOR UPDATE) while a nonce is chosen and the
  transaction persisted, so the workers' sends of one key are serialized.
* VetoSignature — one accepted EIP-712 Veto of a council member (typed data and signature verbatim).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from proposals.models import Proposal


class ExecutionState(models.TextChoices):
    PENDING = "pending", "Pending (not yet scheduled)"
    SCHEDULING = "scheduling", "Scheduling"
    QUEUED = "queued", "Queued (timelock)"
    EXECUTING = "executing", "Executing"
    VETOING = "vetoing", "Veto being enacted"
    EXECUTED = "executed", "Executed"
    VETOED = "vetoed", "Vetoed"
    FAILED = "failed", "Failed"


TERMINAL_STATES = frozenset({ExecutionState.EXECUTED, ExecutionState.VETOED, ExecutionState.FAILED})
#: States in which council members may still sign a veto.
VETO_OPEN_STATES = frozenset({ExecutionState.PENDING, ExecutionState.SCHEDULING, ExecutionState.QUEUED})


class Execution(models.Model):
    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, related_name="execution")
    onchain_id = models.CharField(max_length=66, unique=True,
                                  help_text="bytes32 proposal id on the executor (execution.identifiers)")
    tally_digest = models.CharField(max_length=66, help_text="bytes32 digest of the final tally")
    tally = models.JSONField(default=dict, help_text="What the digest covers: merkle_root, totals, archive sequence")
    actions = models.JSONField(default=list, help_text="Frozen executor actions: target, value, data (+ decoded)")
    operation_hash = models.CharField(max_length=66, blank=True, help_text="hashOperation(id, actions, digest)")
    requested = models.JSONField(default=dict, help_text="What the proposal asks the core contract to hold")
    state = models.CharField(max_length=16, choices=ExecutionState.choices, default=ExecutionState.PENDING)
    eta = models.BigIntegerField(null=True, blank=True, help_text="etaOf(id): earliest execution (unix seconds)")
    readback = models.JSONField(null=True, blank=True, help_text="The core contract's values after execution")
    readback_block = models.BigIntegerField(null=True, blank=True)
    readback_matches = models.BooleanField(null=True, blank=True)
    veto_digest = models.CharField(max_length=66, blank=True, help_text="veto_bundle_digest of the enacted veto")
    failure_code = models.CharField(max_length=64, blank=True)
    failure_reason = models.TextField(blank=True)
    # transient problems: retried with backoff
    attempts = models.PositiveIntegerField(default=0, help_text="Consecutive transient failures")
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True, help_text="Not looked at again before this")
    claimed_by = models.CharField(max_length=120, blank=True, help_text="Worker that made the last transaction")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="execution_due")]

    def __str__(self) -> str:
        return f"execution of #{self.proposal.number} ({self.state})"

    @property
    def is_terminal(self) -> bool:
        return self.state in TERMINAL_STATES

    def action_tuples(self) -> list[tuple[str, int, bytes]]:
        """(target, value, data) as UpgradeExecutor.schedule / execute take them."""
        return [(a["target"], int(a["value"]), bytes.fromhex(a["data"][2:])) for a in self.actions]


class TxPurpose(models.TextChoices):
    SCHEDULE = "schedule", "schedule"
    EXECUTE = "execute", "execute"
    CANCEL = "cancel", "cancel (veto)"


class TxState(models.TextChoices):
    SIGNED = "signed", "Signed and stored (not known to be broadcast)"
    SENT = "sent", "Sent (in the node's pool)"
    MINED = "mined", "Mined (waiting for confirmations)"
    CONFIRMED = "confirmed", "Confirmed"
    REVERTED = "reverted", "Reverted"
    REPLACED = "replaced", "Replaced (its nonce was used by another transaction)"
    DROPPED = "dropped", "Dropped (refused by the node; never mined)"


#: A transaction in flight: it may still be mined.
LIVE_TX_STATES = (TxState.SIGNED, TxState.SENT, TxState.MINED)


class ChainTransaction(models.Model):
    execution = models.ForeignKey(Execution, on_delete=models.PROTECT, related_name="transactions")
    purpose = models.CharField(max_length=16, choices=TxPurpose.choices)
    attempt = models.PositiveIntegerField(default=1)
    sender = models.CharField(max_length=42, help_text="Checksummed sending address")
    nonce = models.BigIntegerField(null=True, blank=True)
    tx_hash = models.CharField(max_length=66, unique=True)
    raw_tx = models.TextField(blank=True, help_text="The signed transaction (0x hex); empty for adopted ones")
    gas_limit = models.BigIntegerField(null=True, blank=True)
    max_fee_per_gas = models.DecimalField(max_digits=78, decimal_places=0, null=True, blank=True)
    external = models.BooleanField(default=False, help_text="Found on chain, not sent by the portal")
    state = models.CharField(max_length=16, choices=TxState.choices, default=TxState.SIGNED)
    broadcasts = models.PositiveIntegerField(default=0, help_text="Times the raw transaction was broadcast")
    block_number = models.BigIntegerField(null=True, blank=True)
    block_hash = models.CharField(max_length=66, blank=True)
    gas_used = models.BigIntegerField(null=True, blank=True)
    confirmations = models.PositiveIntegerField(default=0)
    error_code = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    mined_at = models.DateTimeField(null=True, blank=True)
    confirmed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["execution", "purpose", "attempt"], name="execution_tx_attempt_once"),
            # The core of "never two transactions at once": one transaction in flight per execution.
            models.UniqueConstraint(fields=["execution"], condition=Q(state__in=LIVE_TX_STATES),
                                    name="execution_one_live_tx"),
            models.UniqueConstraint(fields=["sender", "nonce"], condition=Q(state__in=LIVE_TX_STATES),
                                    name="execution_live_nonce_once"),
        ]
        indexes = [models.Index(fields=["state"], name="execution_tx_state")]

    def __str__(self) -> str:
        return f"{self.purpose} {self.tx_hash} ({self.state})"

    @property
    def is_live(self) -> bool:
        return self.state in LIVE_TX_STATES


class SenderNonce(models.Model):
    """The nonce book of one sending key. Its row lock serializes the sends of that key."""

    address = models.CharField(max_length=42, primary_key=True, help_text="Checksummed address")
    next_nonce = models.BigIntegerField(default=0, help_text="The nonce after the last one the portal used")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.address} next nonce {self.next_nonce}"


class VetoSignature(models.Model):
    execution = models.ForeignKey(Execution, on_delete=models.PROTECT, related_name="vetoes")
    member = models.CharField(max_length=42, help_text="Checksummed council member address")
    reason = models.TextField()
    signed_timestamp = models.PositiveBigIntegerField()
    digest = models.CharField(max_length=66, unique=True, help_text="EIP-712 digest (the signature's id)")
    typed_data = models.JSONField()
    signature = models.TextField()
    contract_wallet = models.BooleanField(default=False)
    archive_sequence = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["execution", "member"], name="execution_veto_once")]

    def __str__(self) -> str:
        return f"veto of #{self.execution_id} by {self.member}"
