"""UpgradeExecutor + StarknetCoreState on a real anvil: schedule, timelock, execute, cancel, treasury grants."""

from __future__ import annotations

import pytest
from eth_abi import encode as abi_encode
from hexbytes import HexBytes
from web3 import Web3
from web3.logs import DISCARD

from chain.deploy import DEFAULT_CONFIG_HASH, DEFAULT_OS_VERSION, DEFAULT_PROGRAM_HASH, bytes32_name
from chain.errors import decode_revert
from chain.testing import TEST_DELAY_SECONDS
from chain.tx import TransactionReverted, send_eth

UNIT = 10**18
EXECUTOR_KEY, DEPLOYER, OUTSIDER, GUARDIAN = 1, 0, 2, 7
STATE = {0: "Unknown", 1: "Scheduled", 2: "Ready", 3: "Executed", 4: "Cancelled"}

NEW_PROGRAM = Web3.keccak(text="os 0.14.0 program")
NEW_CONFIG = Web3.keccak(text="os 0.14.0 config")
MIN_GAS_PRICE = bytes32_name("fee.min_gas_price")
MIN_STAKE = bytes32_name("staking.min_stake")


def pid(label: str) -> bytes:
    return Web3.keccak(text=f"proposal:{label}")


def digest(label: str) -> bytes:
    return Web3.keccak(text=f"tally:{label}")


def calldata(contract, fn: str, *args) -> bytes:
    return bytes(HexBytes(contract.encode_abi(fn, args=list(args))))


def upgrade_actions(chain) -> list[tuple[str, int, bytes]]:
    core = chain.core_state
    return [
        (core.address, 0, calldata(core, "upgradeOs", NEW_PROGRAM, NEW_CONFIG, "0.14.0")),
        (core.address, 0, calldata(core, "setParameter", MIN_GAS_PRICE, 25 * 10**9)),
        (core.address, 0, calldata(core, "setParameter", MIN_STAKE, 20_000 * UNIT)),
    ]


def state(chain, proposal_id: bytes) -> str:
    return STATE[chain.executor.functions.state(proposal_id).call()]


def reverts(chain, fn, key, error_name: str) -> TransactionReverted:
    with pytest.raises(TransactionReverted) as info:
        chain.send(fn, key)
    assert info.value.error_name == error_name, str(info.value)
    return info.value


def test_roles_and_initial_state(chain):
    ex, core = chain.executor, chain.core_state
    assert ex.functions.delay().call() == TEST_DELAY_SECONDS
    assert ex.functions.hasRole(ex.functions.EXECUTOR_ROLE().call(), chain.address(EXECUTOR_KEY)).call()
    assert not ex.functions.hasRole(ex.functions.EXECUTOR_ROLE().call(), chain.address(DEPLOYER)).call()
    for i in (7, 8, 9):
        assert ex.functions.hasRole(ex.functions.GUARDIAN_ROLE().call(), chain.address(i)).call()
    assert ex.functions.hasRole(b"\0" * 32, chain.address(DEPLOYER)).call()
    assert core.functions.governor().call() == ex.address
    assert core.functions.programHash().call() == bytes(DEFAULT_PROGRAM_HASH)
    assert core.functions.configHash().call() == bytes(DEFAULT_CONFIG_HASH)
    assert core.functions.osVersion().call() == DEFAULT_OS_VERSION
    assert state(chain, pid("nothing")) == "Unknown"


def test_operation_hash_matches_python_encoding(chain):
    actions = upgrade_actions(chain)
    expected = Web3.keccak(
        abi_encode(["bytes32", "(address,uint256,bytes)[]", "bytes32"], [pid("h"), actions, digest("h")])
    )
    assert chain.executor.functions.hashOperation(pid("h"), actions, digest("h")).call() == bytes(expected)


def test_only_executor_key_schedules(chain):
    ex, actions = chain.executor, upgrade_actions(chain)
    for key in (OUTSIDER, DEPLOYER, GUARDIAN):
        err = reverts(
            chain, ex.functions.schedule(pid("a"), actions, digest("a")), key, "AccessControlUnauthorizedAccount"
        )
        assert err.error.args == (chain.address(key), ex.functions.EXECUTOR_ROLE().call())
    assert state(chain, pid("a")) == "Unknown"


