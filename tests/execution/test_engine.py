"""The engine on anvil: schedule with the tally digest, timelock, execute once, confirmations, read back;
veto by council signatures; refusals decoded and visible."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from eth_utils import keccak

from archive import kinds
from archive.models import ArchiveEntry
from chain.deploy import bytes32_name
from execution import engine, vetoes
from execution.identifiers import proposal_onchain_id, tally_digest, veto_bundle_digest
from execution.models import ChainTransaction, ExecutionState, TxPurpose, TxState
from proposals.lifecycle import ProposalKind, ProposalStatus

from .conftest import (
    EMPTY_ROOT,
    OS_PAYLOAD,
    executed_events,
    pass_delay,
    passed_proposal,
    run_until,
    sign_typed,
)

pytestmark = pytest.mark.django_db
E = ExecutionState


def test_proposal_id_and_tally_digest_are_the_documented_hashes():
    assert proposal_onchain_id(12) == "0x" + keccak(text="govapp:proposal:12").hex()
    root = "0x" + "11" * 32
    expected = keccak(abi_encode(["bytes32", "uint256", "uint256", "uint256"], [bytes.fromhex("11" * 32), 5, 3, 1]))
    assert tally_digest(root, 5, 3, 1) == "0x" + expected.hex()
    a, b = "0x" + "02" * 32, "0x" + "01" * 32
    assert veto_bundle_digest([a, b]) == "0x" + keccak(bytes.fromhex("01" * 32 + "02" * 32)).hex()


def test_os_upgrade_is_scheduled_with_the_tally_digest_then_executed_once_after_the_delay(chain_settings, council):
    chain = chain_settings
    proposal = passed_proposal(ProposalKind.OS_UPGRADE)
    execution = engine.create_execution(proposal)
    assert execution.onchain_id == proposal_onchain_id(proposal.number)
    assert execution.tally_digest == tally_digest(EMPTY_ROOT, 0, 0, 0)
    # the locally computed operation hash is the contract's
    onchain_hash = chain.executor.functions.hashOperation(execution.onchain_id, execution.action_tuples(),
                                                          execution.tally_digest).call()
    assert "0x" + bytes(onchain_hash).hex() == execution.operation_hash

    execution = engine.advance(execution.pk)
    assert execution.state == E.QUEUED
    assert execution.eta == chain.executor.functions.etaOf(execution.onchain_id).call()
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.QUEUED
    scheduled = chain.executor.events.ProposalScheduled().get_logs(from_block=0)
    assert len(scheduled) == 1 and "0x" + bytes(scheduled[0]["args"]["tallyDigest"]).hex() == execution.tally_digest
    entry = ArchiveEntry.objects.get(kind=kinds.EXECUTION_SCHEDULED, proposal_ref=proposal.ref)
    assert entry.payload["eta"] == execution.eta and entry.payload["tally_digest"] == execution.tally_digest

    # during the delay: nothing is sent
    execution = engine.advance(execution.pk)
    assert execution.state == E.QUEUED
    assert ChainTransaction.objects.filter(execution=execution, purpose=TxPurpose.EXECUTE).count() == 0

    pass_delay(chain)
    execution = engine.advance(execution.pk)
    assert execution.state == E.EXECUTED, (execution.last_error, execution.failure_reason)
    tx = ChainTransaction.objects.get(execution=execution, purpose=TxPurpose.EXECUTE)
    assert tx.state == TxState.CONFIRMED and tx.raw_tx and tx.nonce is not None and tx.confirmations >= 1
    assert "0x" + bytes(chain.core_state.functions.programHash().call()).hex() == OS_PAYLOAD["program_hash"]
    assert execution.readback == execution.requested and execution.readback_matches
    assert executed_events(chain.w3, chain.deployment.executor_address, execution.onchain_id) == 1
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXECUTED
    assert ArchiveEntry.objects.filter(kind=kinds.EXECUTION_EXECUTED, proposal_ref=proposal.ref).count() == 1

    # running again changes nothing and sends nothing
    assert engine.advance(execution.pk).state == E.EXECUTED
    assert ChainTransaction.objects.filter(execution=execution).count() == 2


def test_parameter_change_is_read_back_next_to_the_request(chain_settings, council):
    chain = chain_settings
    proposal = passed_proposal(ProposalKind.PARAMETER_CHANGE)
    execution = engine.create_execution(proposal)
    assert engine.advance(execution.pk).state == E.QUEUED
    pass_delay(chain)
    execution = engine.advance(execution.pk)
    assert execution.state == E.EXECUTED
    assert execution.requested == {"parameters": {"fee.min_gas_price": "1000",
                                                  "staking.min_stake": str(2500_5 * 10**17)}}
    assert execution.readback == execution.requested
    assert chain.core_state.functions.parameters(bytes32_name("staking.min_stake")).call() == 2500_5 * 10**17


def test_confirmations_are_waited_for(chain_settings, council, settings):
    chain = chain_settings
    settings.GOVERNANCE = {**settings.GOVERNANCE, "EXECUTION_CONFIRMATIONS": 3}
    execution = engine.create_execution(passed_proposal(ProposalKind.PARAMETER_CHANGE))
    execution = engine.advance(execution.pk)
    assert execution.state == E.SCHEDULING  # mined, 1 of 3 confirmations
    chain.mine(2)
    execution = engine.advance(execution.pk)
    assert execution.state == E.QUEUED
    pass_delay(chain)
    execution = engine.advance(execution.pk)
    assert execution.state == E.EXECUTING
    tx = ChainTransaction.objects.get(execution=execution, purpose=TxPurpose.EXECUTE)
    assert tx.state == TxState.MINED and tx.confirmations == 1
    chain.mine(2)
    assert engine.advance(execution.pk).state == E.EXECUTED


def _veto(chain, execution, index: int, reason: str = "The config hash does not match the audited build."):
    key = chain.key(index)
    typed = vetoes.veto_template(execution.proposal.number, chain.address(index), reason)
    return vetoes.submit_veto(execution.proposal.number, typed, sign_typed(key, typed))


def test_council_veto_cancels_on_chain_and_execution_is_refused(chain_settings, council):
    chain = chain_settings
    proposal = passed_proposal(ProposalKind.OS_UPGRADE)
    execution = engine.create_execution(proposal)
    assert engine.advance(execution.pk).state == E.QUEUED
    _veto(chain, execution, 7)
    assert not vetoes.threshold_reached(execution)
    assert engine.advance(execution.pk).state == E.QUEUED
    _veto(chain, execution, 8, "Second opinion: same problem.")
    assert vetoes.threshold_reached(execution)
    pass_delay(chain)  # even past the ETA, the vetoed proposal is not executed
    execution = engine.advance(execution.pk)
    assert execution.state == E.VETOED, execution.last_error
    assert chain.executor.functions.state(execution.onchain_id).call() == engine.ONCHAIN_CANCELLED
    counted = vetoes.counted(execution)
    assert execution.veto_digest == veto_bundle_digest([v.digest for v in counted])
    cancelled = chain.executor.events.ProposalCancelled().get_logs(from_block=0)
    assert len(cancelled) == 1 and execution.veto_digest in cancelled[0]["args"]["reason"]
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.VETOED
    assert ArchiveEntry.objects.filter(kind=kinds.VETO_SIGNATURE, proposal_ref=proposal.ref).count() == 2
    assert ArchiveEntry.objects.get(kind=kinds.EXECUTION_CANCELLED, proposal_ref=proposal.ref).payload[
        "veto_digest"] == execution.veto_digest
    # the contract refuses execution
    from chain.tx import TransactionReverted, send_tx

    with pytest.raises(TransactionReverted, match="AlreadyCancelled"):
        send_tx(chain.w3, chain.executor.functions.execute(execution.onchain_id, execution.action_tuples(),
                                                           execution.tally_digest), chain.executor_key)
    assert executed_events(chain.w3, chain.deployment.executor_address, execution.onchain_id) == 0


def test_a_reverting_action_fails_with_the_decoded_error(chain_settings, council):
    """An action whose target reverts: execute is refused at estimation with ActionFailed(…NotGovernor…)."""
    chain = chain_settings
    proposal = passed_proposal(ProposalKind.TREASURY_GRANT)  # the executor holds no tokens here: transfer reverts
    execution = engine.create_execution(proposal)
    assert engine.advance(execution.pk).state == E.QUEUED
    pass_delay(chain)
    execution = engine.advance(execution.pk)
    assert execution.state == E.FAILED
    assert execution.failure_code == "ActionFailed"
    assert "ERC20InsufficientBalance" in execution.failure_reason, execution.failure_reason
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.FAILED
    assert ArchiveEntry.objects.get(kind=kinds.EXECUTION_FAILED, proposal_ref=proposal.ref).payload["code"] \
        == "ActionFailed"
    assert run_until(execution, {E.FAILED}).state == E.FAILED


@pytest.mark.parametrize(("wait_seconds", "expected"), [(5.0, E.QUEUED), (0.0, E.SCHEDULING)])
def test_a_transaction_mined_moments_after_its_broadcast_is_followed_in_the_same_run(
        chain_settings, council, settings, wait_seconds, expected):
    """An instant-mining node answers the broadcast a moment before the block exists: the worker waits up to
    EXECUTION_RECEIPT_WAIT_SECONDS for it instead of a whole poll round (0: hand back to Celery at once)."""
    import threading

    chain = chain_settings
    settings.EXECUTION_RECEIPT_WAIT_SECONDS = wait_seconds
    execution = engine.create_execution(passed_proposal(ProposalKind.OS_UPGRADE))
    chain.rpc("evm_setAutomine", False)
    miner = threading.Timer(0.5, lambda: chain.rpc("evm_mine"))
    try:
        miner.start()
        execution = engine.advance(execution.pk)
    finally:
        miner.join()
        chain.rpc("evm_setAutomine", True)
    assert execution.state == expected
    assert engine.advance(execution.pk).state == E.QUEUED  # mined by now either way
