"""Fixtures of the execution tests: passed proposals with an archived final tally, real signatures, log counts."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from archive.services import record_final_tally
from archive.testing import archive_flushable  # noqa: F401 - autouse: transactional tests may flush the archive
from chain.testing import (
    TEST_DELAY_SECONDS,
    sign_typed,  # noqa: F401 - shared test helpers, imported from here too
)
from execution import engine
from execution.models import Execution
from proposals import services
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Proposal

OS_PAYLOAD = {"program_hash": "0x" + "ab" * 32, "config_hash": "0x" + "cd" * 32, "os_version": "0.14.0",
              "snips": ["SNIP-12"]}
PARAMETER_PAYLOAD = {"changes": [{"name": "fee.min_gas_price", "value": "1000"},
                                 {"name": "staking.min_stake", "value": "2500.5"}]}
GRANT_RECIPIENT = "0x" + "12" * 20
GRANT_PAYLOAD = {"recipient": GRANT_RECIPIENT, "amount": "250.5"}
PAYLOADS = {ProposalKind.OS_UPGRADE: OS_PAYLOAD, ProposalKind.PARAMETER_CHANGE: PARAMETER_PAYLOAD,
            ProposalKind.TREASURY_GRANT: GRANT_PAYLOAD}
EMPTY_ROOT = "0x" + "00" * 32
COUNCIL_INDICES = (7, 8, 9)


def author():
    from accounts.models import User

    return User.objects.for_address(Account.create().address)


def passed_proposal(kind: str = ProposalKind.OS_UPGRADE, payload: dict[str, Any] | None = None) -> Proposal:
    """A proposal created through the services, then put in Passed with an archived final tally.

    Test setup only (like tests/proposals' `force`): the whole road to Passed is covered by the end-to-end
    test; here the engine is what is exercised.
    """
    proposal = services.create_proposal(author(), title=f"A {kind} proposal", body="Why and how.", kind=kind,
                                        payload=copy.deepcopy(payload or PAYLOADS[kind]))
    Proposal.objects.filter(pk=proposal.pk).update(status=ProposalStatus.PASSED)
    proposal.refresh_from_db()
    record_final_tally(proposal.ref, {"outcome": "passed", "merkle_root": EMPTY_ROOT})
    return proposal


def executed_events(w3: Web3, executor_address: str, onchain_id: str, event: str = "ProposalExecuted") -> int:
    """How many `event` logs the executor emitted for this proposal id (eth_getLogs, from block 0)."""
    signatures = {"ProposalExecuted": "ProposalExecuted(bytes32,bytes32)",
                  "ProposalCancelled": "ProposalCancelled(bytes32,address,string)",
                  "ProposalScheduled": "ProposalScheduled(bytes32,bytes32,bytes32,uint256,(address,uint256,bytes)[])"}
    topic0 = "0x" + keccak(text=signatures[event]).hex()
    logs = w3.eth.get_logs({"address": executor_address, "fromBlock": 0, "toBlock": "latest",
                            "topics": [topic0, onchain_id]})
    return len(logs)


def pass_delay(chain) -> None:
    chain.increase_time(TEST_DELAY_SECONDS + 1)


def run_until(execution: Execution, states: set[str], *, steps: int = 10) -> Execution:
    for _ in range(steps):
        execution = engine.advance(execution.pk)
        if execution.state in states:
            return execution
    return execution


@pytest.fixture
def council(settings):
    """The dev council (accounts 7, 8, 9) with threshold 2, whatever the environment says."""
    from chain.anvil import dev_address

    value = copy.deepcopy(settings.GOVERNANCE)
    value["SECURITY_COUNCIL"] = [dev_address(i) for i in COUNCIL_INDICES]
    value["SECURITY_COUNCIL_THRESHOLD"] = 2
    value["EXECUTION_CONFIRMATIONS"] = 1
    settings.GOVERNANCE = value
    return value