def test_schedule_wait_execute_changes_core_state(chain):
    ex, core, actions = chain.executor, chain.core_state, upgrade_actions(chain)
    receipt = chain.send(ex.functions.schedule(pid("upgrade"), actions, digest("upgrade")), EXECUTOR_KEY)
    scheduled_at = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    (event,) = ex.events.ProposalScheduled().process_receipt(receipt, errors=DISCARD)
    eta = scheduled_at + TEST_DELAY_SECONDS
    op_hash = ex.functions.hashOperation(pid("upgrade"), actions, digest("upgrade")).call()
    assert event["args"]["proposalId"] == pid("upgrade")
    assert event["args"]["eta"] == eta
    assert event["args"]["tallyDigest"] == digest("upgrade")
    assert event["args"]["operationHash"] == op_hash
    assert [(a["target"], a["value"], a["data"]) for a in event["args"]["actions"]] == actions
    assert ex.functions.etaOf(pid("upgrade")).call() == eta
    assert ex.functions.operationHashOf(pid("upgrade")).call() == op_hash
    assert state(chain, pid("upgrade")) == "Scheduled"

    # before the eta: refused, nothing changes
    execute = ex.functions.execute(pid("upgrade"), actions, digest("upgrade"))
    err = reverts(chain, execute, EXECUTOR_KEY, "NotReady")
    assert err.error.args[1] == eta
    chain.increase_time(TEST_DELAY_SECONDS - 30)
    reverts(chain, execute, EXECUTOR_KEY, "NotReady")
    assert core.functions.programHash().call() == bytes(DEFAULT_PROGRAM_HASH)

    chain.increase_time(60)
    assert state(chain, pid("upgrade")) == "Ready"
    # only the executor key executes, even when ready
    reverts(chain, execute, OUTSIDER, "AccessControlUnauthorizedAccount")

    receipt = chain.send(execute, EXECUTOR_KEY)
    executed = ex.events.ActionExecuted().process_receipt(receipt, errors=DISCARD)
    assert [(e["args"]["index"], e["args"]["target"], e["args"]["data"]) for e in executed] == [
        (i, a[0], a[2]) for i, a in enumerate(actions)
    ]
    (done,) = ex.events.ProposalExecuted().process_receipt(receipt, errors=DISCARD)
    assert done["args"]["operationHash"] == op_hash
    (upgraded,) = core.events.OsUpgraded().process_receipt(receipt, errors=DISCARD)
    assert upgraded["args"]["oldProgramHash"] == bytes(DEFAULT_PROGRAM_HASH)
    assert upgraded["args"]["newProgramHash"] == bytes(NEW_PROGRAM)
    assert upgraded["args"]["newOsVersion"] == "0.14.0"
    changes = core.events.ParameterChanged().process_receipt(receipt, errors=DISCARD)
    assert [(c["args"]["name"], c["args"]["oldValue"], c["args"]["newValue"]) for c in changes] == [
        (MIN_GAS_PRICE, 0, 25 * 10**9),
        (MIN_STAKE, 0, 20_000 * UNIT),
    ]

    assert core.functions.programHash().call() == bytes(NEW_PROGRAM)
    assert core.functions.configHash().call() == bytes(NEW_CONFIG)
    assert core.functions.osVersion().call() == "0.14.0"
    assert core.functions.getParameter(MIN_GAS_PRICE).call() == 25 * 10**9
    assert core.functions.parameters(MIN_STAKE).call() == 20_000 * UNIT
    assert state(chain, pid("upgrade")) == "Executed"

    # executing twice is refused, by name
    err = reverts(chain, execute, EXECUTOR_KEY, "AlreadyExecuted")
    assert str(err.error) == f"AlreadyExecuted(0x{pid('upgrade').hex()})"
    # and a guardian can no longer cancel
    reverts(chain, ex.functions.cancel(pid("upgrade"), "too late"), GUARDIAN, "AlreadyExecuted")


