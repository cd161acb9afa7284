"""The execution engine: from a passed proposal to its on-chain upgrade, exactly once.

State machine of an Execution (execution.models.ExecutionState); every arrow is taken under the
execution's row lock, in the database transaction that also writes the transaction row / archive entry /
proposal status that goes with it:

    pending ──sign+persist schedule──▶ scheduling ──schedule confirmed──▶ queued          (proposal: Passed → Queued)
    queued ──delay over (state(id) = Ready), claim + sign+persist execute──▶ executing
    executing ──mined, EXECUTION_CONFIRMATIONS deep, state read back──▶ executed            (proposal → Executed)
    queued ──council threshold reached, sign+persist cancel (relay)──▶ vetoing ──confirmed──▶ vetoed  (→ Vetoed)
    scheduling / executing / vetoing ──transaction replaced, dropped for good or harmlessly reverted──▶ back to
        pending / queued: the chain's state(id) is read again and decides (adopt, retry, or fail)
    pending / queued ──permanent refusal (ActionFailed, OperationMismatch, missing role, ...) or
        EXECUTION_MAX_ATTEMPTS transient failures with nothing in flight──▶ failed           (proposal → Failed)

The chain is the source of truth: before sending anything the engine reads UpgradeExecutor.state(id); a
proposal already Executed or Cancelled on chain (by a lost worker of ours, or by a guardian acting
directly) is adopted from its event log, never sent again.

Entry points: create_execution(proposal), queue_passed(), advance(execution_id) (idempotent: run it as
often as you like, from as many workers as you like), due_executions().
"""

from __future__ import annotations

import datetime
import logging
from datetime import timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address
from web3 import Web3
from web3.exceptions import TimeExhausted, Web3RPCError
from web3.logs import DISCARD

from archive import kinds
from archive.models import ArchiveEntry
from archive.services import record
from chain.client import get_deployment
from chain.deploy import bytes32_name
from execution import conf, sender
from execution.identifiers import cancel_reason, proposal_onchain_id, tally_digest, veto_bundle_digest
from execution.models import (
    TERMINAL_STATES,
    ChainTransaction,
    Execution,
    ExecutionState,
    TxPurpose,
    TxState,
)
from execution.sender import Refused, TransientError
from govapp.errors import ConflictError, DomainError
from proposals import services as proposal_services
from proposals.lifecycle import EXECUTABLE_KINDS, ProposalKind, ProposalStatus
from proposals.models import Proposal
from proposals.parameters import PARAMETERS
from proposals.payloads import compile_actions, parse_tokens

log = logging.getLogger(__name__)

E = ExecutionState
#: UpgradeExecutor.ProposalState
ONCHAIN_UNKNOWN, ONCHAIN_SCHEDULED, ONCHAIN_READY, ONCHAIN_EXECUTED, ONCHAIN_CANCELLED = range(5)
ONCHAIN_STATE_NAMES = {0: "Unknown", 1: "Scheduled", 2: "Ready", 3: "Executed", 4: "Cancelled"}
#: The state an execution goes back to when its transaction of that purpose is gone for good.
BASE_STATE = {TxPurpose.SCHEDULE: E.PENDING, TxPurpose.EXECUTE: E.QUEUED, TxPurpose.CANCEL: E.QUEUED}
IN_FLIGHT_STATE = {TxPurpose.SCHEDULE: E.SCHEDULING, TxPurpose.EXECUTE: E.EXECUTING, TxPurpose.CANCEL: E.VETOING}
PURPOSE_OF_STATE = {v: k for k, v in IN_FLIGHT_STATE.items()}
#: Transactions of one purpose the engine signs for one execution before giving up (replaced, dropped, ...).
MAX_TX_ATTEMPTS = 5
#: Refused re-broadcasts of a dropped transaction before it is written off (its nonce then gets a new one).
MAX_REBROADCASTS = 5
#: Errors of execute() that no retry can fix.
PERMANENT_EXECUTE_ERRORS = {"ActionFailed", "OperationMismatch", "UnknownProposal",
                            "AccessControlUnauthorizedAccount"}
#: Longest wait between two looks at a queued proposal (the chain's clock may jump, e.g. evm_increaseTime).
QUEUED_RECHECK_SECONDS = 60


class Wait(Exception):
    """Nothing more to do now; look again in `seconds`."""

    def __init__(self, seconds: float, note: str = "") -> None:
        super().__init__(note)
        self.seconds = seconds
        self.note = note


# --------------------------------------------------------------------------- creating


