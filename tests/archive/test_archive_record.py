"""archive.services.record(): one chain, canonical payloads, signed artifacts, tallies, same transaction."""

from __future__ import annotations

import hashlib

import pytest
from django.db import transaction

from archive import kinds
from archive.models import ArchiveEntry
from archive.selectors import entries_for_proposal, head, proposal_trail_url
from archive.services import ArchiveError, current_totals, record
from archive.testing import sign, typed_data
from archive.verify import GENESIS_HASH, canonical_json, dumps_body, format_time

pytestmark = pytest.mark.django_db


def test_entries_form_one_hash_chain_over_every_field(builder):
    entries = builder.story()
    assert [e.sequence for e in entries] == list(range(1, len(entries) + 1))
    prev = GENESIS_HASH
    for entry in ArchiveEntry.objects.order_by("sequence"):
        assert entry.prev_hash == prev
        body = {"address": entry.address, "kind": entry.kind, "payload": entry.payload, "prev_hash": prev,
                "proposal_ref": entry.proposal_ref, "sequence": entry.sequence, "signed": entry.signed,
                "time": format_time(entry.created_at)}
        assert entry.hash == hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest()
        assert dumps_body(body) == canonical_json(body)
        prev = entry.hash
    assert head().sequence == len(entries) and head().hash == prev
    times = list(ArchiveEntry.objects.order_by("sequence").values_list("created_at", flat=True))
    assert times == sorted(times)


def test_payload_is_normalized_and_signed_kept_verbatim(builder, accounts):
    vote = builder.vote(accounts[1], "3", "for", 42)
    stored = ArchiveEntry.objects.get(sequence=vote.sequence)
    assert stored.proposal_ref == "3" and stored.address == accounts[1].address
    assert stored.payload == {"proposal": "3", "voter": accounts[1].address, "support": "for", "weight": "42"}
    assert stored.signed["typed_data"]["message"]["reason"] == "I vote for ✓"
    assert stored.signed["signature"].startswith("0x") and len(stored.signed["signature"]) == 132
    entry = record(kinds.PROPOSAL_CREATED, {"proposal": 9, "title": "T", "author": accounts[0].address.lower()})
    assert entry.payload["proposal"] == "9" and entry.proposal_ref == "9"
    assert entry.payload["author"] == accounts[0].address  # checksummed
    assert entry.address == accounts[0].address


@pytest.mark.parametrize("payload", [
    {"proposal": "1", "title": "x", "author": "0x" + "1" * 40, "ratio": 0.5},
    {"proposal": "1", "title": "x", "author": "0x" + "1" * 40, "nested": {"deep": [1, 2.0]}},
    {"proposal": "1", "title": "x", "author": "0x" + "1" * 40, "nan": float("nan")},
])
def test_floats_are_refused_and_nothing_is_written(payload):
    with pytest.raises(ArchiveError) as info:
        record(kinds.PROPOSAL_CREATED, payload)
    assert info.value.code == "archive_not_canonical" and "float" in info.value.message
    assert not ArchiveEntry.objects.exists()


@pytest.mark.parametrize(("kind", "payload", "code"), [
    ("proposal.eaten", {"proposal": "1"}, "archive_unknown_kind"),
    (kinds.PROPOSAL_STATUS_CHANGED, {"proposal": "1", "from": "draft"}, "archive_invalid_payload"),
    (kinds.PROPOSAL_CREATED, {"proposal": "1", "title": "x", "author": "nobody"}, "archive_invalid_payload"),
    (kinds.TALLY_FINAL, {"proposal": "1", "totals": {"for": 1, "against": "0", "abstain": "0"}},
     "archive_invalid_payload"),
    (kinds.COUNCIL_MEMBERSHIP_CHANGED, {"member": "0x" + "2" * 40, "change": "promoted"}, "archive_invalid_payload"),
    (kinds.PROPOSAL_CREATED, {"proposal": "1", "title": "x", "author": "0x" + "1" * 40, "k": "a\x00b"},
     "archive_not_canonical"),
    (kinds.PROPOSAL_CREATED, {"proposal": "1", "title": "x", "author": "0x" + "1" * 40, 5: "int key"},
     "archive_not_canonical"),
])
def test_malformed_entries_are_refused(kind, payload, code):
    with pytest.raises(ArchiveError) as info:
        record(kind, payload)
    assert info.value.code == code
    assert not ArchiveEntry.objects.exists()