def test_execute_refuses_mismatched_actions_or_digest(chain):
    ex, actions = chain.executor, upgrade_actions(chain)
    chain.send(ex.functions.schedule(pid("m"), actions, digest("m")), EXECUTOR_KEY)
    chain.increase_time(TEST_DELAY_SECONDS + 1)

    tampered = [*actions[:1], (actions[1][0], 0, calldata(chain.core_state, "setParameter", MIN_GAS_PRICE, 1))]
    reordered = list(reversed(actions))
    for wrong_actions, wrong_digest in (
        (tampered, digest("m")),
        (reordered, digest("m")),
        (actions[:2], digest("m")),
        (actions, digest("other")),
    ):
        err = reverts(
            chain, ex.functions.execute(pid("m"), wrong_actions, wrong_digest), EXECUTOR_KEY, "OperationMismatch"
        )
        assert err.error.args[1] == ex.functions.operationHashOf(pid("m")).call()
    assert state(chain, pid("m")) == "Ready"
    assert chain.core_state.functions.getParameter(MIN_GAS_PRICE).call() == 0
    chain.send(ex.functions.execute(pid("m"), actions, digest("m")), EXECUTOR_KEY)
    assert state(chain, pid("m")) == "Executed"


def test_guardian_cancels_during_delay(chain):
    ex, actions = chain.executor, upgrade_actions(chain)
    chain.send(ex.functions.schedule(pid("c"), actions, digest("c")), EXECUTOR_KEY)
    chain.increase_time(TEST_DELAY_SECONDS // 2)

    # neither the executor key, the admin nor an outsider can cancel
    for key in (EXECUTOR_KEY, DEPLOYER, OUTSIDER):
        reverts(chain, ex.functions.cancel(pid("c"), "no"), key, "AccessControlUnauthorizedAccount")
    assert state(chain, pid("c")) == "Scheduled"

    receipt = chain.send(ex.functions.cancel(pid("c"), "security council veto: bad config hash"), 8)
    (event,) = ex.events.ProposalCancelled().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["proposalId"] == pid("c")
    assert event["args"]["guardian"] == chain.address(8)
    assert event["args"]["reason"] == "security council veto: bad config hash"
    assert state(chain, pid("c")) == "Cancelled"

    chain.increase_time(TEST_DELAY_SECONDS)
    reverts(chain, ex.functions.execute(pid("c"), actions, digest("c")), EXECUTOR_KEY, "AlreadyCancelled")
    reverts(chain, ex.functions.cancel(pid("c"), "again"), GUARDIAN, "AlreadyCancelled")
    assert chain.core_state.functions.programHash().call() == bytes(DEFAULT_PROGRAM_HASH)
    # a cancelled id can never be scheduled again
    reverts(chain, ex.functions.schedule(pid("c"), actions, digest("c")), EXECUTOR_KEY, "AlreadyScheduled")


def test_same_proposal_id_cannot_be_scheduled_twice(chain):
    ex, actions = chain.executor, upgrade_actions(chain)
    chain.send(ex.functions.schedule(pid("twice"), actions, digest("twice")), EXECUTOR_KEY)
    eta = ex.functions.etaOf(pid("twice")).call()
    chain.increase_time(10)
    err = reverts(
        chain, ex.functions.schedule(pid("twice"), actions[:1], digest("x")), EXECUTOR_KEY, "AlreadyScheduled"
    )
    assert err.error.args == (pid("twice"),)
    assert ex.functions.etaOf(pid("twice")).call() == eta  # not pushed back


def test_unknown_proposal_is_refused(chain):
    ex = chain.executor
    reverts(chain, ex.functions.execute(pid("ghost"), [], digest("ghost")), EXECUTOR_KEY, "UnknownProposal")
    reverts(chain, ex.functions.cancel(pid("ghost"), "?"), GUARDIAN, "UnknownProposal")


def test_treasury_grants_tokens_and_eth(chain):
    ex, token = chain.executor, chain.token
    grantee, other = chain.address(5), chain.address(6)
    chain.send(token.functions.mint(ex.address, 1_000 * UNIT), DEPLOYER)  # fund the treasury
    send_eth(chain.w3, chain.key(DEPLOYER), ex.address, 3 * UNIT)  # receive()
    assert chain.w3.eth.get_balance(ex.address) == 3 * UNIT
    eth_before = chain.w3.eth.get_balance(other)

    actions = [
        (token.address, 0, calldata(token, "transfer", grantee, 250 * UNIT)),
        (other, 2 * UNIT, b""),
    ]
    chain.send(ex.functions.schedule(pid("grant"), actions, digest("grant")), EXECUTOR_KEY)
    chain.increase_time(TEST_DELAY_SECONDS)
    receipt = chain.send(ex.functions.execute(pid("grant"), actions, digest("grant")), EXECUTOR_KEY)
    (transfer,) = token.events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert (transfer["args"]["from"], transfer["args"]["to"]) == (ex.address, grantee)
    assert token.functions.balanceOf(grantee).call() == 250 * UNIT
    assert token.functions.balanceOf(ex.address).call() == 750 * UNIT
    assert chain.w3.eth.get_balance(other) == eth_before + 2 * UNIT
    assert chain.w3.eth.get_balance(ex.address) == 1 * UNIT


def test_failing_action_reverts_everything_and_stays_executable(chain):
    ex, token, core = chain.executor, chain.token, chain.core_state
    actions = [
        (core.address, 0, calldata(core, "setParameter", MIN_STAKE, 1)),
        (token.address, 0, calldata(token, "transfer", chain.address(5), 10 * UNIT)),  # empty treasury
    ]
    chain.send(ex.functions.schedule(pid("fail"), actions, digest("fail")), EXECUTOR_KEY)
    chain.increase_time(TEST_DELAY_SECONDS)
    err = reverts(chain, ex.functions.execute(pid("fail"), actions, digest("fail")), EXECUTOR_KEY, "ActionFailed")
    index, target, return_data = err.error.args
    assert (index, target) == (1, token.address)
    assert decode_revert(return_data).name == "ERC20InsufficientBalance"
    assert core.functions.getParameter(MIN_STAKE).call() == 0  # action 0 rolled back too
    assert state(chain, pid("fail")) == "Ready"  # the executed mark was rolled back

    chain.send(token.functions.mint(ex.address, 10 * UNIT), DEPLOYER)
    chain.send(ex.functions.execute(pid("fail"), actions, digest("fail")), EXECUTOR_KEY)
    assert state(chain, pid("fail")) == "Executed"
    assert core.functions.getParameter(MIN_STAKE).call() == 1


def test_core_state_refuses_non_governor(chain):
    core = chain.core_state
    for key in (DEPLOYER, EXECUTOR_KEY, GUARDIAN):
        err = reverts(chain, core.functions.upgradeOs(NEW_PROGRAM, NEW_CONFIG, "evil"), key, "NotGovernor")
        assert err.error.args == (chain.address(key),)
        reverts(chain, core.functions.setParameter(MIN_GAS_PRICE, 1), key, "NotGovernor")
    assert core.functions.programHash().call() == bytes(DEFAULT_PROGRAM_HASH)
    assert core.functions.osVersion().call() == DEFAULT_OS_VERSION


def test_admin_sets_delay_for_later_proposals(chain):
    ex = chain.executor
    reverts(chain, ex.functions.setDelay(60), EXECUTOR_KEY, "AccessControlUnauthorizedAccount")
    reverts(chain, ex.functions.setDelay(366 * 24 * 3600), DEPLOYER, "DelayTooLong")
    receipt = chain.send(ex.functions.setDelay(60), DEPLOYER)
    (event,) = ex.events.DelayChanged().process_receipt(receipt, errors=DISCARD)
    assert (event["args"]["oldDelay"], event["args"]["newDelay"]) == (TEST_DELAY_SECONDS, 60)
    actions = upgrade_actions(chain)
    chain.send(ex.functions.schedule(pid("fast"), actions, digest("fast")), EXECUTOR_KEY)
    chain.increase_time(61)
    chain.send(ex.functions.execute(pid("fast"), actions, digest("fast")), EXECUTOR_KEY)
    assert state(chain, pid("fast")) == "Executed"