def final_tally(proposal: Proposal) -> dict[str, Any]:
    """The proposal's final tally as archived (TALLY_FINAL): merkle_root, for, against, abstain, sequence.

    The archive entry is what anyone can verify offline, so the digest commits to it; the voting app's
    Tally row, when closed, must agree.
    """
    entry = (ArchiveEntry.objects.filter(kind=kinds.TALLY_FINAL, proposal_ref=proposal.ref)
             .order_by("-sequence").first())
    if entry is None:
        raise ConflictError(f"Proposal {proposal.number} has no final tally in the archive.", code="no_final_tally")
    payload = entry.payload
    root = payload.get("merkle_root")
    if not isinstance(root, str) or len(root) != 66:
        raise ConflictError(f"The final tally of proposal {proposal.number} has no Merkle root.",
                            code="no_merkle_root")
    if payload.get("outcome") not in (None, ProposalStatus.PASSED):
        raise ConflictError(f"The final tally of proposal {proposal.number} says {payload.get('outcome')}.",
                            code="not_passed")
    totals = {name: int(payload["totals"][name]) for name in ("for", "against", "abstain")}
    from voting.models import Tally

    tally = Tally.objects.filter(proposal=proposal, closed_at__isnull=False).first()
    if tally is not None:
        ours = {"for": int(tally.for_power), "against": int(tally.against_power), "abstain": int(tally.abstain_power)}
        if ours != totals or tally.merkle_root.lower() != root.lower():
            raise ConflictError(f"The voting tally of proposal {proposal.number} differs from its archived final "
                                "tally.", code="tally_mismatch")
    return {"merkle_root": root.lower(), **{k: str(v) for k, v in totals.items()}, "archive_sequence": entry.sequence}


def operation_hash(onchain_id: str, actions: list[tuple[str, int, bytes]], digest: str) -> str:
    """UpgradeExecutor.hashOperation, computed locally: keccak256(abi.encode(id, actions, tallyDigest))."""
    encoded = abi_encode(["bytes32", "(address,uint256,bytes)[]", "bytes32"],
                         [bytes.fromhex(onchain_id[2:]), [(to_checksum_address(t), int(v), bytes(d))
                                                          for t, v, d in actions], bytes.fromhex(digest[2:])])
    return "0x" + keccak(encoded).hex()


def requested_state(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    """What the proposal asks the chain to hold afterwards (compared with the read-back state)."""
    if kind == ProposalKind.OS_UPGRADE:
        return {"program_hash": payload["program_hash"].lower(), "config_hash": payload["config_hash"].lower(),
                "os_version": payload["os_version"]}
    if kind == ProposalKind.PARAMETER_CHANGE:
        values = {}
        for change in payload["changes"]:
            parameter = PARAMETERS[change["name"]]
            value = (parse_tokens(change["value"], "value", "invalid_parameter_value") if parameter.type == "tokens"
                     else int(change["value"]))
            values[change["name"]] = str(value)
        return {"parameters": values}
    if kind == ProposalKind.TREASURY_GRANT:
        return {"recipient": to_checksum_address(payload["recipient"]),
                "amount": str(parse_tokens(payload["amount"], "amount", "invalid_amount"))}
    return {}


def create_execution(proposal: Proposal | int) -> Execution:
    """The Execution of a Passed, executable proposal: actions frozen, ids computed. Idempotent."""
    if not isinstance(proposal, Proposal):
        proposal = Proposal.objects.get(number=int(proposal))
    existing = Execution.objects.filter(proposal=proposal).first()
    if existing is not None:
        return existing
    if proposal.status != ProposalStatus.PASSED:
        raise ConflictError(f"Proposal {proposal.number} is {proposal.get_status_display()}, not Passed.",
                            code="not_passed")
    if proposal.kind not in EXECUTABLE_KINDS:
        raise ConflictError(f"Proposal {proposal.number} has no on-chain action.", code="not_executable")
    tally = final_tally(proposal)
    actions = compile_actions(proposal.kind, proposal.payload, get_deployment())
    onchain_id = proposal_onchain_id(proposal.number)
    digest = tally_digest(tally["merkle_root"], int(tally["for"]), int(tally["against"]), int(tally["abstain"]))
    frozen = [a.as_dict() for a in actions]
    op_hash = operation_hash(onchain_id, [a.as_tuple() for a in actions], digest)
    try:
        with transaction.atomic():
            return Execution.objects.create(
                proposal=proposal, onchain_id=onchain_id, tally_digest=digest, tally=tally, actions=frozen,
                operation_hash=op_hash, requested=requested_state(proposal.kind, proposal.payload),
                next_attempt_at=timezone.now())
    except IntegrityError:
        return Execution.objects.get(proposal=proposal)


def queue_passed() -> list[int]:
    """Create the executions of every Passed executable proposal that has none (the beat task)."""
    created = []
    numbers = (Proposal.objects.filter(status=ProposalStatus.PASSED, kind__in=list(EXECUTABLE_KINDS),
                                       execution__isnull=True).order_by("number").values_list("number", flat=True))
    for number in numbers:
        try:
            created.append(create_execution(number).pk)
        except DomainError as exc:
            log.warning("proposal %s cannot be queued yet: %s (%s)", number, exc.message, exc.code)
    return created


def due_executions(now: Any = None) -> list[int]:
    now = now or timezone.now()
    from django.db.models import Q

    return list(Execution.objects.exclude(state__in=TERMINAL_STATES)
                .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
                .order_by("next_attempt_at", "pk").values_list("pk", flat=True))


# --------------------------------------------------------------------------- advancing


@lru_cache(maxsize=8)
def _web3_for(url: str, timeout: float) -> Web3:
    # No retries inside web3: a worker fails fast and the engine backs off (Execution.next_attempt_at).
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None))