def test_signed_kinds_need_a_valid_signature_by_the_actor(builder, accounts):
    payload = {"proposal": "5", "voter": accounts[1].address, "support": "for", "weight": "1"}
    with pytest.raises(ArchiveError) as info:
        record(kinds.VOTE_CAST, payload)
    assert info.value.code == "archive_invalid_payload" and "signed" in info.value.message

    data = typed_data("Vote", [("voter", "address"), ("support", "uint8")],
                      {"voter": accounts[1].address, "support": 1})
    forged = {**sign(accounts[2], data), "signer": accounts[1].address}  # signed by someone else
    with pytest.raises(ArchiveError) as info:
        record(kinds.VOTE_CAST, payload, signed=forged)
    assert info.value.code == "archive_invalid_signature"

    by_other = sign(accounts[2], data)  # valid signature, but not by the voter
    with pytest.raises(ArchiveError) as info:
        record(kinds.VOTE_CAST, payload, signed=by_other)
    assert info.value.code == "archive_invalid_payload" and "signer" in info.value.message

    against = typed_data("Vote", [("voter", "address"), ("support", "uint8")],
                         {"voter": accounts[1].address, "support": 0})
    with pytest.raises(ArchiveError) as info:  # the signature says "against", the payload "for"
        record(kinds.VOTE_CAST, payload, signed=sign(accounts[1], against))
    assert "support" in info.value.message

    high_s = sign(accounts[1], data)
    raw = bytes.fromhex(high_s["signature"][2:])
    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    s = n - int.from_bytes(raw[32:64], "big")
    malleated = raw[:32] + s.to_bytes(32, "big") + bytes([55 - raw[64]])  # the malleable twin
    with pytest.raises(ArchiveError) as info:
        record(kinds.VOTE_CAST, payload, signed={**high_s, "signature": "0x" + malleated.hex()})
    assert info.value.code == "archive_invalid_signature" and "EIP-2" in info.value.message
    assert not ArchiveEntry.objects.exists()

    entry = record(kinds.VOTE_CAST, payload, signed=sign(accounts[1], data))
    assert entry.sequence == 1


def test_contract_wallet_signatures_are_kept_with_their_scheme(accounts):
    wallet = "0x" + "7" * 40
    data = typed_data("Vote", [("voter", "address"), ("support", "uint8")], {"voter": wallet, "support": 2})
    entry = record(kinds.VOTE_CAST, {"proposal": "5", "voter": wallet, "support": "abstain", "weight": "3"},
                   signed={"typed_data": data, "signature": "0x" + "ab" * 97, "signer": wallet, "scheme": "eip1271"})
    assert entry.signed["scheme"] == "eip1271" and entry.address.lower() == wallet


def test_tally_must_match_the_archived_votes_and_closes_the_vote(builder, accounts):
    builder.vote(accounts[1], "8", "for", 100)
    builder.vote(accounts[2], "8", "against", 30)
    builder.vote(accounts[1], "8", "abstain", 100, replaced=True)  # replaces the first vote
    builder.vote(accounts[3], "9", "for", 999)  # another proposal
    assert current_totals("8") == {"for": "0", "against": "30", "abstain": "100"}
    with pytest.raises(ArchiveError) as info:
        record(kinds.TALLY_FINAL, {"proposal": "8", "totals": {"for": "100", "against": "30", "abstain": "0"}})
    assert info.value.code == "archive_tally_mismatch"
    assert info.value.details["recomputed"] == {"for": "0", "against": "30", "abstain": "100"}
    tally = builder.tally("8", outcome="rejected", quorum="50")
    assert tally.payload == {"proposal": "8", "totals": {"for": "0", "against": "30", "abstain": "100"},
                             "outcome": "rejected", "quorum": "50"}
    with pytest.raises(ArchiveError) as info:
        builder.vote(accounts[4], "8", "for", 1)
    assert info.value.code == "archive_tally_closed" and info.value.status == 409
    with pytest.raises(ArchiveError):
        builder.tally("8")


