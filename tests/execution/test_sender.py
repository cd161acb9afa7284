"""The sender's idempotent answers, on anvil: a second broadcast of the same bytes is "sent", a broadcast whose
nonce was taken is "nonce too low" and the transaction is then seen as replaced; nonces per key never repeat
while a transaction is in flight, even when it was never broadcast."""

from __future__ import annotations

import pytest
from django.db import transaction
from eth_account import Account

from execution import conf, engine, sender
from execution.models import TxPurpose, TxState

from .conftest import passed_proposal

pytestmark = pytest.mark.django_db


def _persist(chain, execution, purpose=TxPurpose.SCHEDULE):
    fn = chain.executor.functions.schedule(execution.onchain_id, execution.action_tuples(), execution.tally_digest)
    with transaction.atomic():
        return sender.sign_and_persist(chain.w3, execution, purpose, fn, conf.executor_key())


def test_broadcasting_twice_is_idempotent_and_a_taken_nonce_reads_as_replaced(chain_settings, council):
    chain = chain_settings
    execution = engine.create_execution(passed_proposal())
    tx = _persist(chain, execution)
    assert tx.state == TxState.SIGNED and tx.raw_tx.startswith("0x")
    assert tx.nonce == chain.w3.eth.get_transaction_count(chain.address(1))
    chain.rpc("evm_setAutomine", False)
    try:
        assert sender.broadcast(chain.w3, tx).outcome == "sent"
        assert sender.broadcast(chain.w3, tx).outcome == "sent"  # in the pool: "transaction already imported"
        tx.refresh_from_db()
        assert tx.broadcasts == 2 and tx.state == TxState.SENT
        assert sender.observe(chain.w3, tx, required_confirmations=1).kind == "pending"
        chain.rpc("evm_mine")
    finally:
        chain.rpc("evm_setAutomine", True)
    # mined: anvil answers "already imported" or "nonce too low"; either way the receipt says it is ours
    assert sender.broadcast(chain.w3, tx).outcome in ("sent", "nonce_too_low")
    assert sender.observe(chain.w3, tx, required_confirmations=1).kind == "confirmed"

    # a second execution's transaction, persisted but not sent; then the key's nonce is used by something else
    other = engine.create_execution(passed_proposal())
    chain.rpc("evm_setAutomine", False)
    try:
        stale = _persist(chain, other)
        filler = Account.sign_transaction({"to": chain.address(1), "value": 1, "gas": 21000, "nonce": stale.nonce,
                                           "chainId": chain.w3.eth.chain_id, "maxFeePerGas": 10**10,
                                           "maxPriorityFeePerGas": 10**9}, chain.key(1))
        chain.w3.eth.send_raw_transaction(filler.raw_transaction)
        chain.rpc("evm_mine")
    finally:
        chain.rpc("evm_setAutomine", True)
    assert sender.broadcast(chain.w3, stale).outcome == "nonce_too_low"
    observation = sender.observe(chain.w3, stale, required_confirmations=1)
    assert observation.kind == "replaced" and f"nonce {stale.nonce}" in observation.description


def test_nonces_are_not_reused_while_a_transaction_is_in_flight(chain_settings, council):
    chain = chain_settings
    first = _persist(chain, engine.create_execution(passed_proposal()))  # signed, never broadcast
    second = _persist(chain, engine.create_execution(passed_proposal()))
    assert second.nonce == first.nonce + 1  # the node does not know `first`, the book does
    sender.mark(first, TxState.DROPPED)
    third = _persist(chain, engine.create_execution(passed_proposal()))
    assert third.nonce == second.nonce + 1
