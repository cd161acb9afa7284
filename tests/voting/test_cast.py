"""Casting, re-voting, the delegator override, contract wallets and the tally (live vs recomputed vs archive),
on anvil with real signatures and voting power read from the chain index."""

from __future__ import annotations

import logging
import time

import pytest

from archive import kinds
from archive.models import ArchiveEntry
from archive.services import current_totals
from chain import eip712
from proposals.lifecycle import ProposalStatus
from proposals.models import Proposal
from voting import merkle, services
from voting.models import Tally, Vote

from .conftest import WALLET_TOKENS, T, sign, vote_typed

pytestmark = pytest.mark.django_db


def live(p: Proposal) -> dict[str, int]:
    return services.live_totals(Tally.objects.get(pk=p.pk))


def weights(p: Proposal) -> dict[str, int]:
    t = live(p)
    return {k: t[k] for k in ("for", "against", "abstain")}


def archived(p: Proposal) -> dict[str, int]:
    return {k: int(v) for k, v in current_totals(p.ref).items()}


def assert_consistent(p: Proposal) -> None:
    """The live Tally row, the SQL recomputation and the archive's recompute rule all agree."""
    recomputed = services.recompute_totals(p)
    assert live(p) == recomputed
    assert archived(p) == {k: recomputed[k] for k in ("for", "against", "abstain")}


def test_a_vote_is_counted_with_its_indexed_power(world):
    p = world.proposals[0]
    typed, sig = world.vote(3, p, support=1, reason="Looks good")
    receipt = services.cast_vote(typed, sig)
    vote = receipt.vote
    assert vote.id == "0x" + eip712.digest(typed).hex()
    assert vote.voter == world.address(3) and int(vote.power) == T(100) and vote.weight == T(100)
    assert receipt.replaced is None and vote.contract_wallet is False
    tally = Tally.objects.get(pk=p.pk)
    assert int(tally.for_power) == T(100) and tally.voters == 1 and tally.votes_received == 1
    entry = ArchiveEntry.objects.get(sequence=vote.archive_sequence)
    assert entry.kind == kinds.VOTE_CAST and entry.payload["weight"] == str(T(100))
    assert entry.payload["vote_id"] == vote.id and entry.signed["signature"] == sig.lower()
    assert_consistent(p)


def test_the_tally_is_opened_with_the_snapshot_total_and_quorum(world, settings):
    p = world.proposals[0]
    tally = Tally.objects.get(pk=p.pk)
    assert tally.snapshot_block == p.snapshot_block
    assert int(tally.total_power) == T(100 + 300 + 200 + 400 + 50 + 70 + WALLET_TOKENS)
    assert tally.quorum_bps == settings.GOVERNANCE["QUORUM_BPS"]["default"]
    assert p.voting_ends_at - p.voting_starts_at == __import__("datetime").timedelta(
        seconds=settings.GOVERNANCE["VOTING_PERIOD_SECONDS"]["default"])


def test_a_later_vote_replaces_the_earlier_one_and_the_archive_keeps_both(world):
    p = world.proposals[0]
    now = int(time.time())
    first = vote_typed(p.number, world.address(4), 1, "yes", now - 10)
    second = vote_typed(p.number, world.address(4), 0, "changed my mind", now - 5)
    r1 = services.cast_vote(first, sign(world.key(4), first))
    r2 = services.cast_vote(second, sign(world.key(4), second))
    assert r2.replaced is not None and r2.replaced.id == r1.vote.id
    assert weights(p) == {"for": 0, "against": T(300), "abstain": 0}
    tally = Tally.objects.get(pk=p.pk)
    assert tally.voters == 1 and tally.votes_received == 2
    old, new = Vote.objects.get(pk=r1.vote.id), Vote.objects.get(pk=r2.vote.id)
    assert (old.is_current, old.replaced_by) == (False, new.id)
    assert (new.is_current, new.replaces) == (True, old.id)
    entries = list(ArchiveEntry.objects.filter(proposal_ref=p.ref, kind__in=kinds.VOTE_KINDS).order_by("sequence"))
    assert [e.kind for e in entries] == [kinds.VOTE_CAST, kinds.VOTE_REPLACED]
    assert entries[1].payload["replaces"] == old.id and entries[1].payload["cause"] == "revote"
    assert_consistent(p)