def engine_web3() -> Web3:
    """The engine's client for CHAIN_RPC_URL (like chain.client.get_web3, without web3's own retry loop)."""
    return _web3_for(settings.CHAIN_RPC_URL, settings.CHAIN_RPC_TIMEOUT)


class _Chain:
    """The web3 client and contracts for one advance() run."""

    def __init__(self, w3: Web3 | None = None) -> None:
        try:
            self.deployment = get_deployment()
            self.w3 = w3 or engine_web3()
        except DomainError as exc:
            raise TransientError(exc.message, code=exc.code) from exc
        self.executor = self.deployment.executor(self.w3)

    def onchain_state(self, execution: Execution) -> int:
        try:
            return int(self.executor.functions.state(execution.onchain_id).call())
        except sender.TRANSIENT_EXCEPTIONS as exc:
            raise sender.transient(exc, "reading the executor's state") from exc
        except Exception as exc:  # a node answering garbage, a missing contract (chain reset)
            raise TransientError(f"reading the executor's state: {type(exc).__name__}: {exc}",
                                 code="rpc_error") from exc

    def find_event(self, event: str, onchain_id: str) -> Any | None:
        contract_event = getattr(self.executor.events, event)()
        try:
            logs = contract_event.get_logs(argument_filters={"proposalId": bytes.fromhex(onchain_id[2:])},
                                           from_block=self.deployment.block("UpgradeExecutor"))
        except sender.TRANSIENT_EXCEPTIONS as exc:
            raise sender.transient(exc, f"reading {event} logs") from exc
        return logs[0] if logs else None

    def block_timestamp(self) -> int:
        try:
            return int(self.w3.eth.get_block("latest")["timestamp"])
        except sender.TRANSIENT_EXCEPTIONS as exc:
            raise sender.transient(exc, "reading the latest block") from exc


def advance(execution_id: int, *, w3: Web3 | None = None, max_steps: int = 8) -> Execution:
    """Take the execution as far as it can go now. Safe to run concurrently and repeatedly."""
    execution = Execution.objects.get(pk=execution_id)
    if execution.is_terminal:
        return execution
    try:
        chain = _Chain(w3)
        for _ in range(max_steps):
            execution.refresh_from_db()
            if execution.is_terminal:
                break
            _step(execution, chain)
        else:
            _wait(execution.pk, conf.poll_seconds())
    except Wait as wait:
        _wait(execution_id, wait.seconds, wait.note)
    except TransientError as exc:
        _transient(execution_id, exc)
    except sender.TRANSIENT_EXCEPTIONS as exc:
        _transient(execution_id, sender.transient(exc, "the node did not answer"))
    except Web3RPCError as exc:
        _transient(execution_id, TransientError(f"the node answered with an error: {exc}", code="rpc_error"))
    return Execution.objects.get(pk=execution_id)


def _step(execution: Execution, chain: _Chain) -> None:
    """One move of the state machine; returns to be called again, or raises Wait."""
    tx = sender.live_transaction(execution)
    if tx is not None:
        return _follow(execution, tx, chain)
    if execution.state in PURPOSE_OF_STATE:
        return _recover_in_flight(execution, chain)
    if execution.state == E.PENDING:
        return _schedule(execution, chain)
    if execution.state == E.QUEUED:
        return _queued(execution, chain)
    raise Wait(conf.poll_seconds())


