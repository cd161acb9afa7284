"""Sending the engine's transactions exactly once: nonce per key, sign → persist → broadcast, follow by receipt.

    with transaction.atomic():
        execution = Execution.objects.select_for_update().get(pk=...)   # the claim (see engine)
        tx = sign_and_persist(w3, execution, TxPurpose.EXECUTE, fn, key)  # nonce chosen under the key's row lock
    broadcast(w3, tx)                                                      # only a persisted transaction is sent
    observe(w3, tx)                                                        # receipt → mined → confirmed

Nonces: the SenderNonce row of the key is locked (SELECT … FOR UPDATE) while the nonce is chosen and the
transaction stored, so two workers never pick the same nonce. The nonce is
max(the node's pending count, the highest nonce of the key's transactions still in flight + 1): the node
knows everything broadcast, the table knows what is signed but maybe not yet broadcast. (A node that lost
its state — pending count below our book — is followed, not fought: nothing in flight means nothing to
protect.)

Broadcast answers: "already known / already imported" means the node has it (idempotent success); "nonce
too low" means something with that nonce was mined — ours (found by hash: mined) or another transaction
(REPLACED: the engine re-reads the contract's state and decides); connection errors are transient (the
stored raw transaction is broadcast again later). A transaction that is neither mined nor in the node's pool
while its nonce is still free was dropped: the same raw bytes are broadcast again.

Gas: estimated against the "pending" block plus 20 % (chain.tx's rule: "latest" under-estimates on anvil).
"""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

import requests
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound, Web3Exception, Web3RPCError

from chain.client import ChainUnavailable
from chain.errors import DecodedError, decode_exception, decode_revert, describe_revert, revert_data
from chain.tx import _estimate_gas, _fee_fields
from execution.faults import crash_point
from execution.models import LIVE_TX_STATES, ChainTransaction, Execution, SenderNonce, TxPurpose, TxState

log = logging.getLogger(__name__)


class TransientError(Exception):
    """The chain could not be asked or did not answer usefully now: retry later (with backoff)."""

    def __init__(self, message: str, code: str = "rpc_unavailable") -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Refused(Exception):
    """The call would revert (gas estimation / eth_call): nothing was signed. `error` is the decoded error."""

    def __init__(self, what: str, description: str, error: DecodedError | None) -> None:
        super().__init__(f"{what} would revert: {description}")
        self.what = what
        self.description = description
        self.error = error

    @property
    def name(self) -> str | None:
        return self.error.name if self.error else None


#: Exceptions that mean "the node is unreachable or answered garbage": transient.
TRANSIENT_EXCEPTIONS: tuple[type[BaseException], ...] = (
    requests.exceptions.RequestException, ConnectionError, TimeoutError, socket.timeout, OSError, TimeExhausted,
    ChainUnavailable,
)


def transient(exc: BaseException, what: str) -> TransientError:
    return TransientError(f"{what}: {type(exc).__name__}: {str(exc)[:300]}",
                          code="chain_unavailable" if isinstance(exc, ChainUnavailable) else "rpc_unavailable")


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --------------------------------------------------------------------------- preparing and signing


def with_inner_error(description: str, error: DecodedError | None) -> str:
    """ActionFailed carries the target's own revert data: decode it too."""
    if error is None or error.name != "ActionFailed" or len(error.args) < 3:
        return description
    index, target, inner = error.args[:3]
    decoded = decode_revert(inner)
    inner_text = describe_revert(inner) if decoded is None else str(decoded)
    return f"{description}: action {index} (call to {target}) reverted with {inner_text}"


def _function_label(contract_fn: Any) -> str:
    return f"UpgradeExecutor.{getattr(contract_fn, 'fn_name', 'call')}"


