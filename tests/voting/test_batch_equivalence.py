"""The set-based batch path (cast_votes) gives exactly what the same votes sent one by one give: the same
outcome for each vote, the same vote rows, the same archive entries, the same live tally — on two proposals
fed the same sequence, one vote per transaction on one and one batch on the other."""

from __future__ import annotations

import time

import pytest

from archive import kinds
from archive.models import ArchiveEntry
from archive.testing import export_bytes, verify_bytes
from govapp.errors import DomainError
from voting import services
from voting.models import Tally, Vote

from .conftest import sign, vote_typed

pytestmark = pytest.mark.django_db

# (account, support, timestamp offset, signer override): a delegator before its delegate (5 -> 6), the
# delegate, a delegator after it (7 -> 6), re-votes of a voter, of a delegator and of the delegate, a
# duplicate, a stale vote, no power (9 never delegated, 8 holds nothing), a forged signature, and the
# contract wallet (EIP-1271).
SEQUENCE = [(5, 1, 0, None), (6, 0, 0, None), (7, 2, 0, None), (3, 1, 0, None), (3, 0, 1, None),
            (3, 0, 1, None), (4, 1, 5, None), (4, 2, 3, None), (9, 1, 0, None), (8, 1, 0, None),
            (5, 0, 2, None), (6, 1, 4, None), (4, 0, 6, 3), ("wallet", 1, 0, None), (7, 1, 3, None),
            (6, 2, 9, None), ("wallet", 0, 2, None), (5, 2, 7, None)]


def _items(world, proposal, base: int) -> list[dict]:
    items = []
    for who, support, offset, signer in SEQUENCE:
        if who == "wallet":
            typed, signature = world.wallet_vote(proposal, support, timestamp=base + offset)
        else:
            typed = vote_typed(proposal.number, world.address(who), support, f"reason {who}", base + offset)
            signature = sign(world.key(signer if signer is not None else who), typed)
        items.append({"typed_data": typed, "signature": signature})
    return items


def _outcome(receipt_or_error) -> tuple:
    if isinstance(receipt_or_error, DomainError):
        return ("refused", receipt_or_error.code)
    return ("ok", receipt_or_error.vote.voter, receipt_or_error.vote.weight, receipt_or_error.replaced is not None)


def _votes(proposal) -> list[tuple]:
    return sorted(Vote.objects.filter(proposal=proposal).values_list(
        "voter", "support", "reason", "signed_timestamp", "votes_power", "override_balance", "power", "delegate",
        "overridden", "format", "contract_wallet", "is_current"))


def _replacements(proposal) -> list[tuple]:
    """Who replaced whom, by (voter, timestamp) — vote ids differ between proposals."""
    by_id = {v.id: (v.voter, v.signed_timestamp) for v in Vote.objects.filter(proposal=proposal)}
    return sorted((by_id[v.id], by_id.get(v.replaced_by), by_id.get(v.replaces))
                  for v in Vote.objects.filter(proposal=proposal))


def _archive(proposal) -> list[tuple]:
    ids = set(Vote.objects.filter(proposal=proposal).values_list("id", flat=True))
    rows = []
    for entry in ArchiveEntry.objects.filter(proposal_ref=proposal.ref, kind__in=kinds.VOTE_KINDS).order_by("sequence"):
        payload = {k: v for k, v in entry.payload.items() if k not in ("proposal", "vote_id", "replaces")}
        assert entry.payload["vote_id"] in ids and entry.payload.get("replaces", next(iter(ids))) in ids
        rows.append((entry.kind, entry.address, payload, entry.signed["signer"], entry.signed.get("scheme")))
    return rows


def _tally(proposal) -> tuple:
    tally = Tally.objects.get(pk=proposal.pk)
    return services.live_totals(tally), tally.votes_received