def _recover_in_flight(execution: Execution, chain: _Chain) -> None:
    """An in-flight state without a live transaction: its transaction's end was recorded, the state's not
    (a worker died between the two) — or it was written off. Decide again from the latest transaction."""
    purpose = PURPOSE_OF_STATE[execution.state]
    last = execution.transactions.filter(purpose=purpose).order_by("-id").first()
    if last is not None and last.state == TxState.CONFIRMED:
        receipt = chain.w3.eth.get_transaction_receipt(last.tx_hash)
        return _on_confirmed(execution, last, receipt, chain)
    _back_to_base(execution, purpose, f"the {purpose} transaction is gone; reading the chain again")


def _back_to_base(execution: Execution, purpose: str, note: str) -> None:
    Execution.objects.filter(pk=execution.pk, state=IN_FLIGHT_STATE[purpose]).update(
        state=BASE_STATE[purpose], last_error=note[:2000], last_error_at=timezone.now(), updated_at=timezone.now())


# --------------------------------------------------------------------------- schedule


def _adopt_or_fail_schedule(execution: Execution, chain: _Chain) -> None:
    """The executor already knows this id: adopt it when it is exactly our operation."""
    scheduled_hash = "0x" + bytes(chain.executor.functions.operationHashOf(execution.onchain_id).call()).hex()
    if scheduled_hash != execution.operation_hash:
        return _fail(execution, "operation_mismatch",
                     f"The executor already holds proposal id {execution.onchain_id} with operation hash "
                     f"{scheduled_hash}, not ours ({execution.operation_hash}).")
    event = chain.find_event("ProposalScheduled", execution.onchain_id)
    if event is None:
        raise TransientError("the executor knows the proposal but its ProposalScheduled log is not found yet",
                             code="log_not_found")
    tx = sender.adopt_external(execution, TxPurpose.SCHEDULE, event, chain.w3)
    Execution.objects.filter(pk=execution.pk, state=E.PENDING).update(state=E.SCHEDULING)
    execution.refresh_from_db()
    receipt = chain.w3.eth.get_transaction_receipt(tx.tx_hash)
    _on_confirmed(execution, tx, receipt, chain)


def _schedule(execution: Execution, chain: _Chain) -> None:
    onchain = chain.onchain_state(execution)
    if onchain != ONCHAIN_UNKNOWN:
        return _adopt_or_fail_schedule(execution, chain)
    _check_attempts(execution, TxPurpose.SCHEDULE)
    fn = chain.executor.functions.schedule(execution.onchain_id, execution.action_tuples(), execution.tally_digest)
    try:
        with transaction.atomic():
            claimed = Execution.objects.filter(pk=execution.pk, state=E.PENDING).update(
                state=E.SCHEDULING, claimed_by=sender.worker_id(), updated_at=timezone.now())
            if not claimed or sender.live_transaction(execution) is not None:
                return  # another worker got there first; the loop looks again
            tx = sender.sign_and_persist(chain.w3, execution, TxPurpose.SCHEDULE, fn, conf.executor_key())
    except Refused as refused:
        if refused.name == "AlreadyScheduled":
            return _adopt_or_fail_schedule(execution, chain)
        return _fail(execution, refused.name or "schedule_refused", f"schedule would revert: {refused.description}")
    _broadcast_first(execution, tx, chain)


# --------------------------------------------------------------------------- queued: execute or veto


def _queued(execution: Execution, chain: _Chain) -> None:
    from execution import vetoes

    onchain = chain.onchain_state(execution)
    if onchain == ONCHAIN_EXECUTED:
        return _adopt_final(execution, chain, TxPurpose.EXECUTE, "ProposalExecuted")
    if onchain == ONCHAIN_CANCELLED:
        return _adopt_final(execution, chain, TxPurpose.CANCEL, "ProposalCancelled")
    if onchain == ONCHAIN_UNKNOWN:
        return _fail(execution, "unknown_on_chain",
                     f"The executor does not know proposal id {execution.onchain_id} any more (was the chain reset?).")
    if vetoes.threshold_reached(execution):
        return _cancel(execution, chain)
    if onchain == ONCHAIN_SCHEDULED:
        eta = execution.eta or int(chain.executor.functions.etaOf(execution.onchain_id).call())
        remaining = max(1, eta - chain.block_timestamp())
        raise Wait(min(remaining, QUEUED_RECHECK_SECONDS), f"timelock: {remaining} s to go")
    return _execute(execution, chain)