def test_delegators_override_a_delegate_who_voted_first(world):
    """6 has 400 own + 200 from 5 + 50 from 7 = 650 votes. 6 votes first; 5 and 7 then vote themselves."""
    p = world.proposals[0]
    r6 = services.cast_vote(*world.vote(6, p, support=1))
    assert r6.vote.weight == T(650)
    r5 = services.cast_vote(*world.vote(5, p, support=0, reason="I disagree with my delegate"))
    assert (int(r5.vote.votes_power), int(r5.vote.override_balance), r5.vote.delegate) == (0, T(200), world.address(6))
    assert r5.vote.weight == T(200)
    assert Vote.objects.get(pk=r6.vote.id).weight == T(450)
    assert weights(p) == {"for": T(450), "against": T(200), "abstain": 0}
    services.cast_vote(*world.vote(7, p, support=2))
    six = Vote.objects.get(pk=r6.vote.id)
    assert (int(six.power), int(six.overridden), six.weight) == (T(650), T(250), T(400))
    assert weights(p) == {"for": T(400), "against": T(200), "abstain": T(50)}
    assert live(p)["overridden"] == T(250) and live(p)["voters"] == 3
    # the archive re-records 6's own signed vote with the lowered weight, so its recompute agrees
    adjustments = ArchiveEntry.objects.filter(proposal_ref=p.ref, kind=kinds.VOTE_REPLACED,
                                              payload__cause="delegator_override").order_by("sequence")
    assert [(e.payload["voter"], e.payload["weight"], e.payload["overridden_by"]) for e in adjustments] == [
        (world.address(6), str(T(450)), world.address(5)), (world.address(6), str(T(400)), world.address(7))]
    assert all(e.signed["signature"] == r6.vote.signature for e in adjustments)
    assert_consistent(p)


def test_delegators_who_vote_first_lower_their_delegates_later_vote(world):
    p = world.proposals[1]
    services.cast_vote(*world.vote(5, p, support=0))
    services.cast_vote(*world.vote(7, p, support=0))
    assert weights(p) == {"for": 0, "against": T(250), "abstain": 0}
    r6 = services.cast_vote(*world.vote(6, p, support=1))
    assert (int(r6.vote.power), int(r6.vote.overridden), r6.vote.weight) == (T(650), T(250), T(400))
    assert weights(p) == {"for": T(400), "against": T(250), "abstain": 0}
    assert ArchiveEntry.objects.get(sequence=r6.vote.archive_sequence).payload["weight"] == str(T(400))
    assert_consistent(p)


def test_revotes_keep_the_override_arithmetic(world):
    p = world.proposals[0]
    now = int(time.time())
    six = [vote_typed(p.number, world.address(6), s, "", now - 30 + i) for i, s in enumerate((1, 0))]
    five = [vote_typed(p.number, world.address(5), s, "", now - 20 + i) for i, s in enumerate((0, 2))]
    services.cast_vote(six[0], sign(world.key(6), six[0]))
    services.cast_vote(five[0], sign(world.key(5), five[0]))
    assert weights(p) == {"for": T(450), "against": T(200), "abstain": 0}
    services.cast_vote(six[1], sign(world.key(6), six[1]))  # the delegate changes side: still 450
    assert weights(p) == {"for": 0, "against": T(650), "abstain": 0}
    services.cast_vote(five[1], sign(world.key(5), five[1]))  # the delegator changes side: 200 moves
    assert weights(p) == {"for": 0, "against": T(450), "abstain": T(200)}
    assert Tally.objects.get(pk=p.pk).voters == 2
    assert_consistent(p)


def test_a_contract_wallet_votes_through_eip1271(world):
    p = world.proposals[0]
    typed, signature = world.wallet_vote(p, support=1, reason="from my multisig")
    receipt = services.cast_vote(typed, signature)
    assert receipt.vote.voter == world.wallet.address and receipt.vote.contract_wallet is True
    assert receipt.vote.weight == T(WALLET_TOKENS)
    assert weights(p)["for"] == T(WALLET_TOKENS)
    assert_consistent(p)


def test_close_recomputes_decides_archives_and_moves_the_proposal(world, settings):
    p = world.proposals[0]
    ids = [services.cast_vote(*world.vote(i, p, support=s)).vote.id for i, s in ((6, 1), (5, 0), (3, 1), (4, 2))]
    Proposal.objects.filter(pk=p.pk).update(voting_ends_at=p.voting_starts_at)
    tally = services.close_voting(p.number)
    p.refresh_from_db()
    assert tally.outcome == "passed" and p.status == ProposalStatus.PASSED
    assert tally.discrepancy is None
    assert (int(tally.for_power), int(tally.against_power), int(tally.abstain_power)) == (T(550), T(200), T(300))
    assert tally.merkle_root == merkle.vote_set_root(ids)
    entry = ArchiveEntry.objects.get(sequence=tally.archive_sequence)
    assert entry.kind == kinds.TALLY_FINAL
    assert entry.payload["totals"] == {"for": str(T(550)), "against": str(T(200)), "abstain": str(T(300))}
    assert entry.payload["merkle_root"] == tally.merkle_root and entry.payload["outcome"] == "passed"
    assert services.close_voting(p.number).archive_sequence == tally.archive_sequence  # idempotent
    with pytest.raises(services.DomainError) as err:
        services.cast_vote(*world.vote(7, p))
    assert err.value.code == "voting_not_open"


