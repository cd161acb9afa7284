"""End to end on anvil, real signatures all the way: draft → endorsed → reviewed → voted by several delegates →
passed → queued (scheduled with the tally digest) → executed after the delay, the core contract holding what
the proposal asked for; the vetoed path through the API; a parameter change."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from eth_account import Account

from accounts.models import User
from archive import kinds
from archive.models import ArchiveEntry
from chain.deploy import TOKEN_UNIT, bytes32_name
from chain.tx import TransactionReverted, send_tx
from execution import engine
from execution.identifiers import proposal_onchain_id, tally_digest
from execution.models import Execution, ExecutionState
from proposals import selectors as proposal_selectors
from proposals import services as proposal_services
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Proposal
from voting import merkle
from voting import services as voting_services
from voting.models import Tally, Vote

from .conftest import OS_PAYLOAD, PARAMETER_PAYLOAD, executed_events, pass_delay, sign_typed

pytestmark = pytest.mark.django_db
S = ProposalStatus
E = ExecutionState

#: Dev account -> tokens (self-delegated). 5 and 6 are the core developers; 7, 8, 9 the council.
HOLDINGS = {3: 100, 4: 300, 5: 200, 6: 400}
#: Dev account -> support (0 against, 1 for, 2 abstain).
VOTES = {6: 1, 4: 1, 3: 0, 5: 2}


def _index() -> None:
    from chain.indexer import follow_once

    assert follow_once(respect_backoff=False)["status"] == "ok"


@pytest.fixture
def holders(chain_settings, council):
    chain = chain_settings
    accounts = sorted(HOLDINGS)
    chain.send(chain.token.functions.mintBatch([chain.address(i) for i in accounts],
                                               [HOLDINGS[i] * TOKEN_UNIT for i in accounts]), 0)
    for i in accounts:
        chain.send(chain.token.functions.delegate(chain.address(i)), i)
    _index()
    return chain


def _user(address: str | None = None, staff: bool = False) -> User:
    user = User.objects.for_address(address or Account.create().address)
    if staff:
        user.is_staff = True
        user.save()
    return user


def to_passed(chain, kind: str, payload: dict) -> Proposal:
    """The whole road, through the services and real signatures."""
    author = _user()
    proposal = proposal_services.create_proposal(author, title=f"{kind} for the network", body="Why and how.",
                                                 kind=kind, payload=payload)
    proposal_services.user_transition(proposal.number, S.DISCUSSION, author)
    proposal_services.user_transition(proposal.number, S.ENDORSEMENT, _user(staff=True))
    proposal.refresh_from_db()
    typed = proposal_selectors.endorsement_template(proposal, chain.address(6))
    proposal_services.endorse(proposal.number, typed, sign_typed(chain.key(6), typed))
    proposal.refresh_from_db()
    if kind == ProposalKind.OS_UPGRADE:
        assert proposal.status == S.TECHNICAL_REVIEW
        for dev in (5, 6):
            typed = proposal_selectors.review_template(proposal, chain.address(dev), True, "Reproduced the build.")
            proposal_services.review(proposal.number, typed, sign_typed(chain.key(dev), typed))
        proposal.refresh_from_db()
    assert proposal.status == S.VOTING
    for index, support in VOTES.items():
        typed = voting_services.vote_template(proposal, chain.address(index), support=support, reason="my reasons")
        voting_services.cast_vote(typed, sign_typed(chain.key(index), typed))
    # the vote period is over (as tests/voting does: its window is days long)
    Proposal.objects.filter(pk=proposal.pk).update(voting_ends_at=timezone.now() - timedelta(seconds=1))
    voting_services.close_voting(proposal.number)
    proposal.refresh_from_db()
    assert proposal.status == S.PASSED
    return proposal


def _queue(proposal: Proposal) -> Execution:
    created = engine.queue_passed()
    execution = Execution.objects.get(proposal=proposal)
    assert execution.pk in created
    return engine.advance(execution.pk)


def test_os_upgrade_from_draft_to_executed_on_chain(holders):
    chain = holders
    proposal = to_passed(chain, ProposalKind.OS_UPGRADE, OS_PAYLOAD)
    tally = Tally.objects.get(proposal=proposal)
    assert tally.merkle_root == merkle.vote_set_root(Vote.objects.filter(proposal=proposal, is_current=True)
                                                     .values_list("id", flat=True))

    execution = _queue(proposal)
    assert execution.state == E.QUEUED, execution.last_error
    # the chain records which vote authorized the change
    assert execution.onchain_id == proposal_onchain_id(proposal.number)
    expected = tally_digest(tally.merkle_root, int(tally.for_power), int(tally.against_power),
                            int(tally.abstain_power))
    assert execution.tally_digest == expected
    assert (int(tally.for_power), int(tally.against_power), int(tally.abstain_power)) == (
        700 * TOKEN_UNIT, 100 * TOKEN_UNIT, 200 * TOKEN_UNIT)
    (scheduled,) = chain.executor.events.ProposalScheduled().get_logs(from_block=0)
    assert "0x" + bytes(scheduled["args"]["tallyDigest"]).hex() == expected
    proposal.refresh_from_db()
    assert proposal.status == S.QUEUED
    assert execution.eta == chain.executor.functions.etaOf(execution.onchain_id).call()

    engine.advance(execution.pk)
    assert Execution.objects.get(pk=execution.pk).state == E.QUEUED  # the timelock holds
    pass_delay(chain)
    execution = engine.advance(execution.pk)
    assert execution.state == E.EXECUTED, (execution.last_error, execution.failure_reason)
    core = chain.core_state
    assert "0x" + bytes(core.functions.programHash().call()).hex() == OS_PAYLOAD["program_hash"]
    assert "0x" + bytes(core.functions.configHash().call()).hex() == OS_PAYLOAD["config_hash"]
    assert core.functions.osVersion().call() == OS_PAYLOAD["os_version"]
    assert execution.readback == execution.requested and execution.readback_matches
    assert executed_events(chain.w3, chain.deployment.executor_address, execution.onchain_id) == 1
    proposal.refresh_from_db()
    assert proposal.status == S.EXECUTED
    trail = list(ArchiveEntry.objects.filter(proposal_ref=proposal.ref).order_by("sequence")
                 .values_list("kind", flat=True))
    assert trail.index(kinds.TALLY_FINAL) < trail.index(kinds.EXECUTION_SCHEDULED) < trail.index(
        kinds.EXECUTION_EXECUTED)


def test_parameter_change_from_vote_to_chain(holders):
    chain = holders
    proposal = to_passed(chain, ProposalKind.PARAMETER_CHANGE, PARAMETER_PAYLOAD)
    execution = _queue(proposal)
    pass_delay(chain)
    execution = engine.advance(execution.pk)
    assert execution.state == E.EXECUTED
    assert chain.core_state.functions.parameters(bytes32_name("fee.min_gas_price")).call() == 1000
    assert execution.readback == {"parameters": {"fee.min_gas_price": "1000",
                                                 "staking.min_stake": str(25005 * 10**17)}}


def test_council_vetoes_through_the_api_and_the_chain_refuses_execution(holders, client):
    chain = holders
    proposal = to_passed(chain, ProposalKind.OS_UPGRADE, OS_PAYLOAD)
    execution = _queue(proposal)
    assert execution.state == E.QUEUED
    for index in (9, 8):
        member = chain.address(index)
        template = client.get(f"/api/execution/{proposal.number}/veto-template",
                              {"member": member, "reason": f"Member {index}: the audit is not finished."}).json()
        reply = client.post(f"/api/execution/{proposal.number}/veto",
                            {"typed_data": template, "signature": sign_typed(chain.key(index), template)},
                            content_type="application/json")
        assert reply.status_code == 201, reply.json()
    assert reply.json()["threshold_reached"] is True
    pass_delay(chain)  # past the ETA: the veto still wins
    execution = engine.advance(execution.pk)
    assert execution.state == E.VETOED, execution.last_error
    proposal.refresh_from_db()
    assert proposal.status == S.VETOED
    assert chain.executor.functions.state(execution.onchain_id).call() == engine.ONCHAIN_CANCELLED
    with pytest.raises(TransactionReverted, match="AlreadyCancelled"):
        send_tx(chain.w3, chain.executor.functions.execute(execution.onchain_id, execution.action_tuples(),
                                                           execution.tally_digest), chain.executor_key)
    assert executed_events(chain.w3, chain.deployment.executor_address, execution.onchain_id) == 0
    status = client.get(f"/api/execution/{proposal.number}").json()
    assert status["state"] == "vetoed" and status["veto"]["count"] == 2
    assert [t["purpose"] for t in status["transactions"]] == ["schedule", "cancel"]
    entries = ArchiveEntry.objects.filter(kind=kinds.VETO_SIGNATURE, proposal_ref=proposal.ref)
    assert entries.count() == 2 and all(e.signed["typed_data"]["primaryType"] == "Veto" for e in entries)