def _execute(execution: Execution, chain: _Chain) -> None:
    from execution import vetoes

    _check_attempts(execution, TxPurpose.EXECUTE)
    fn = chain.executor.functions.execute(execution.onchain_id, execution.action_tuples(), execution.tally_digest)
    try:
        with transaction.atomic():
            locked = Execution.objects.select_for_update().get(pk=execution.pk)
            if locked.state != E.QUEUED or sender.live_transaction(locked) is not None:
                return
            if vetoes.threshold_reached(locked):
                return  # the loop enacts the veto instead
            # The claim: a conditional UPDATE, in the transaction that signs and persists.
            claimed = Execution.objects.filter(pk=execution.pk, state=E.QUEUED).update(
                state=E.EXECUTING, claimed_by=sender.worker_id(), updated_at=timezone.now())
            if claimed != 1:
                return
            tx = sender.sign_and_persist(chain.w3, locked, TxPurpose.EXECUTE, fn, conf.executor_key())
    except Refused as refused:
        return _execute_refused(execution, chain, refused.name, refused.description)
    _broadcast_first(execution, tx, chain)


def _execute_refused(execution: Execution, chain: _Chain, name: str | None, description: str) -> None:
    if name == "NotReady":
        raise Wait(conf.poll_seconds(), "not ready yet (the chain's clock is behind the ETA)")
    if name in ("AlreadyExecuted", "AlreadyCancelled"):
        return None  # the loop's next look at state(id) adopts what happened
    if name == "OutOfGas":
        raise TransientError(f"execute ran out of gas: {description}", code="out_of_gas")
    return _fail(execution, name or "execute_refused", f"execute would revert: {description}")


def _cancel(execution: Execution, chain: _Chain) -> None:
    from execution import vetoes

    counted = vetoes.counted(execution)
    bundle = veto_bundle_digest([v.digest for v in counted])
    reason = cancel_reason(bundle, len(counted), conf.council_threshold())
    fn = chain.executor.functions.cancel(execution.onchain_id, reason)
    try:
        with transaction.atomic():
            claimed = Execution.objects.filter(pk=execution.pk, state=E.QUEUED).update(
                state=E.VETOING, veto_digest=bundle, claimed_by=sender.worker_id(), updated_at=timezone.now())
            if claimed != 1 or sender.live_transaction(execution) is not None:
                return
            tx = sender.sign_and_persist(chain.w3, execution, TxPurpose.CANCEL, fn, conf.council_relay_key())
    except Refused as refused:
        if refused.name in ("AlreadyExecuted", "AlreadyCancelled"):
            return  # adopted by the next look at state(id)
        # The veto stands (the engine never executes a vetoed proposal) but the relay cannot enact it:
        # keep retrying, loudly; a guardian may also cancel directly, which the engine then adopts.
        raise TransientError(f"the council relay cannot cancel: {refused.description}",
                             code="veto_relay_refused") from refused
    _broadcast_first(execution, tx, chain)


# --------------------------------------------------------------------------- following a transaction


def _broadcast_first(execution: Execution, tx: ChainTransaction, chain: _Chain) -> None:
    result = sender.broadcast(chain.w3, tx, first=True)
    if result.outcome == "transient":
        raise TransientError(result.message, code="broadcast_failed")
    # "sent" or "nonce_too_low": the next step follows the transaction by its hash


def _follow(execution: Execution, tx: ChainTransaction, chain: _Chain) -> None:
    observation = sender.observe(chain.w3, tx, required_confirmations=conf.confirmations(),
                                 abi=chain.executor.abi)
    if observation.kind == "pending" and _await_receipt(chain.w3, tx.tx_hash, conf.receipt_wait_seconds()):
        observation = sender.observe(chain.w3, tx, required_confirmations=conf.confirmations(),
                                     abi=chain.executor.abi)
    kind = observation.kind
    if kind == "confirmed":
        return _on_confirmed(execution, tx, observation.receipt, chain)
    if kind == "mined":
        raise Wait(conf.poll_seconds(), f"{tx.confirmations} of {conf.confirmations()} confirmations")
    if kind == "pending":
        raise Wait(conf.poll_seconds(), "in the node's pool")
    if kind == "reverted":
        return _on_reverted(execution, tx, observation, chain)
    if kind == "replaced":
        return _write_off(execution, tx, TxState.REPLACED, "nonce_conflict", observation.description)
    # dropped: the node does not have it and its nonce is free — broadcast the same bytes again
    result = sender.broadcast(chain.w3, tx)
    if result.outcome == "transient":
        tx.refresh_from_db()
        if "refused" in result.message and tx.broadcasts >= MAX_REBROADCASTS:
            return _write_off(execution, tx, TxState.DROPPED, "dropped",
                              f"the node refuses to take the transaction back: {tx.error}")
        raise TransientError(f"re-broadcasting dropped {tx.tx_hash}: {result.message}", code="dropped")


