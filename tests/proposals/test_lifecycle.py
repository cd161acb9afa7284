"""The state machine, table-driven: every allowed transition through its real trigger, archived; every
other pair refused with nothing changed; actors and timing checked."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from archive import kinds
from archive.models import ArchiveEntry
from govapp.celery import app as celery_app
from govapp.errors import DomainError
from proposals import lifecycle, services
from proposals.lifecycle import Actor, ProposalKind, ProposalStatus
from proposals.models import Proposal, StatusChange
from proposals.tasks import advance_timed_transitions

from .conftest import author_user, endorse_as, new_proposal, review_as, staff_user, to_endorsement, unchanged

S = ProposalStatus
pytestmark = pytest.mark.django_db


def force(proposal: Proposal, status: str, **fields) -> Proposal:
    """Test setup only: put a proposal in `status` without going through the lifecycle."""
    Proposal.objects.filter(pk=proposal.pk).update(status=status, **fields)
    proposal.refresh_from_db()
    return proposal


def past_vote(proposal: Proposal) -> Proposal:
    now = timezone.now()
    return force(proposal, S.VOTING, snapshot_block=1, voting_starts_at=now - timedelta(days=8),
                 voting_ends_at=now - timedelta(seconds=1))


# --- drivers: put a proposal in the source status and make the transition through its real trigger ------


def _draft_to_discussion(h):
    p = new_proposal(author_user())
    return services.user_transition(p.number, S.DISCUSSION, p.author)


def _discussion_to_endorsement(h):
    p = new_proposal(author_user())
    services.user_transition(p.number, S.DISCUSSION, p.author)
    later = timezone.now() + timedelta(seconds=settings.GOVERNANCE["DISCUSSION_PERIOD_SECONDS"] + 1)
    assert services.advance_discussions(now=timezone.now()) == []  # not due yet
    assert services.advance_discussions(now=later) == [p.number]
    return Proposal.objects.get(pk=p.pk)


def _endorsement_to(kind):
    def drive(h):
        p = to_endorsement(new_proposal(author_user(), kind))
        endorse_as(h.key(6), p)  # 400 of 1000 tokens: above every default threshold
        return Proposal.objects.get(pk=p.pk)
    return drive


def _in_review(h):
    p = to_endorsement(new_proposal(author_user(), ProposalKind.OS_UPGRADE))
    endorse_as(h.key(4), p)
    p.refresh_from_db()
    assert p.status == S.TECHNICAL_REVIEW
    return p


def _review_to_voting(h):
    p = _in_review(h)
    review_as(h.key(5), p, True)
    review_as(h.key(6), p, True)
    return Proposal.objects.get(pk=p.pk)


def _review_to_discussion(h):
    p = _in_review(h)
    review_as(h.key(5), p, False, "The config hash does not match the release build.")
    return Proposal.objects.get(pk=p.pk)


def _review_to_endorsement(h):
    p = _in_review(h)
    services.revise_proposal(p.number, p.author, body="Updated after a review comment.")
    return Proposal.objects.get(pk=p.pk)


def _close(outcome):
    def drive(h):
        p = past_vote(new_proposal(author_user(), ProposalKind.TREASURY_GRANT))
        return services.close_voting(p, outcome, details={"totals": {"for": "1", "against": "0", "abstain": "0"}})
    return drive


def _queue(h):
    p = force(new_proposal(author_user(), ProposalKind.PARAMETER_CHANGE), S.PASSED)
    return services.queue_for_execution(p, details={"eta": "1700000000"})


def _finish(fn, source=S.QUEUED):
    def drive(h):
        p = force(new_proposal(author_user(), ProposalKind.OS_UPGRADE), source)
        return fn(p, reason="on-chain fact", details={"tx_hash": "0x" + "ee" * 32})
    return drive


def _withdraw_from(source):
    def drive(h):
        p = new_proposal(author_user(), ProposalKind.OS_UPGRADE)
        if source == S.DRAFT:
            pass
        elif source == S.DISCUSSION:
            services.user_transition(p.number, S.DISCUSSION, p.author)
        elif source == S.ENDORSEMENT:
            to_endorsement(p)
        else:
            p = _in_review(h)
        return services.user_transition(p.number, S.WITHDRAWN, p.author, reason="Superseded.")
    return drive


DRIVERS = {
    (S.DRAFT, S.DISCUSSION): _draft_to_discussion,
    (S.DISCUSSION, S.ENDORSEMENT): _discussion_to_endorsement,
    (S.ENDORSEMENT, S.TECHNICAL_REVIEW): _endorsement_to(ProposalKind.OS_UPGRADE),
    (S.ENDORSEMENT, S.VOTING): _endorsement_to(ProposalKind.PARAMETER_CHANGE),
    (S.TECHNICAL_REVIEW, S.VOTING): _review_to_voting,
    (S.TECHNICAL_REVIEW, S.DISCUSSION): _review_to_discussion,
    (S.TECHNICAL_REVIEW, S.ENDORSEMENT): _review_to_endorsement,
    (S.VOTING, S.PASSED): _close(S.PASSED),
    (S.VOTING, S.REJECTED): _close(S.REJECTED),
    (S.VOTING, S.QUORUM_NOT_MET): _close(S.QUORUM_NOT_MET),
    (S.PASSED, S.QUEUED): _queue,
    (S.QUEUED, S.EXECUTED): _finish(services.mark_executed),
    (S.QUEUED, S.VETOED): _finish(services.mark_vetoed),
    (S.PASSED, S.FAILED): _finish(services.mark_failed, S.PASSED),
    (S.QUEUED, S.FAILED): _finish(services.mark_failed),
    (S.QUEUED, S.EXPIRED): _finish(services.mark_expired),
    **{(s, S.WITHDRAWN): _withdraw_from(s) for s in (S.DRAFT, S.DISCUSSION, S.ENDORSEMENT, S.TECHNICAL_REVIEW)},
}


def test_every_transition_of_the_table_has_a_driver():
    assert set(DRIVERS) == {(t.source, t.target) for t in lifecycle.TRANSITIONS}


#: Transitions whose trigger needs token holders and the chain index (the others run on the database alone).
NEEDS_CHAIN = {S.DISCUSSION, S.ENDORSEMENT, S.TECHNICAL_REVIEW}


@pytest.mark.parametrize("edge", lifecycle.TRANSITIONS, ids=lambda t: f"{t.source}->{t.target}")
def test_each_allowed_transition_happens_through_its_trigger_and_is_archived(edge, request):
    holders = request.getfixturevalue("holders") if edge.source in NEEDS_CHAIN else None
    proposal = DRIVERS[(edge.source, edge.target)](holders)
    proposal.refresh_from_db()
    assert proposal.status == edge.target
    change = StatusChange.objects.filter(proposal=proposal).latest("created_at", "id")
    assert (change.from_status, change.to_status) == (edge.source, edge.target)
    assert change.actor in edge.actors
    entry = ArchiveEntry.objects.get(sequence=change.archive_sequence)
    assert entry.kind == kinds.PROPOSAL_STATUS_CHANGED
    assert entry.proposal_ref == proposal.ref == str(proposal.number)
    assert (entry.payload["from"], entry.payload["to"], entry.payload["actor"]) == (edge.source, edge.target,
                                                                                   change.actor)
    # Every status the proposal went through is in its archive trail, in order.
    trail = [e.payload["to"] for e in ArchiveEntry.objects.filter(
        proposal_ref=proposal.ref, kind=kinds.PROPOSAL_STATUS_CHANGED).order_by("sequence")]
    assert trail == [c.to_status for c in StatusChange.objects.filter(proposal=proposal).exclude(from_status="")
                     .order_by("created_at", "id")]


ALLOWED = {(t.source, t.target) for t in lifecycle.TRANSITIONS}
FORBIDDEN = [(a, b) for a in S.values for b in S.values if (a, b) not in ALLOWED]


def test_every_other_pair_is_an_illegal_transition_and_changes_nothing():
    author = author_user()
    author.is_staff = True  # author AND staff: every role a user can have
    author.save()
    proposal = new_proposal(author)
    assert len(FORBIDDEN) == 14 * 14 - len(ALLOWED)
    for source in S.values:
        force(proposal, source)
        with unchanged(proposal):
            for target in [b for a, b in FORBIDDEN if a == source]:
                with pytest.raises(DomainError) as info:
                    services.user_transition(proposal.number, target, author)
                assert (info.value.code, info.value.status) == ("illegal_transition", 409), (source, target)
                if source in services.ENGINE_SOURCES:
                    with pytest.raises(DomainError) as info:
                        services.system_transition(proposal, target)
                    assert info.value.code == "illegal_transition", (source, target)


@pytest.mark.parametrize("edge", [t for t in lifecycle.TRANSITIONS if not t.actors & {Actor.AUTHOR, Actor.STAFF}],
                         ids=lambda t: f"{t.source}->{t.target}")
def test_system_and_review_transitions_are_not_for_users(edge):
    user = author_user()
    user.is_staff = True
    user.save()
    proposal = force(new_proposal(user), edge.source)
    with unchanged(proposal), pytest.raises(DomainError) as info:
        services.user_transition(proposal.number, edge.target, user)
    assert (info.value.code, info.value.status) == ("transition_not_permitted", 403)


def test_only_the_author_opens_the_discussion_or_withdraws():
    proposal = new_proposal(author_user())
    for other in (author_user(), staff_user()):
        for target in (S.DISCUSSION, S.WITHDRAWN):
            with unchanged(proposal), pytest.raises(DomainError) as info:
                services.user_transition(proposal.number, target, other)
            assert info.value.code == "transition_not_permitted"
    with unchanged(proposal), pytest.raises(DomainError) as info:
        services.user_transition(proposal.number, S.DISCUSSION, None)
    assert (info.value.code, info.value.status) == ("not_authenticated", 401)


def test_the_author_cannot_skip_the_discussion_but_staff_may_start_endorsement_early(holders):
    proposal = new_proposal(author_user())
    services.user_transition(proposal.number, S.DISCUSSION, proposal.author)
    with unchanged(proposal), pytest.raises(DomainError) as info:
        services.user_transition(proposal.number, S.ENDORSEMENT, proposal.author)
    assert info.value.code == "transition_not_permitted"
    moved = services.user_transition(proposal.number, S.ENDORSEMENT, staff_user())
    assert moved.status == S.ENDORSEMENT and moved.endorsement_block == holders.head
    assert moved.endorsement_total_power == str(1000 * 10**18) and moved.endorsement_round == 1


def test_discussion_period_and_the_beat_task(holders, governance):
    governance(DISCUSSION_PERIOD_SECONDS=60)
    due = new_proposal(author_user())
    services.user_transition(due.number, S.DISCUSSION, due.author)
    not_due = new_proposal(author_user())
    services.user_transition(not_due.number, S.DISCUSSION, not_due.author)
    Proposal.objects.filter(pk=due.pk).update(discussion_ends_at=timezone.now() - timedelta(seconds=1))
    assert "proposals-advance-timed-transitions" in celery_app.conf.beat_schedule
    entry = celery_app.conf.beat_schedule["proposals-advance-timed-transitions"]
    assert entry["task"] == advance_timed_transitions.name
    result = advance_timed_transitions.apply()  # runs the registered task here, as a worker would
    assert result.get() == [due.number]
    assert Proposal.objects.get(pk=due.pk).status == S.ENDORSEMENT
    assert Proposal.objects.get(pk=not_due.pk).status == S.DISCUSSION


def test_the_beat_task_leaves_proposals_in_discussion_while_the_index_is_empty(chain_settings):
    proposal = new_proposal(author_user())
    services.user_transition(proposal.number, S.DISCUSSION, proposal.author)
    later = timezone.now() + timedelta(days=30)
    with unchanged(proposal):
        assert services.advance_discussions(now=later) == []


def test_voting_fields_are_filled_on_entry_into_voting(holders, governance):
    governance(VOTING_PERIOD_SECONDS={"default": 3600, "os_upgrade": 7200})
    proposal = to_endorsement(new_proposal(author_user(), ProposalKind.PROCESS))
    holders.chain.mine(3)
    endorse_as(holders.key(6), proposal)
    proposal.refresh_from_db()
    assert proposal.status == S.VOTING
    assert proposal.snapshot_block == holders.head  # the latest indexed block (the index is not re-run)
    assert proposal.voting_ends_at - proposal.voting_starts_at == timedelta(seconds=3600)
    entry = ArchiveEntry.objects.filter(proposal_ref=proposal.ref,
                                        kind=kinds.PROPOSAL_STATUS_CHANGED).latest("sequence")
    assert entry.payload["snapshot_block"] == holders.head and entry.payload["to"] == S.VOTING


def test_closing_a_vote_waits_for_its_end_and_queueing_needs_an_action():
    proposal = new_proposal(author_user(), ProposalKind.INFORMATIONAL)
    force(proposal, S.VOTING, voting_ends_at=timezone.now() + timedelta(hours=1))
    with unchanged(proposal), pytest.raises(DomainError) as info:
        services.close_voting(proposal, S.PASSED)
    assert info.value.code == "voting_not_ended"
    with unchanged(proposal), pytest.raises(DomainError) as info:
        services.close_voting(proposal, S.EXECUTED)
    assert info.value.code == "invalid_outcome"
    closed = services.close_voting(proposal, S.PASSED, now=timezone.now() + timedelta(hours=2))  # the engine's clock
    assert closed.status == S.PASSED
    with unchanged(proposal), pytest.raises(DomainError) as info:
        services.queue_for_execution(proposal)
    assert info.value.code == "not_executable"


def test_pre_vote_transitions_are_refused_through_system_transition():
    proposal = force(new_proposal(author_user()), S.ENDORSEMENT)
    with unchanged(proposal), pytest.raises(DomainError) as info:
        services.system_transition(proposal, S.VOTING)
    assert info.value.code == "illegal_transition"


def test_main_path_per_kind():
    assert S.TECHNICAL_REVIEW in lifecycle.main_path_for(ProposalKind.OS_UPGRADE)
    assert S.TECHNICAL_REVIEW not in lifecycle.main_path_for(ProposalKind.TREASURY_GRANT)
    assert lifecycle.main_path_for(ProposalKind.PROCESS)[-1] == S.PASSED
    assert lifecycle.main_path_for(ProposalKind.PARAMETER_CHANGE)[-1] == S.EXECUTED
