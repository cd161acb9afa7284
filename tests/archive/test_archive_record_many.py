"""archive.services.record_many() set-based (PostgreSQL): one lock, one head read, one INSERT — the same chain,
the same entries as record() one by one, all or nothing."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from archive import kinds
from archive.models import ArchiveEntry
from archive.services import ArchiveError, record, record_many
from archive.testing import export_bytes, failure_of, sign, typed_data, verify_bytes
from archive.verify import dumps_body, hash_body_text

pytestmark = pytest.mark.django_db

VOTE_FIELDS = [("proposalId", "uint256"), ("voter", "address"), ("support", "uint8"), ("reason", "string"),
               ("timestamp", "uint64")]


def _items(accounts, ref: str = "7", count: int = 6) -> list[dict]:
    """Votes (some with a lower-case voter, which the archive checksums), a re-vote and other kinds."""
    items = []
    for i in range(count):
        account = accounts[i % len(accounts)]
        voter = account.address.lower() if i % 2 else account.address
        data = typed_data("Vote", VOTE_FIELDS, {"proposalId": int(ref), "voter": account.address, "support": i % 3,
                                                "reason": f"raison n° {i} \u2713 \"quoted\"\n", "timestamp": 100 + i})
        items.append({"kind": kinds.VOTE_REPLACED if i >= len(accounts) else kinds.VOTE_CAST,
                      "payload": {"proposal": ref, "voter": voter, "support": ["against", "for", "abstain"][i % 3],
                                  "weight": str(10 * i + 1), "note": {"nested": [1, "two", None, True]}},
                      "signed": sign(account, data)})
    items.append({"kind": kinds.COUNCIL_MEMBERSHIP_CHANGED, "payload": {"member": accounts[0].address.lower(),
                                                                        "change": "added"}})
    return items


def _fields(entry: ArchiveEntry) -> tuple:
    return entry.kind, entry.proposal_ref, entry.address, entry.payload, entry.signed


def test_set_based_record_many_equals_record_one_by_one_and_verifies(accounts):
    if connection.vendor != "postgresql":
        pytest.skip("the set-based path is PostgreSQL's")
    record(kinds.COUNCIL_MEMBERSHIP_CHANGED, {"member": accounts[1].address, "change": "added"})  # a head to chain to
    items = _items(accounts)
    with transaction.atomic():  # what record() one by one stores (then rolled back)
        expected = [_fields(ArchiveEntry.objects.get(sequence=record(**item).sequence)) for item in items]
        transaction.set_rollback(True)
    entries = record_many(items, set_based=True)
    stored = list(ArchiveEntry.objects.filter(sequence__gt=1).order_by("sequence"))
    assert [_fields(e) for e in stored] == expected  # same kinds, refs, actors, payloads, signed artifacts
    assert [e.sequence for e in entries] == [e.sequence for e in stored] == list(range(2, 2 + len(items)))
    previous = ArchiveEntry.objects.get(sequence=1)
    for returned, entry in zip(entries, stored, strict=True):
        assert (returned.hash, returned.prev_hash, returned.created_at) == (entry.hash, entry.prev_hash,
                                                                            entry.created_at)
        assert entry.prev_hash == previous.hash and entry.created_at >= previous.created_at
        assert entry.hash == hash_body_text(dumps_body(entry.body()))  # the same hash rule as record()
        previous = entry
    assert verify_bytes(export_bytes()).entries == len(items) + 1  # the standalone verifier, signatures included
    record(kinds.COUNCIL_MEMBERSHIP_CHANGED, {"member": accounts[2].address, "change": "added"})  # chains on
    assert verify_bytes(export_bytes()).entries == len(items) + 2


def test_set_based_record_many_refuses_a_closed_proposal_and_writes_nothing(builder, accounts):
    if connection.vendor != "postgresql":
        pytest.skip("the set-based path is PostgreSQL's")
    builder.vote(accounts[1], "4", "for", 5)
    builder.tally("4")
    count = ArchiveEntry.objects.count()
    with transaction.atomic():
        with pytest.raises(ArchiveError) as info:
            record_many(_items(accounts, "5", 2) + _items(accounts, "4", 2), set_based=True, savepoint=False)
        assert info.value.code == "archive_tally_closed" and info.value.details == {"closed": ["4"]}
        assert ArchiveEntry.objects.count() == count  # the transaction is still usable: nothing was written
        assert len(record_many(_items(accounts, "5", 2), set_based=True, savepoint=False)) == 3
    assert verify_bytes(export_bytes()).entries == count + 3


def test_record_many_checks_signatures_unless_the_caller_verified_them(accounts):
    items = _items(accounts, "9", 2)
    signature = items[1]["signed"]["signature"]
    other = signature[:10] + ("1" if signature[10] != "1" else "2") + signature[11:]  # recovers someone else
    forged = dict(items[1], signed={**items[1]["signed"], "signature": other})
    for set_based in (True, False):
        with pytest.raises(ArchiveError) as info:
            record_many([items[0], forged], set_based=set_based)
        assert info.value.code == "archive_invalid_signature"
    assert ArchiveEntry.objects.count() == 0
    with pytest.raises(ArchiveError):  # the form is still checked with signatures_verified
        record_many([dict(items[0], signed={**items[0]["signed"], "signature": "0x12"})], signatures_verified=True)
    assert len(record_many([items[0], forged], signatures_verified=True, set_based=True)) == 2  # form only
    assert verify_bytes(export_bytes(), check_signatures=False).entries == 2
    assert "signature" in str(failure_of(export_bytes()))  # and the offline verifier is who catches a forgery


def test_non_canonical_values_are_refused_by_both_paths(accounts):
    for bad in ({"x": 1.5}, {"x": "nul\x00"}, {"x": "\ud800"}, {1: "int key"}, {"x": object()}):
        for set_based in (True, False):
            with pytest.raises(ArchiveError) as info:
                record_many([{"kind": kinds.COUNCIL_MEMBERSHIP_CHANGED,
                              "payload": {"member": accounts[0].address, "change": "added", "extra": bad}},
                             {"kind": kinds.COUNCIL_MEMBERSHIP_CHANGED,
                              "payload": {"member": accounts[1].address, "change": "added"}}], set_based=set_based)
            assert info.value.code == "archive_not_canonical"
    assert ArchiveEntry.objects.count() == 0