def _await_receipt(w3: Web3, tx_hash: str, seconds: float) -> bool:
    """Wait up to `seconds` for a pooled transaction to be mined (an instant-mining node answers the
    broadcast a moment before its block exists); False when it is still pending."""
    if seconds <= 0:
        return False
    try:
        w3.eth.wait_for_transaction_receipt(tx_hash, timeout=seconds, poll_latency=0.05)
    except TimeExhausted:
        return False
    return True


def _write_off(execution: Execution, tx: ChainTransaction, state: str, code: str, note: str) -> None:
    """The transaction can never be mined (its nonce is taken) or is abandoned: back to the base state."""
    with transaction.atomic():
        sender.mark(tx, state, code=code, error=note)
        _back_to_base(execution, tx.purpose, f"{tx.purpose} transaction {tx.tx_hash}: {note}")


def _on_reverted(execution: Execution, tx: ChainTransaction, observation: sender.Observation, chain: _Chain) -> None:
    name = observation.error.name if observation.error else None
    description = observation.description
    harmless = {  # reverts that only say "someone else did it" or "too early": re-read the chain, go on
        TxPurpose.SCHEDULE: {"AlreadyScheduled", "OutOfGas"},
        TxPurpose.EXECUTE: {"AlreadyExecuted", "AlreadyCancelled", "NotReady", "OutOfGas"},
        TxPurpose.CANCEL: {"AlreadyExecuted", "AlreadyCancelled", "UnknownProposal", "OutOfGas"},
    }[tx.purpose]
    with transaction.atomic():
        sender.mark(tx, TxState.REVERTED, code=name or "reverted", error=description)
        if name in harmless or tx.purpose == TxPurpose.CANCEL:
            _back_to_base(execution, tx.purpose, f"{tx.purpose} reverted: {description}")
            return None
    return _fail(execution, name or "reverted", f"{tx.purpose} transaction {tx.tx_hash} reverted: {description}",
                 tx_hash=tx.tx_hash)


def _check_attempts(execution: Execution, purpose: str) -> None:
    made = ChainTransaction.objects.filter(execution=execution, purpose=purpose, external=False).count()
    if made >= MAX_TX_ATTEMPTS:
        raise _GiveUp(f"{made} {purpose} transactions were made and none went through")


class _GiveUp(TransientError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="too_many_transactions")


def _event_of(chain: _Chain, receipt: Any, event: str, onchain_id: str) -> Any | None:
    wanted = bytes.fromhex(onchain_id[2:])
    for entry in getattr(chain.executor.events, event)().process_receipt(receipt, errors=DISCARD):
        if bytes(entry["args"]["proposalId"]) == wanted:
            return entry
    return None


def _on_confirmed(execution: Execution, tx: ChainTransaction, receipt: Any, chain: _Chain) -> None:
    event_name = {TxPurpose.SCHEDULE: "ProposalScheduled", TxPurpose.EXECUTE: "ProposalExecuted",
                  TxPurpose.CANCEL: "ProposalCancelled"}[tx.purpose]
    event = _event_of(chain, receipt, event_name, execution.onchain_id)
    if event is None:
        with transaction.atomic():
            sender.mark(tx, TxState.CONFIRMED, code="no_event", error=f"mined without a {event_name} event")
        return _fail(execution, "no_event", f"{tx.tx_hash} was mined without a {event_name} event for this proposal.",
                     tx_hash=tx.tx_hash)
    extra: dict[str, Any] = {}
    if tx.purpose == TxPurpose.SCHEDULE:
        extra["eta"] = int(chain.executor.functions.etaOf(execution.onchain_id).call())
    elif tx.purpose == TxPurpose.EXECUTE:
        extra.update(read_back(chain, execution, int(receipt["blockNumber"])))
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        ChainTransaction.objects.filter(pk=tx.pk).update(
            state=TxState.CONFIRMED, confirmed_at=tx.confirmed_at or timezone.now(), error_code="", error="",
            updated_at=timezone.now())
        if locked.state != IN_FLIGHT_STATE[tx.purpose]:
            return None  # recorded already (another worker, or a redelivered task)
        _finish(locked, tx, receipt, event, extra)
    return None