def test_close_uses_the_recomputed_tally_when_the_live_one_drifted(world, caplog):
    p = world.proposals[0]
    services.cast_vote(*world.vote(6, p, support=1))
    services.cast_vote(*world.vote(4, p, support=0))
    Tally.objects.filter(pk=p.pk).update(for_power=T(1), against_power=T(5000))  # a corrupted live row
    Proposal.objects.filter(pk=p.pk).update(voting_ends_at=p.voting_starts_at)
    with caplog.at_level(logging.ERROR, logger="voting.services"):
        tally = services.close_voting(p.number)
    assert "TALLY MISMATCH" in caplog.text
    assert (int(tally.for_power), int(tally.against_power)) == (T(650), T(300)) and tally.outcome == "passed"
    assert tally.discrepancy["live"]["against"] == str(T(5000))
    entry = ArchiveEntry.objects.get(sequence=tally.archive_sequence)
    assert entry.payload["discrepancy"]["recomputed"]["for"] == str(T(650))


@pytest.mark.parametrize("votes, outcome", [
    ([(6, 1), (4, 0), (3, 0), (5, 0), (7, 0)], "rejected"),  # For 400 < Against 650 (6's 650 less 250 overridden)
    ([(6, 1), (4, 1), (3, 0)], "passed"),  # For 950 > Against 100
    ([(4, 0), (3, 1)], "quorum_not_met"),  # For + Abstain = 100 < 10 % of 1,240
    ([(4, 1), (6, 1), (3, 0), (5, 0), (7, 0), (9, 0)], "passed"),  # 9 never delegated: refused below, not counted
])
def test_outcomes(world, votes, outcome):
    p = world.proposals[0]
    for index, support in votes:
        if index == 9:
            with pytest.raises(services.DomainError):
                services.cast_vote(*world.vote(index, p, support=support))
            continue
        services.cast_vote(*world.vote(index, p, support=support))
    Proposal.objects.filter(pk=p.pk).update(voting_ends_at=p.voting_starts_at)
    assert services.close_voting(p.number).outcome == outcome


def test_quorum_not_met_and_quorum_counts(world, settings):
    import copy

    governance = copy.deepcopy(settings.GOVERNANCE)
    governance["QUORUM_BPS"] = {"default": 5000}  # half of 1,240 = 620 needed
    settings.GOVERNANCE = governance
    p = world.proposals[0]
    Tally.objects.filter(pk=p.pk).update(quorum_bps=5000)
    services.cast_vote(*world.vote(4, p, support=1))  # 300 For
    services.cast_vote(*world.vote(3, p, support=2))  # 100 Abstain: counts toward quorum (400 < 620)
    services.cast_vote(*world.vote(5, p, support=0))  # 200 Against: does not count toward quorum
    Proposal.objects.filter(pk=p.pk).update(voting_ends_at=p.voting_starts_at)
    tally = services.close_voting(p.number)
    assert tally.outcome == "quorum_not_met"
    p.refresh_from_db()
    assert p.status == ProposalStatus.QUORUM_NOT_MET


def test_decide_rules(settings):
    counts = settings.GOVERNANCE["QUORUM_COUNTS"]
    assert set(counts) == {"for", "abstain"}
    assert services.decide({"for": 160, "against": 40, "abstain": 0}, 1000, 1000).outcome == "passed"
    assert services.decide({"for": 50, "against": 50, "abstain": 100}, 1000, 1000).outcome == "rejected"
    assert services.decide({"for": 10, "against": 500, "abstain": 89}, 1000, 1000).outcome == "quorum_not_met"
    assert services.decide({"for": 10, "against": 500, "abstain": 90}, 1000, 1000).outcome == "rejected"


def test_batch_reports_each_vote_on_its_own(world):
    p = world.proposals[0]
    good = world.vote(3, p, support=1)
    bad_sig = world.vote(4, p, support=1)
    zero = world.vote(8, p, support=1)
    also_good = world.vote(6, p, support=0)
    items = [{"typed_data": good[0], "signature": good[1]},
             {"typed_data": bad_sig[0], "signature": sign(world.key(5), bad_sig[0])},
             {"typed_data": zero[0], "signature": zero[1]},
             {"typed_data": also_good[0], "signature": also_good[1]},
             {"typed_data": good[0], "signature": good[1]},
             "not a vote"]
    results = [r.as_dict() for r in services.cast_votes(items)]
    assert [r["ok"] for r in results] == [True, False, False, True, False, False]
    assert [r.get("error", {}).get("code") for r in results] == [
        None, "signer_mismatch", "zero_voting_power", None, "duplicate_vote", "malformed_vote"]
    assert weights(p) == {"for": T(100), "against": T(650), "abstain": 0}
    assert Vote.objects.filter(proposal=p).count() == 2
    assert_consistent(p)


def test_the_beat_task_closes_the_votes_that_are_due(world):
    from govapp.celery import app
    from voting import tasks

    assert app.conf.beat_schedule["voting-close-due-votes"]["task"] == tasks.close_due_votes.name
    due, open_ = world.proposals
    services.cast_vote(*world.vote(6, due, support=1))
    Proposal.objects.filter(pk=due.pk).update(voting_ends_at=due.voting_starts_at)
    done = tasks.close_due_votes()
    assert [(d["proposal"], d["outcome"], d["discrepancy"]) for d in done] == [(due.number, "passed", False)]
    due.refresh_from_db()
    open_.refresh_from_db()
    assert due.status == ProposalStatus.PASSED and open_.status == ProposalStatus.VOTING
    assert tasks.close_due_votes() == []