def test_a_batch_stores_what_the_same_votes_one_by_one_store(world):
    single, batch = world.proposals
    base = int(time.time()) - 60
    one_by_one = []
    for item in _items(world, single, base):
        try:
            one_by_one.append(services.cast_vote(item["typed_data"], item["signature"]))
        except DomainError as exc:
            one_by_one.append(exc)
    results = services.cast_votes(_items(world, batch, base))
    batched = [r.receipt if r.receipt is not None else r.error for r in results]

    assert [_outcome(o) for o in batched] == [_outcome(o) for o in one_by_one]
    assert [o[1] for o in map(_outcome, one_by_one) if o[0] == "refused"] == [
        "duplicate_vote", "stale_vote", "zero_voting_power", "zero_voting_power", "signer_mismatch"]
    assert _votes(batch) == _votes(single)
    assert _replacements(batch) == _replacements(single)
    assert _archive(batch) == _archive(single)
    assert any(row[0] == kinds.VOTE_REPLACED and row[2].get("cause") == "delegator_override"
               for row in _archive(batch))
    assert _tally(batch) == _tally(single)
    for proposal in (single, batch):
        assert services.live_totals(Tally.objects.get(pk=proposal.pk)) == services.recompute_totals(proposal)
    receipts = [r.receipt for r in results if r.receipt is not None]
    stored = {v.id: v.archive_sequence for v in Vote.objects.filter(proposal=batch)}
    assert all(stored[r.vote.id] == r.vote.archive_sequence is not None for r in receipts)
    assert verify_bytes(export_bytes()).entries == ArchiveEntry.objects.count()  # one chain, signatures checked


def test_a_batch_split_in_two_gives_the_same_as_one_batch(world):
    whole, halves = world.proposals
    base = int(time.time()) - 60
    services.cast_votes(_items(world, whole, base))
    items = _items(world, halves, base)
    services.cast_votes(items[:7])
    services.cast_votes(items[7:])
    assert _votes(halves) == _votes(whole)
    assert _archive(halves) == _archive(whole)
    assert _tally(halves) == _tally(whole)


def test_a_batch_with_a_closed_proposal_refuses_only_its_votes(world):
    from archive.services import record_final_tally

    closed, open_ = world.proposals
    base = int(time.time()) - 60
    record_final_tally(closed.ref)  # the archive holds its final tally (the Tally row is still open)
    items = _items(world, open_, base)[:4] + _items(world, closed, base)[:2]
    results = [r.as_dict() for r in services.cast_votes(items)]
    assert [r["ok"] for r in results] == [True, True, True, True, False, False]
    assert {r["error"]["code"] for r in results[4:]} == {"archive_tally_closed"}
    assert Vote.objects.filter(proposal=closed).count() == 0 and Vote.objects.filter(proposal=open_).count() == 4
    assert services.live_totals(Tally.objects.get(pk=open_.pk)) == services.recompute_totals(open_)
    assert verify_bytes(export_bytes()).entries == ArchiveEntry.objects.count()


def test_a_single_vote_on_a_proposal_with_an_archived_final_tally_is_refused_and_stores_nothing(world):
    """The one-statement single path (append + vote row + Tally): the archive's refusal comes back as its code."""
    from archive.services import record_final_tally

    from .conftest import nothing_stored

    closed, open_ = world.proposals
    record_final_tally(closed.ref)
    typed, signature = world.vote(3, closed)
    with nothing_stored(), pytest.raises(DomainError) as info:
        services.cast_vote(typed, signature)
    assert info.value.code == "archive_tally_closed"
    receipt = services.cast_vote(*world.vote(3, open_))  # the other proposal is not affected
    entry = ArchiveEntry.objects.get(sequence=receipt.vote.archive_sequence)
    assert entry.payload["vote_id"] == receipt.vote.id == Vote.objects.get(proposal=open_).id
    Tally.objects.filter(pk=open_.pk).update(closed_at=receipt.vote.created_at)  # closed behind the checks' back
    with nothing_stored(), pytest.raises(DomainError) as info:
        services.cast_vote(*world.vote(4, open_))
    assert info.value.code == "voting_ended"
    assert verify_bytes(export_bytes()).entries == ArchiveEntry.objects.count()