def _finish(execution: Execution, tx: ChainTransaction, receipt: Any, event: Any, extra: dict[str, Any]) -> None:
    """Record the confirmed transaction's consequence: state, archive entry, proposal status (one transaction)."""
    from execution import vetoes

    proposal = execution.proposal
    now = timezone.now()
    base = {"proposal": proposal.ref, "onchain_id": execution.onchain_id, "tx_hash": tx.tx_hash,
            "block": int(receipt["blockNumber"]), "sender": tx.sender, "external": tx.external}
    execution.attempts = 0
    execution.last_error = ""
    execution.next_attempt_at = now
    if tx.purpose == TxPurpose.SCHEDULE:
        execution.state = E.QUEUED
        execution.eta = extra["eta"]
        execution.save()
        record(kinds.EXECUTION_SCHEDULED, {
            **base, "eta": execution.eta, "tally_digest": execution.tally_digest,
            "tally_sequence": execution.tally.get("archive_sequence"), "operation_hash": execution.operation_hash,
            "actions": [{"target": a["target"], "value": a["value"], "data": a["data"]} for a in execution.actions],
        }, proposal_ref=proposal.ref)
        if proposal.status == ProposalStatus.PASSED:
            eta_text = datetime.datetime.fromtimestamp(execution.eta, tz=datetime.UTC).isoformat()
            proposal_services.queue_for_execution(
                proposal, reason=f"Scheduled on the executor; executable from {eta_text}.",
                details={"eta": execution.eta, "onchain_id": execution.onchain_id, "tx_hash": tx.tx_hash,
                         "tally_digest": execution.tally_digest})
    elif tx.purpose == TxPurpose.EXECUTE:
        execution.state = E.EXECUTED
        execution.readback = extra["readback"]
        execution.readback_block = extra["readback_block"]
        execution.readback_matches = extra["readback"] == execution.requested
        execution.finished_at = now
        execution.save()
        record(kinds.EXECUTION_EXECUTED, {
            **base, "confirmations": conf.confirmations(), "requested": execution.requested,
            "readback": execution.readback, "matches": execution.readback_matches,
        }, proposal_ref=proposal.ref)
        if proposal.status == ProposalStatus.QUEUED:
            proposal_services.mark_executed(
                proposal, reason="Executed on chain" + ("" if execution.readback_matches else
                                                        " (the read-back state differs from the request!)"),
                details={"tx_hash": tx.tx_hash, "block": int(receipt["blockNumber"])})
    else:
        counted = vetoes.counted(execution)
        execution.state = E.VETOED
        execution.finished_at = now
        if not execution.veto_digest:
            execution.veto_digest = veto_bundle_digest([v.digest for v in counted]) if counted else ""
        execution.save()
        reason = str(event["args"]["reason"])
        record(kinds.EXECUTION_CANCELLED, {
            **base, "guardian": to_checksum_address(event["args"]["guardian"]), "reason": reason,
            "veto_digest": execution.veto_digest, "signatures": [v.digest for v in counted],
            "members": [v.member for v in counted], "threshold": conf.council_threshold(),
        }, proposal_ref=proposal.ref)
        if proposal.status == ProposalStatus.QUEUED:
            proposal_services.mark_vetoed(
                proposal, reason=f"Vetoed by the security council ({len(counted)} of {conf.council_threshold()}"
                                 " signatures)" if counted else f"Cancelled on chain by a guardian: {reason}",
                details={"tx_hash": tx.tx_hash, "veto_digest": execution.veto_digest})


def _adopt_final(execution: Execution, chain: _Chain, purpose: str, event_name: str) -> None:
    """The chain says Executed / Cancelled: record the transaction that did it (ours or not)."""
    event = chain.find_event(event_name, execution.onchain_id)
    if event is None:
        raise TransientError(f"state(id) is final but no {event_name} log is found yet", code="log_not_found")
    tx = sender.adopt_external(execution, purpose, event, chain.w3)
    with transaction.atomic():
        moved = Execution.objects.filter(pk=execution.pk, state__in=(E.PENDING, E.QUEUED, E.SCHEDULING)).update(
            state=IN_FLIGHT_STATE[purpose], updated_at=timezone.now())
    execution.refresh_from_db()
    if not moved and execution.state != IN_FLIGHT_STATE[purpose]:
        return None
    receipt = chain.w3.eth.get_transaction_receipt(tx.tx_hash)
    return _on_confirmed(execution, tx, receipt, chain)


