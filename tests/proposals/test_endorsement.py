"""Endorsements: real EIP-712 signatures, voting power from the chain index at the reference block,
threshold arithmetic (share and absolute), revisions invalidating endorsements, every refusal."""

from __future__ import annotations

import pytest

from archive import kinds
from archive.models import ArchiveEntry
from chain.deploy import TOKEN_UNIT
from chain.signing import typed_data_for
from govapp.errors import DomainError
from proposals import selectors, services
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Endorsement

from .conftest import (
    NO_POWER,
    author_user,
    endorse_as,
    index_chain,
    new_proposal,
    sign_typed,
    to_endorsement,
    unchanged,
)

S = ProposalStatus
UNIT = TOKEN_UNIT


@pytest.mark.parametrize(("rule", "total", "required"), [
    ({"share_bps": 2500}, 1000, 250),
    ({"share_bps": 2500}, 1001, 251),  # rounded up: never below the share
    ({"share_bps": 1}, 10_000, 1),
    ({"share_bps": 1}, 9_999, 1),
    ({"share_bps": 10_000}, 7, 7),
    ({"share_bps": 100}, 0, 1),  # no supply: at least one unit of power is needed
    ({"absolute": str(350 * UNIT)}, 1000 * UNIT, 350 * UNIT),
    ({"absolute": 5}, 0, 5),
])
def test_threshold_arithmetic(governance, rule, total, required):
    governance(ENDORSEMENT_THRESHOLD={kind: rule for kind in ProposalKind.values})
    assert services.endorsement_threshold(ProposalKind.PROCESS, total) == required


def test_endorsements_add_up_to_a_share_threshold_then_voting_opens(holders, governance):
    governance(ENDORSEMENT_THRESHOLD={**governance()["ENDORSEMENT_THRESHOLD"], "process": {"share_bps": 3500}})
    proposal = to_endorsement(new_proposal(author_user(), ProposalKind.PROCESS))  # needs 350 of 1000 tokens
    first = endorse_as(holders.key(3), proposal)  # 100
    assert (first.weight, first.block, first.endorser) == (str(100 * UNIT), holders.head, holders.address(3))
    proposal.refresh_from_db()
    progress = selectors.endorsement_progress(proposal)
    assert proposal.status == S.ENDORSEMENT
    assert (progress.endorsed, progress.required, progress.total, progress.count) == (100 * UNIT, 350 * UNIT,
                                                                                      1000 * UNIT, 1)
    assert progress.percent == 28 and not progress.reached
    endorse_as(holders.key(5), proposal)  # 300
    proposal.refresh_from_db()
    assert proposal.status == S.ENDORSEMENT and selectors.endorsement_progress(proposal).percent == 85
    endorse_as(holders.key(4), proposal)  # 600 >= 350
    proposal.refresh_from_db()
    assert proposal.status == S.VOTING
    entries = ArchiveEntry.objects.filter(proposal_ref=proposal.ref, kind=kinds.ENDORSEMENT).order_by("sequence")
    assert [e.payload["endorser"] for e in entries] == [holders.address(i) for i in (3, 5, 4)]
    for entry in entries:
        assert entry.signed["signer"] == entry.payload["endorser"] == entry.address
        assert entry.signed["typed_data"]["message"]["revisionHash"] == proposal.revision_hash
        assert entry.payload["weight"] == Endorsement.objects.get(archive_sequence=entry.sequence).weight
    last = ArchiveEntry.objects.filter(proposal_ref=proposal.ref, kind=kinds.PROPOSAL_STATUS_CHANGED).latest("sequence")
    assert last.payload["to"] == S.VOTING and last.payload["endorsed_power"] == str(600 * UNIT)


def test_share_and_absolute_rules_decide_differently_on_the_same_endorsements(holders, governance):
    rules = governance()["ENDORSEMENT_THRESHOLD"]
    governance(ENDORSEMENT_THRESHOLD={**rules, "process": {"share_bps": 5000}, "informational": {
        "absolute": str(350 * UNIT)}})
    by_share = to_endorsement(new_proposal(author_user(), ProposalKind.PROCESS))
    by_amount = to_endorsement(new_proposal(author_user(), ProposalKind.INFORMATIONAL))
    for proposal in (by_share, by_amount):
        endorse_as(holders.key(3), proposal)
        endorse_as(holders.key(4), proposal)  # 400 tokens in all
        proposal.refresh_from_db()
    assert by_share.status == S.ENDORSEMENT  # 400 < 50 % of 1000
    assert by_amount.status == S.VOTING  # 400 >= 350


def test_weight_is_the_power_at_the_reference_block_not_later(holders, governance):
    governance(ENDORSEMENT_THRESHOLD={**governance()["ENDORSEMENT_THRESHOLD"], "process": {"share_bps": 2000}})
    proposal = to_endorsement(new_proposal(author_user(), ProposalKind.PROCESS))  # needs 200 of 1000
    chain = holders.chain
    chain.send(chain.token.functions.mint(holders.address(3), 5000 * UNIT), 0)  # bought after Endorsement opened
    assert index_chain() > holders.head
    endorsement = endorse_as(holders.key(3), proposal)
    assert endorsement.weight == str(100 * UNIT) and endorsement.block == holders.head
    proposal.refresh_from_db()
    assert proposal.status == S.ENDORSEMENT  # 100 at the reference block, not 5,100 now


