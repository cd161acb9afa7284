"""Amounts past 2**63 (and past a double's 2**53) are exact end to end, on every database: the vote rows, the live
Tally, the recomputed totals, the final tally and its archive entry, the export and its verification.

SQLite (the embedded default of `make run`) keeps them as decimal text (chain.models.Uint256Field): a NUMERIC
column there would hold 123456789012345678901234567 as the double 1.2345678901234568e+26."""

from __future__ import annotations

import pytest

from archive import kinds
from archive.models import ArchiveEntry
from archive.services import current_totals
from archive.testing import export_bytes, verify_bytes
from proposals.models import Proposal
from voting import services
from voting.models import Tally, Vote

from .conftest import HOLDINGS, T, build_world

ODD = 123456789012345678901234567  # 27 digits: no double, no int64 holds it
EXTRA = {3: ODD, 5: ODD + 1, 6: 3 * ODD + 7}  # minted on top of HOLDINGS: 3 self-delegated, 5 -> 6, 6 itself


def tokens(index: int) -> int:
    return T(HOLDINGS[index][0]) + EXTRA.get(index, 0)


@pytest.fixture
def odd_world(chain_settings, db):
    chain = chain_settings
    chain.send(chain.token.functions.mintBatch([chain.address(i) for i in EXTRA], list(EXTRA.values())), 0)
    return build_world(chain, proposals=1)


def test_odd_amounts_are_exact_from_the_vote_to_the_verified_export(odd_world):
    world, p = odd_world, odd_world.proposals[0]
    power_6 = tokens(6) + tokens(5) + tokens(7)  # 5 and 7 delegate to 6
    override_5 = tokens(5)

    receipt = services.cast_vote(*world.vote(6, p, support=1))  # single vote
    assert receipt.vote.weight == power_6 > 2**88
    results = services.cast_votes([dict(zip(("typed_data", "signature"), world.vote(i, p, support=s), strict=True))
                                   for i, s in ((3, 0), (5, 2))])  # batch: 5 overrides its delegate 6
    assert [r.error for r in results] == [None, None]
    receipt = services.cast_vote(*world.vote(3, p, support=1, timestamp=receipt.vote.signed_timestamp + 5))
    assert receipt.replaced is not None  # re-vote: 3 moves from Against to For

    expected = {"for": power_6 - override_5 + tokens(3), "against": 0, "abstain": override_5, "voters": 3,
                "overridden": override_5}
    tally = Tally.objects.get(pk=p.pk)
    assert services.live_totals(tally) == expected
    assert services.recompute_totals(p) == expected
    stored = {v.voter: v for v in Vote.objects.filter(proposal=p, is_current=True)}
    assert stored[world.address(6)].power == power_6 and stored[world.address(6)].overridden == override_5
    assert stored[world.address(5)].override_balance == override_5 == stored[world.address(5)].weight
    assert stored[world.address(3)].power == tokens(3)

    Proposal.objects.filter(pk=p.pk).update(voting_ends_at=p.voting_starts_at)
    tally = services.close_voting(p.number)
    assert tally.discrepancy is None and tally.outcome == "passed"
    assert (tally.for_power, tally.against_power, tally.abstain_power) == (expected["for"], 0, expected["abstain"])
    final = ArchiveEntry.objects.get(sequence=tally.archive_sequence)
    assert final.kind == kinds.TALLY_FINAL
    totals = {"for": str(expected["for"]), "against": "0", "abstain": str(expected["abstain"])}
    assert final.payload["totals"] == totals == current_totals(p.ref)
    report = verify_bytes(export_bytes())
    assert report.tallies == 1 and report.entries == ArchiveEntry.objects.count()