# --------------------------------------------------------------------------- read back


def read_back(chain: _Chain, execution: Execution, block: int) -> dict[str, Any]:
    """The core contract's (or treasury's) values at the execution block, in the shape of `requested`."""
    kind = execution.proposal.kind
    core = chain.deployment.core_state(chain.w3)
    at = {"block_identifier": block}
    if kind == ProposalKind.OS_UPGRADE:
        values = {"program_hash": "0x" + bytes(core.functions.programHash().call(**at)).hex(),
                  "config_hash": "0x" + bytes(core.functions.configHash().call(**at)).hex(),
                  "os_version": core.functions.osVersion().call(**at)}
    elif kind == ProposalKind.PARAMETER_CHANGE:
        values = {"parameters": {name: str(core.functions.parameters(bytes32_name(name)).call(**at))
                                 for name in execution.requested.get("parameters", {})}}
    elif kind == ProposalKind.TREASURY_GRANT:
        token = chain.deployment.token(chain.w3)
        recipient = execution.requested["recipient"]
        after = int(token.functions.balanceOf(recipient).call(**at))
        before = int(token.functions.balanceOf(recipient).call(block_identifier=block - 1))
        values = {"recipient": recipient, "amount": str(after - before)}
    else:
        values = {}
    return {"readback": values, "readback_block": block}


# --------------------------------------------------------------------------- bookkeeping


def _wait(execution_id: int, seconds: float, note: str = "") -> None:
    """The chain answered and there is nothing to do before `seconds`: the transient-failure count restarts."""
    Execution.objects.filter(pk=execution_id).exclude(state__in=TERMINAL_STATES).update(
        next_attempt_at=timezone.now() + timedelta(seconds=max(0.0, seconds)), attempts=0, last_error="",
        updated_at=timezone.now())


def _transient(execution_id: int, exc: TransientError) -> None:
    """A retryable problem: count it, back off; give up (Failed) only with nothing in flight."""
    from execution import vetoes

    now = timezone.now()
    with transaction.atomic():
        execution = Execution.objects.select_for_update().get(pk=execution_id)
        if execution.is_terminal:
            return
        execution.attempts += 1
        execution.last_error = f"[{exc.code}] {exc.message}"[:4000]
        execution.last_error_at = now
        execution.next_attempt_at = now + timedelta(seconds=conf.backoff_seconds(execution.attempts))
        execution.save(update_fields=["attempts", "last_error", "last_error_at", "next_attempt_at", "updated_at"])
        give_up = (isinstance(exc, _GiveUp) or execution.attempts >= conf.max_attempts()) \
            and sender.live_transaction(execution) is None \
            and execution.state in (E.PENDING, E.QUEUED) and not vetoes.threshold_reached(execution)
    log.warning("execution %s (proposal %s): %s (attempt %s)", execution_id, execution.proposal_id,
                execution.last_error, execution.attempts)
    if give_up:
        _fail(execution, exc.code, f"Gave up after {execution.attempts} attempts: {exc.message}")


def _fail(execution: Execution, code: str, reason: str, *, tx_hash: str | None = None) -> None:
    """Failed, with the reason: archived, shown, the proposal moved (Queued → Failed). Never with a live tx."""
    with transaction.atomic():
        locked = Execution.objects.select_for_update().get(pk=execution.pk)
        if locked.is_terminal:
            return
        if sender.live_transaction(locked) is not None:
            raise TransientError(f"not failing while a transaction is in flight: {reason}", code=code)
        now = timezone.now()
        locked.state = E.FAILED
        locked.failure_code = (code or "failed")[:64]
        locked.failure_reason = reason[:4000]
        locked.finished_at = now
        locked.save()
        proposal = locked.proposal
        record(kinds.EXECUTION_FAILED, {"proposal": proposal.ref, "onchain_id": locked.onchain_id,
                                        "code": locked.failure_code, "reason": locked.failure_reason,
                                        "tx_hash": tx_hash}, proposal_ref=proposal.ref)
        if proposal.status in (ProposalStatus.PASSED, ProposalStatus.QUEUED):
            proposal_services.mark_failed(proposal, reason=locked.failure_reason[:1000],
                                          details={"code": locked.failure_code, "tx_hash": tx_hash})
    log.error("execution of proposal %s failed: [%s] %s", execution.proposal_id, code, reason)