def test_a_new_revision_needs_new_endorsements(holders, governance):
    governance(ENDORSEMENT_THRESHOLD={**governance()["ENDORSEMENT_THRESHOLD"], "process": {"share_bps": 4500}})
    proposal = to_endorsement(new_proposal(author_user(), ProposalKind.PROCESS))  # needs 450
    old_template = selectors.endorsement_template(proposal, holders.address(6))
    endorse_as(holders.key(4), proposal)  # 300 for revision 1
    services.revise_proposal(proposal.number, proposal.author, body="Clarified the second step.", note="clarity")
    proposal.refresh_from_db()
    assert proposal.revision_number == 2 and proposal.status == S.ENDORSEMENT
    progress = selectors.endorsement_progress(proposal)
    assert (progress.endorsed, progress.count) == (0, 0)
    assert [selectors.counts(proposal, e) for e in selectors.endorsements(proposal)] == [False]
    # A signature over the old revision hash is refused.
    with unchanged(proposal), pytest.raises(DomainError) as info:
        services.endorse(proposal.number, old_template, sign_typed(holders.key(6), old_template))
    assert (info.value.code, info.value.status) == ("stale_revision", 409)
    # The same endorser endorses the new revision (not "already endorsed"); the old weight no longer adds up.
    endorse_as(holders.key(4), proposal)
    proposal.refresh_from_db()
    assert selectors.endorsement_progress(proposal).endorsed == 300 * UNIT and proposal.status == S.ENDORSEMENT
    endorse_as(holders.key(5), proposal)
    proposal.refresh_from_db()
    assert proposal.status == S.VOTING


def test_forged_replayed_powerless_and_misdirected_endorsements_are_refused(holders, governance):
    governance(ENDORSEMENT_THRESHOLD={**governance()["ENDORSEMENT_THRESHOLD"], "os_upgrade": {"share_bps": 9000}})
    proposal = to_endorsement(new_proposal(author_user(), ProposalKind.OS_UPGRADE))
    other = to_endorsement(new_proposal(author_user(), ProposalKind.OS_UPGRADE))

    def refused(code, status, typed, signature, number=proposal.number):
        with unchanged(proposal, other), pytest.raises(DomainError) as info:
            services.endorse(number, typed, signature)
        assert (info.value.code, info.value.status) == (code, status)

    typed = selectors.endorsement_template(proposal, holders.address(3))
    # Forged: the message names account 3, account 4's key signed it.
    refused("signer_mismatch", 400, typed, sign_typed(holders.key(4), typed))
    # Another chain / another deployment.
    wrong_chain = {**typed, "domain": {**typed["domain"], "chainId": 1}}
    refused("wrong_chain", 400, wrong_chain, sign_typed(holders.key(3), wrong_chain))
    wrong_contract = {**typed, "domain": {**typed["domain"], "verifyingContract": "0x" + "11" * 20}}
    refused("wrong_contract", 400, wrong_contract, sign_typed(holders.key(3), wrong_contract))
    # Signed for proposal A, sent to proposal B.
    refused("wrong_proposal", 400, typed, sign_typed(holders.key(3), typed), number=other.number)
    # No voting power at the reference block.
    powerless = selectors.endorsement_template(proposal, holders.address(NO_POWER))
    refused("no_voting_power", 403, powerless, sign_typed(holders.key(NO_POWER), powerless))
    # A timestamp from before the round opened, or from the future.
    opened = int(proposal.endorsement_opened_at.timestamp())
    early = {**typed, "message": {**typed["message"], "timestamp": opened - 1}}
    refused("stale_signature", 409, early, sign_typed(holders.key(3), early))
    future = {**typed, "message": {**typed["message"], "timestamp": typed["message"]["timestamp"] + 3600}}
    refused("timestamp_in_future", 400, future, sign_typed(holders.key(3), future))
    # Garbage signature.
    refused("bad_signature", 400, typed, "0x" + "00" * 65)
    # The real thing is accepted once; the same signature again is a replay.
    signature = sign_typed(holders.key(3), typed)
    services.endorse(proposal.number, typed, signature)
    refused("already_endorsed", 409, typed, signature)
    # ... and so is a second, fresh signature by the same endorser for the same revision.
    again = selectors.endorsement_template(proposal, holders.address(3))
    again["message"]["timestamp"] += 1
    refused("already_endorsed", 409, again, sign_typed(holders.key(3), again))


def test_endorsements_only_while_in_endorsement(holders):
    proposal = new_proposal(author_user(), ProposalKind.PROCESS)
    with pytest.raises(DomainError) as info:
        selectors.endorsement_template(proposal, holders.address(3))
    assert info.value.code == "not_in_endorsement"
    services.user_transition(proposal.number, S.DISCUSSION, proposal.author)
    typed = typed_data_for("Endorsement", {"proposalId": proposal.number,
                                                     "revisionHash": proposal.revision_hash,
                                                     "endorser": holders.address(3), "timestamp": 1})
    with unchanged(proposal), pytest.raises(DomainError) as info:
        services.endorse(proposal.number, typed, sign_typed(holders.key(3), typed))
    assert (info.value.code, info.value.status) == ("not_in_endorsement", 409)