def test_record_shares_the_callers_transaction(django_user_model, accounts):
    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        django_user_model.objects.create_user(accounts[3].address)  # "the decision"
        record(kinds.COUNCIL_MEMBERSHIP_CHANGED, {"member": accounts[3].address, "change": "added"})
        raise Boom
    assert not ArchiveEntry.objects.exists()
    assert not django_user_model.objects.filter(address=accounts[3].address).exists()

    with pytest.raises(ArchiveError), transaction.atomic():  # a refused record fails the decision
        django_user_model.objects.create_user(accounts[3].address)
        record(kinds.COUNCIL_MEMBERSHIP_CHANGED, {"member": accounts[3].address, "change": "promoted"})
    assert not django_user_model.objects.filter(address=accounts[3].address).exists()

    with transaction.atomic():
        django_user_model.objects.create_user(accounts[3].address)
        entry = record(kinds.COUNCIL_MEMBERSHIP_CHANGED, {"member": accounts[3].address, "change": "added"})
    assert ArchiveEntry.objects.get().hash == entry.hash


def test_entries_for_proposal_and_trail_url(builder, accounts):
    builder.story("7")
    builder.created("8")
    trail = list(entries_for_proposal("7"))
    assert trail and all(e.proposal_ref == "7" for e in trail)
    assert [e.sequence for e in trail] == sorted(e.sequence for e in trail)
    assert entries_for_proposal(8).count() == 1
    assert proposal_trail_url("7") == "/archive/?proposal=7"
    assert proposal_trail_url("SNIP 7/a") == "/archive/?proposal=SNIP+7%2Fa"


def test_the_database_append_and_the_python_append_make_the_same_chain(accounts):
    """PostgreSQL appends in archive_append() (one round trip); other databases in Python: same rule."""
    from django.db import connection

    from archive import services
    from archive.testing import export_bytes, verify_bytes

    if connection.vendor != "postgresql":
        pytest.skip("archive_append() is PostgreSQL's")
    for i in range(6):
        payload = canonical_json({"member": accounts[i].address, "change": "added", "note": f"é{i}\\\"\n"})
        item = (kinds.COUNCIL_MEMBERSHIP_CHANGED, payload, "", accounts[i].address, "null")
        if i % 2:
            entry = services._append_postgresql([item], "default")[0]
        else:
            entry = services._append_generic(*item, "default")
        stored = ArchiveEntry.objects.get(sequence=entry.sequence)
        assert (stored.hash, stored.prev_hash, stored.created_at) == (entry.hash, entry.prev_hash, entry.created_at)
        body = canonical_json(stored.body())
        assert stored.hash == hashlib.sha256(body.encode()).hexdigest()
    assert verify_bytes(export_bytes()).entries == 6


def test_record_many_is_all_or_nothing(builder, accounts):
    from archive.services import record_many

    entries = record_many([
        {"kind": kinds.PROPOSAL_CREATED, "payload": {"proposal": "4", "title": "T", "author": accounts[0].address}},
        {"kind": kinds.PROPOSAL_STATUS_CHANGED, "payload": {"proposal": "4", "from": "draft", "to": "discussion"}},
    ])
    assert [e.sequence for e in entries] == [1, 2] and entries[1].prev_hash == entries[0].hash
    with pytest.raises(ArchiveError):
        record_many([
            {"kind": kinds.PROPOSAL_STATUS_CHANGED, "payload": {"proposal": "4", "from": "discussion", "to": "x"}},
            {"kind": kinds.PROPOSAL_STATUS_CHANGED, "payload": {"proposal": "4", "from": "x"}},  # invalid
        ])
    builder.vote(accounts[1], "4", "for", 5)
    builder.tally("4")
    with pytest.raises(ArchiveError) as info:  # the second item is refused by the database function
        record_many([{"kind": kinds.PROPOSAL_STATUS_CHANGED, "payload": {"proposal": "4", "from": "a", "to": "b"}},
                     {"kind": kinds.VOTE_CAST, "payload": builder.recorded[0].payload,
                      "signed": builder.recorded[0].signed}])
    assert info.value.code == "archive_tally_closed"
    assert ArchiveEntry.objects.count() == 4
    assert record_many([]) == []
