"""Core developers' technical review of OS upgrades: N-of-M signed approvals, signed rejections, revisions."""

from __future__ import annotations

import pytest

from archive import kinds
from archive.models import ArchiveEntry
from govapp.errors import DomainError
from proposals import selectors, services
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import StatusChange

from .conftest import author_user, endorse_as, new_proposal, review_as, sign_typed, to_endorsement, unchanged

S = ProposalStatus
pytestmark = pytest.mark.django_db

CORE_A, CORE_B = 5, 6  # the dev core developers (settings.GOVERNANCE["CORE_DEVELOPERS"])


def in_review(holders):
    proposal = to_endorsement(new_proposal(author_user(), ProposalKind.OS_UPGRADE))
    endorse_as(holders.key(4), proposal)
    proposal.refresh_from_db()
    assert proposal.status == S.TECHNICAL_REVIEW and proposal.review_round == 1
    return proposal


def test_an_os_upgrade_goes_through_review_before_the_vote(holders):
    proposal = to_endorsement(new_proposal(author_user(), ProposalKind.PARAMETER_CHANGE))
    endorse_as(holders.key(4), proposal)
    proposal.refresh_from_db()
    assert proposal.status == S.VOTING  # other kinds skip the review
    assert selectors.review_status(proposal) is None
    assert in_review(holders).snapshot_block is None


def test_n_of_m_approvals_open_the_vote(holders):
    proposal = in_review(holders)
    first = review_as(holders.key(CORE_A), proposal, True, "Program hash matches the release build.")
    proposal.refresh_from_db()
    assert proposal.status == S.TECHNICAL_REVIEW
    status = selectors.review_status(proposal)
    assert (status.approvals, status.required) == (1, 2) and status.reviewed == {holders.address(CORE_A)}
    # The same core developer cannot approve twice.
    with unchanged(proposal), pytest.raises(DomainError) as info:
        review_as(holders.key(CORE_A), proposal, True, "Again.")
    assert (info.value.code, info.value.status) == ("already_reviewed", 409)
    review_as(holders.key(CORE_B), proposal, True, "Config reviewed; tests pass.")
    proposal.refresh_from_db()
    assert proposal.status == S.VOTING and proposal.snapshot_block is not None
    entries = ArchiveEntry.objects.filter(proposal_ref=proposal.ref, kind=kinds.TECHNICAL_REVIEW).order_by("sequence")
    assert [(e.payload["reviewer"], e.payload["verdict"]) for e in entries] == [
        (holders.address(CORE_A), "approve"), (holders.address(CORE_B), "approve")]
    assert entries[0].sequence == first.archive_sequence
    assert entries[0].signed["typed_data"]["message"]["comment"] == "Program hash matches the release build."
    change = StatusChange.objects.filter(proposal=proposal).latest("created_at", "id")
    assert (change.from_status, change.to_status, change.actor) == (S.TECHNICAL_REVIEW, S.VOTING, "system")


def test_a_single_approval_suffices_when_n_is_one(holders, governance):
    governance(CORE_REVIEW_APPROVALS=1)
    proposal = in_review(holders)
    review_as(holders.key(CORE_B), proposal, True, "LGTM")
    proposal.refresh_from_db()
    assert proposal.status == S.VOTING


def test_a_signed_rejection_sends_the_proposal_back_to_discussion(holders):
    proposal = in_review(holders)
    review_as(holders.key(CORE_A), proposal, True, "Fine by me.")
    reason = "The config hash is not the audited one (see the audit report, section 4)."
    review_as(holders.key(CORE_B), proposal, False, reason)
    proposal.refresh_from_db()
    assert proposal.status == S.DISCUSSION and proposal.discussion_ends_at > proposal.status_changed_at
    change = StatusChange.objects.filter(proposal=proposal).latest("created_at", "id")
    assert (change.actor, change.actor_address) == ("core_developer", holders.address(CORE_B))
    assert reason in change.reason
    entry = ArchiveEntry.objects.filter(proposal_ref=proposal.ref, kind=kinds.TECHNICAL_REVIEW).latest("sequence")
    assert entry.payload["verdict"] == "reject" and entry.payload["comment"] == reason
    # Who reviewed what stays public.
    assert [(r.reviewer, r.approve) for r in selectors.reviews(proposal)] == [
        (holders.address(CORE_A), True), (holders.address(CORE_B), False)]


def test_review_refusals(holders):
    proposal = in_review(holders)

    def refused(code, status, key, approve=True, comment="ok", **changes):
        typed = selectors.review_template(proposal, holders.address(key), approve, comment)
        typed["message"].update(changes)
        with unchanged(proposal), pytest.raises(DomainError) as info:
            services.review(proposal.number, typed, sign_typed(holders.key(key), typed))
        assert (info.value.code, info.value.status) == (code, status)

    refused("not_core_developer", 403, 4)  # a token holder, not a core developer
    refused("comment_required", 400, CORE_A, approve=False, comment="   ")
    refused("stale_revision", 409, CORE_A, revisionHash="0x" + "00" * 32)
    typed = selectors.review_template(proposal, holders.address(CORE_A), True, "ok")
    with unchanged(proposal), pytest.raises(DomainError) as info:  # signed by someone else
        services.review(proposal.number, typed, sign_typed(holders.key(CORE_B), typed))
    assert info.value.code == "signer_mismatch"


def test_revising_during_review_returns_to_endorsement_and_voids_the_reviews(holders):
    proposal = in_review(holders)
    review_as(holders.key(CORE_A), proposal, True, "Approved revision 1.")
    services.revise_proposal(proposal.number, proposal.author,
                             payload={"program_hash": "0x" + "ef" * 32, "config_hash": "0x" + "cd" * 32,
                                      "os_version": "0.14.1", "snips": []})
    proposal.refresh_from_db()
    assert proposal.status == S.ENDORSEMENT and proposal.endorsement_round == 2
    assert selectors.endorsement_progress(proposal).endorsed == 0
    endorse_as(holders.key(4), proposal)
    proposal.refresh_from_db()
    assert proposal.status == S.TECHNICAL_REVIEW and proposal.review_round == 2
    assert selectors.review_status(proposal).approvals == 0  # the approval of revision 1 does not count
    review_as(holders.key(CORE_A), proposal, True, "Approved revision 2.")  # may review the new revision
    review_as(holders.key(CORE_B), proposal, True, "Approved revision 2.")
    proposal.refresh_from_db()
    assert proposal.status == S.VOTING