def preflight(w3: Web3, contract_fn: Any, sender: str) -> dict[str, Any]:
    """The unsigned transaction (no nonce yet) with gas estimated against "pending" (+20 %) and fees.

    Raises Refused when the call would revert (decoded custom error), TransientError when the node is down.
    """
    what = _function_label(contract_fn)
    try:
        chain_id = w3.eth.chain_id
        fees = _fee_fields(w3)
        tx = dict(contract_fn.build_transaction({"from": sender, "chainId": chain_id, "gas": 0, "nonce": 0, **fees}))
        tx.pop("nonce", None)
        tx["gas"] = _estimate_gas(w3, tx)
    except ContractLogicError as exc:
        abi = getattr(contract_fn, "contract_abi", None)
        error = decode_exception(exc, abi)
        raise Refused(what, with_inner_error(describe_revert(exc, abi), error), error) from exc
    except TRANSIENT_EXCEPTIONS as exc:
        raise transient(exc, f"{what}: the node did not answer") from exc
    except (Web3RPCError, Web3Exception) as exc:
        raise TransientError(f"{what}: the node refused the estimate: {exc}", code="rpc_error") from exc
    return tx


def _lock_sender(address: str) -> SenderNonce:
    SenderNonce.objects.get_or_create(address=address)
    return SenderNonce.objects.select_for_update().get(address=address)


def next_nonce(w3: Web3, address: str) -> int:
    """Call with the sender's SenderNonce row locked: max(node's pending count, our in-flight nonces + 1)."""
    try:
        pending = int(w3.eth.get_transaction_count(address, "pending"))
    except TRANSIENT_EXCEPTIONS as exc:
        raise transient(exc, "reading the nonce") from exc
    in_flight = (ChainTransaction.objects.filter(sender=address, state__in=LIVE_TX_STATES, external=False)
                 .aggregate(n=Max("nonce"))["n"])
    return max(pending, in_flight + 1) if in_flight is not None else pending


def sign_and_persist(w3: Web3, execution: Execution, purpose: str, contract_fn: Any, key: str) -> ChainTransaction:
    """Sign `contract_fn` with `key` and store it (state SIGNED). Call inside the claim's transaction.

    Raises Refused (would revert) or TransientError (node down); then nothing is stored and, the caller's
    transaction rolling back, the claim is undone too.
    """
    account = Account.from_key(key)
    tx = preflight(w3, contract_fn, account.address)
    book = _lock_sender(account.address)
    tx["nonce"] = next_nonce(w3, account.address)
    signed = account.sign_transaction(tx)
    crash_point(f"{purpose}:signed")
    attempt = (ChainTransaction.objects.filter(execution=execution, purpose=purpose)
               .aggregate(n=Max("attempt"))["n"] or 0) + 1
    row = ChainTransaction.objects.create(
        execution=execution, purpose=purpose, attempt=attempt, sender=account.address, nonce=tx["nonce"],
        tx_hash=signed.hash.to_0x_hex(), raw_tx=signed.raw_transaction.to_0x_hex(), gas_limit=tx["gas"],
        max_fee_per_gas=tx.get("maxFeePerGas") or tx.get("gasPrice"), state=TxState.SIGNED)
    book.next_nonce = max(book.next_nonce, tx["nonce"] + 1)
    book.save(update_fields=["next_nonce", "updated_at"])
    return row


# --------------------------------------------------------------------------- broadcasting


_KNOWN = ("already known", "already imported", "known transaction", "alreadyknown", "already in pool")
_NONCE_LOW = ("nonce too low", "nonce is too low", "noncetoolow", "invalid nonce", "oldnonce")
_UNDERPRICED = ("underpriced", "replacement transaction")


def _rpc_message(exc: BaseException) -> str:
    args = getattr(exc, "args", ())
    first = args[0] if args else exc
    if isinstance(first, dict):
        return str(first.get("message", first)).lower()
    return str(first).lower()


