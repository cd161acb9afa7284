"""The gasless-delegation relayer: sends holders' delegateBySig signatures from RELAYER_PRIVATE_KEY.

Nonce discipline (one sending key, any number of Celery workers):

1. ``sender_lock(address)`` serializes every send of one key across processes: a PostgreSQL
   *session-level* advisory lock (``pg_advisory_lock``), which — unlike a row lock — survives the
   commits made while it is held (on other databases, an exclusive ``flock`` on a file in VAR_DIR).
2. Under the lock the relayer's next nonce is read from the node (``eth_getTransactionCount(…,
   "pending")``): every earlier send of this key finished its broadcast while holding the same lock,
   so the node's pending count already includes it.
3. The transaction is signed and its hash, nonce and raw bytes are **committed** on the
   RelayedDelegation (status ``submitted``) before it is broadcast; only then is it sent, still
   under the lock. A crash between the commit and the broadcast leaves a ``submitted`` row whose
   transaction the node never saw: ``track()`` rebroadcasts the stored raw transaction.
4. A broadcast the node refuses marks the relay ``failed`` and frees the nonce (still under the lock,
   so no later send has taken nonce + 1).

Before anything is signed the request is checked again against the chain (the holder's token nonce,
the expiry, a gas estimate of the exact call): a relay that would fail is marked failed, nothing sent.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
from collections.abc import Iterator

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from eth_account import Account
from web3.exceptions import ContractLogicError, TimeExhausted, TransactionNotFound

from chain.errors import describe_revert
from chain.tx import _fee_fields
from delegation import token as T
from delegation.models import RelayedDelegation, RelayStatus

log = logging.getLogger(__name__)


def relayer_account():
    return Account.from_key(settings.RELAYER_PRIVATE_KEY)


def _lock_key(address: str) -> int:
    """A signed 64-bit advisory-lock key for one sending address."""
    digest = hashlib.sha256(f"govapp.relayer:{address.lower()}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def sender_lock(address: str) -> Iterator[None]:
    """Hold the per-key send lock (see the module docstring) for the duration of the block."""
    if connection.vendor == "postgresql":
        key = _lock_key(address)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [key])
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [key])
        return
    path = settings.VAR_DIR / f"relayer-{address.lower()}.lock"
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _fail(relay_id, code: str, reason: str) -> None:
    RelayedDelegation.objects.filter(pk=relay_id).exclude(status=RelayStatus.CONFIRMED).update(
        status=RelayStatus.FAILED, failure_code=code, failure_reason=reason[:2000], finished_at=timezone.now(),
        updated_at=timezone.now())


def _split(signature: str) -> tuple[int, bytes, bytes]:
    raw = bytes.fromhex(signature[2:])
    v = raw[64] if raw[64] >= 27 else raw[64] + 27
    return v, raw[:32], raw[32:64]


def _still_valid(relay: RelayedDelegation) -> tuple[str, str] | None:
    """(code, reason) when the chain no longer accepts this signature, else None."""
    if T.nonce_of(relay.holder) != int(relay.token_nonce):
        return "wrong_nonce", "The holder's token nonce changed since signing (the signature was used or replaced)."
    if int(relay.expiry) <= T.chain_now():
        return "signature_expired", "The signature expired before the relayer could send it."
    return None


def submit(relay_id) -> RelayedDelegation:
    """Send a requested relay (idempotent: anything but `requested` is returned untouched)."""
    from chain.client import get_web3

    relay = RelayedDelegation.objects.get(pk=relay_id)
    if relay.status != RelayStatus.REQUESTED:
        return relay
    problem = _still_valid(relay)
    if problem:
        _fail(relay.pk, *problem)
        return RelayedDelegation.objects.get(pk=relay_id)

    w3 = get_web3()
    account = relayer_account()
    token = T.token_contract()
    v, r, s = _split(relay.signature)
    call = token.functions.delegateBySig(relay.delegatee, int(relay.token_nonce), int(relay.expiry), v, r, s)
    with sender_lock(account.address):
        relay.refresh_from_db()
        if relay.status != RelayStatus.REQUESTED:  # another worker got it first
            return relay
        try:
            params = {"from": account.address, "chainId": settings.CHAIN_ID, "gas": 0}
            tx = dict(call.build_transaction(params))
            estimate = w3.eth.estimate_gas({k: tx[k] for k in ("from", "to", "data")}, block_identifier="pending")
        except ContractLogicError as exc:
            _fail(relay.pk, "would_revert", f"delegateBySig would revert: {describe_revert(exc, token.abi)}")
            return RelayedDelegation.objects.get(pk=relay_id)
        tx["gas"] = estimate + estimate // 5
        tx.update(_fee_fields(w3))
        tx["nonce"] = w3.eth.get_transaction_count(account.address, "pending")
        signed = account.sign_transaction(tx)
        tx_hash = signed.hash.to_0x_hex()
        # Persist hash, nonce and the raw transaction BEFORE the broadcast (committed, not a savepoint).
        with transaction.atomic():
            updated = RelayedDelegation.objects.filter(pk=relay.pk, status=RelayStatus.REQUESTED).update(
                status=RelayStatus.SUBMITTED, relayer=account.address, relayer_nonce=tx["nonce"], tx_hash=tx_hash,
                raw_tx=signed.raw_transaction.to_0x_hex(), submitted_at=timezone.now(), updated_at=timezone.now())
        if not updated:
            return RelayedDelegation.objects.get(pk=relay_id)
        try:
            w3.eth.send_raw_transaction(signed.raw_transaction)
        except (TimeoutError, TimeExhausted, ConnectionError) as exc:
            # The node may have it: leave it `submitted`; track() finds or rebroadcasts it.
            log.warning("relay %s: broadcast of %s uncertain: %s", relay.pk, tx_hash, exc)
        except Exception as exc:  # noqa: BLE001 - the node refused it: the nonce was not used
            _fail(relay.pk, "broadcast_failed", f"The node refused the transaction: {exc}")
    return RelayedDelegation.objects.get(pk=relay_id)


def track(relay_id) -> RelayedDelegation:
    """Look for a submitted relay's receipt: confirmed / failed, or rebroadcast a transaction the node lost."""
    from chain.client import get_web3

    relay = RelayedDelegation.objects.get(pk=relay_id)
    if relay.status != RelayStatus.SUBMITTED:
        return relay
    w3 = get_web3()
    try:
        receipt = w3.eth.get_transaction_receipt(relay.tx_hash)
    except TransactionNotFound:
        receipt = None
    RelayedDelegation.objects.filter(pk=relay.pk).update(track_attempts=relay.track_attempts + 1)
    if receipt is None:
        try:
            w3.eth.get_transaction(relay.tx_hash)
        except TransactionNotFound:
            _rebroadcast(relay)
        return RelayedDelegation.objects.get(pk=relay_id)
    head = w3.eth.block_number
    if head - receipt["blockNumber"] + 1 < max(1, settings.CHAIN_CONFIRMATIONS):
        return RelayedDelegation.objects.get(pk=relay_id)
    now = timezone.now()
    if receipt["status"] == 1:
        RelayedDelegation.objects.filter(pk=relay.pk, status=RelayStatus.SUBMITTED).update(
            status=RelayStatus.CONFIRMED, block_number=receipt["blockNumber"], finished_at=now, updated_at=now)
    else:
        RelayedDelegation.objects.filter(pk=relay.pk, status=RelayStatus.SUBMITTED).update(
            status=RelayStatus.FAILED, block_number=receipt["blockNumber"], failure_code="reverted",
            failure_reason=f"The transaction reverted in block {receipt['blockNumber']}.", finished_at=now,
            updated_at=now)
    return RelayedDelegation.objects.get(pk=relay_id)


def _rebroadcast(relay: RelayedDelegation) -> None:
    from chain.client import get_web3

    with sender_lock(relay.relayer):
        try:
            get_web3().eth.send_raw_transaction(relay.raw_tx)
        except Exception as exc:  # noqa: BLE001 - e.g. "nonce too low": another tx took the nonce
            _fail(relay.pk, "dropped", f"The transaction was dropped and could not be sent again: {exc}")