def _update(tx: ChainTransaction, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(tx, name, value)
    fields["updated_at"] = timezone.now()
    ChainTransaction.objects.filter(pk=tx.pk).update(**fields)


@dataclass
class BroadcastResult:
    outcome: str  # "sent" | "nonce_too_low" | "transient"
    message: str = ""


def broadcast(w3: Web3, tx: ChainTransaction, *, first: bool = False) -> BroadcastResult:
    """Send the stored raw transaction. Idempotent: the node knowing it already counts as sent."""
    if first:
        crash_point(f"{tx.purpose}:persisted")
    now = timezone.now()
    try:
        w3.eth.send_raw_transaction(tx.raw_tx)
    except Web3RPCError as exc:
        message = _rpc_message(exc)
        if any(s in message for s in _KNOWN):
            outcome = BroadcastResult("sent", message)
        elif any(s in message for s in _NONCE_LOW):
            _update(tx, broadcasts=tx.broadcasts + 1, error=f"broadcast: {message}")
            return BroadcastResult("nonce_too_low", message)
        elif any(s in message for s in _UNDERPRICED):
            _update(tx, broadcasts=tx.broadcasts + 1, error_code="nonce_conflict",
                    error=f"another transaction with nonce {tx.nonce} is pending: {message}")
            return BroadcastResult("transient", f"nonce conflict: {message}")
        else:
            _update(tx, broadcasts=tx.broadcasts + 1, error_code="broadcast_refused", error=f"broadcast: {message}")
            return BroadcastResult("transient", f"the node refused the transaction: {message}")
    except TRANSIENT_EXCEPTIONS as exc:
        _update(tx, error_code="rpc_unavailable", error=f"broadcast: {type(exc).__name__}: {str(exc)[:300]}")
        return BroadcastResult("transient", f"broadcast failed, node unreachable: {type(exc).__name__}")
    else:
        outcome = BroadcastResult("sent")
    if first:
        crash_point(f"{tx.purpose}:sent")
    fields: dict[str, Any] = {"broadcasts": tx.broadcasts + 1, "error_code": "", "error": ""}
    if tx.state == TxState.SIGNED:
        fields.update(state=TxState.SENT, sent_at=now)
    _update(tx, **fields)
    return outcome


# --------------------------------------------------------------------------- following


@dataclass
class Observation:
    """What the chain says about a transaction now.

    kind: "confirmed" | "mined" (not enough confirmations) | "reverted" | "pending" (in the pool) |
          "dropped" (neither mined nor pending, nonce still free) | "replaced" (nonce used by another tx)
    """

    kind: str
    receipt: Any = None
    error: DecodedError | None = None
    description: str = ""


def _receipt(w3: Web3, tx_hash: str) -> Any:
    try:
        return w3.eth.get_transaction_receipt(tx_hash)
    except TransactionNotFound:
        return None


def _in_pool(w3: Web3, tx_hash: str) -> bool:
    try:
        found = w3.eth.get_transaction(tx_hash)
    except TransactionNotFound:
        return False
    return found is not None


def explain_revert(w3: Web3, receipt: Any, abi: list[dict[str, Any]] | None) -> tuple[str, DecodedError | None]:
    """Why a mined transaction reverted: replay it with eth_call at its block (then the block before)."""
    if _out_of_gas(w3, receipt):
        return f"out of gas (gas used {receipt['gasUsed']})", DecodedError("OutOfGas", "OutOfGas()", ())
    tx = w3.eth.get_transaction(receipt["transactionHash"])
    call = {"from": tx["from"], "to": tx["to"], "value": tx["value"], "data": tx["input"], "gas": tx["gas"]}
    for block in (receipt["blockNumber"], max(receipt["blockNumber"] - 1, 0)):
        try:
            w3.eth.call(call, block_identifier=block)
        except ContractLogicError as exc:
            error = decode_exception(exc, abi)
            return with_inner_error(describe_revert(exc, abi), error), error
        except Web3RPCError as exc:  # some nodes report reverts of eth_call as plain RPC errors
            data = revert_data(exc)
            if data:
                error = decode_revert(data, abi)
                return with_inner_error(describe_revert(data, abi), error), error
    return "reverted (no revert data)", None


def _out_of_gas(w3: Web3, receipt: Any) -> bool:
    try:
        tx = w3.eth.get_transaction(receipt["transactionHash"])
    except TransactionNotFound:
        return False
    return receipt["gasUsed"] >= tx["gas"]


def observe(w3: Web3, tx: ChainTransaction, *, required_confirmations: int,
            abi: list[dict[str, Any]] | None = None) -> Observation:
    """Look the transaction up by hash (receipt first) and record what is seen on the row."""
    try:
        receipt = _receipt(w3, tx.tx_hash)
        if receipt is None:
            if _in_pool(w3, tx.tx_hash):
                if tx.state == TxState.SIGNED:  # a worker died after broadcasting, before recording it
                    _update(tx, state=TxState.SENT, sent_at=timezone.now())
                return Observation("pending")
            mined_nonce = int(w3.eth.get_transaction_count(tx.sender, "latest"))
            if tx.nonce is not None and mined_nonce > tx.nonce:
                receipt = _receipt(w3, tx.tx_hash)  # mined between the two questions?
                if receipt is None:
                    return Observation("replaced", description=(
                        f"nonce {tx.nonce} of {tx.sender} was used by another transaction "
                        f"(the account's mined nonce is {mined_nonce}); {tx.tx_hash} can never be mined"))
            else:
                return Observation("dropped")
        crash_point(f"{tx.purpose}:mined")
        head = int(w3.eth.block_number)
        block = int(receipt["blockNumber"])
        confirmations = max(0, head - block + 1)
        now = timezone.now()
        fields: dict[str, Any] = {"block_number": block, "block_hash": receipt["blockHash"].to_0x_hex(),
                                  "gas_used": int(receipt["gasUsed"]), "confirmations": confirmations}
        if tx.mined_at is None:
            fields["mined_at"] = now
        if tx.sent_at is None:
            fields["sent_at"] = now
        # The decisive states (CONFIRMED, REVERTED) are written by the engine, in the same database
        # transaction as what they decide (execution state, archive entry, proposal status).
        fields["state"] = TxState.MINED
        if receipt["status"] != 1:
            description, error = explain_revert(w3, receipt, abi)
            _update(tx, **fields)
            return Observation("reverted", receipt, error, description)
        _update(tx, **fields)
        return Observation("confirmed" if confirmations >= required_confirmations else "mined", receipt)
    except TRANSIENT_EXCEPTIONS as exc:
        raise transient(exc, f"following {tx.tx_hash}") from exc
    except Web3RPCError as exc:
        raise TransientError(f"following {tx.tx_hash}: {exc}", code="rpc_error") from exc


def mark(tx: ChainTransaction, state: str, *, code: str = "", error: str = "") -> None:
    _update(tx, state=state, error_code=code, error=error)


def live_transaction(execution: Execution) -> ChainTransaction | None:
    return execution.transactions.filter(state__in=LIVE_TX_STATES).order_by("-id").first()


def adopt_external(execution: Execution, purpose: str, log_entry: Any, w3: Web3) -> ChainTransaction:
    """Record a transaction found on chain (an event of this proposal) that the portal did not send."""
    tx_hash = log_entry["transactionHash"].to_0x_hex()
    existing = ChainTransaction.objects.filter(tx_hash=tx_hash).first()
    if existing is not None:
        return existing
    found = w3.eth.get_transaction(tx_hash)
    head = int(w3.eth.block_number)
    attempt = (ChainTransaction.objects.filter(execution=execution, purpose=purpose)
               .aggregate(n=Max("attempt"))["n"] or 0) + 1
    with transaction.atomic():
        return ChainTransaction.objects.create(
            execution=execution, purpose=purpose, attempt=attempt, sender=Web3.to_checksum_address(found["from"]),
            nonce=int(found["nonce"]), tx_hash=tx_hash, raw_tx="", external=True, state=TxState.CONFIRMED,
            block_number=int(log_entry["blockNumber"]), block_hash=log_entry["blockHash"].to_0x_hex(),
            confirmations=max(0, head - int(log_entry["blockNumber"]) + 1), sent_at=timezone.now(),
            mined_at=timezone.now(), confirmed_at=timezone.now())


__all__ = ["TxPurpose", "TxState"]
