"""Tampering with any field of any entry (in the database, triggers disabled) is caught and named.

Every entry × every field (including fields inside the signed typed data, the signature, the
signer and a tally total), each with a random new value from a seeded generator: export, run the
verifier, and it must name exactly that entry. Then the attacker who also re-hashes the rest of
the chain: the signature and tally checks still name the entry.
"""

from __future__ import annotations

import json
import random

import pytest
from django.db import connection, transaction

from archive.models import ArchiveEntry
from archive.testing import export_bytes, failure_of, rewrite_export, verify_bytes

pytestmark = pytest.mark.django_db

SEED = 20250611


def _hexflip(rng: random.Random, text: str, start: int = 0) -> str:
    i = rng.randrange(start, len(text))
    c = text[i]
    return text[:i] + rng.choice([d for d in "0123456789abcdef" if d != c.lower()]) + text[i + 1:]


def _json_paths(value, prefix=()):
    """Paths to every scalar leaf of a JSON value (dict keys and list indexes)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _json_paths(item, (*prefix, str(index)))
    else:
        yield prefix, value


def _changed_leaf(rng: random.Random, value):
    new = _new_leaf(rng, value)
    return new if new != value or type(new) is not type(value) else f"{value}!"


def _new_leaf(rng: random.Random, value):
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + rng.choice([-1, 1, 10**18])
    if value is None:
        return "x"
    if isinstance(value, str) and value.startswith("0x") and len(value) > 2:
        return _hexflip(rng, value, 2)
    return value + rng.choice(["!", " ", "0", "é"]) if rng.random() < 0.5 else value[:-1] or "y"


def _tampers(entry: ArchiveEntry, rng: random.Random):
    """(label, SQL, params) for every field of `entry`, one random change each."""
    seq = entry.sequence
    other_kind = rng.choice(["endorsement", "vote.cast", "proposal.revised", "document.published"])
    if other_kind == entry.kind:
        other_kind = "tally.final"
    yield "sequence", "UPDATE archive_archiveentry SET sequence = sequence + 1000000 WHERE sequence = %s", [seq]
    yield "kind", "UPDATE archive_archiveentry SET kind = %s WHERE sequence = %s", [other_kind, seq]
    yield ("time", "UPDATE archive_archiveentry SET created_at = created_at + %s * interval '1 microsecond' "
           "WHERE sequence = %s", [rng.choice([1, -1, 3_600_000_000]), seq])
    yield "proposal_ref", "UPDATE archive_archiveentry SET proposal_ref = %s WHERE sequence = %s", [
        entry.proposal_ref + "1" if entry.proposal_ref else "7", seq]
    yield "address", "UPDATE archive_archiveentry SET address = %s WHERE sequence = %s", [
        _hexflip(rng, entry.address or "0x" + "0" * 40, 2), seq]
    yield "prev_hash", "UPDATE archive_archiveentry SET prev_hash = %s WHERE sequence = %s", [
        _hexflip(rng, entry.prev_hash), seq]
    yield "hash", "UPDATE archive_archiveentry SET hash = %s WHERE sequence = %s", [_hexflip(rng, entry.hash), seq]
    for column in ("payload", "signed"):
        value = getattr(entry, column)
        if value is None:
            yield f"{column}=added", (f"UPDATE archive_archiveentry SET {column} = %s::jsonb WHERE sequence = %s"), [
                json.dumps({"typed_data": {}, "signature": "0x", "signer": "0x"}), seq]
            continue
        leaves = list(_json_paths(value))
        for path, leaf in leaves:  # every leaf: typed data fields, signature, signer, tally totals...
            new = _changed_leaf(rng, leaf)
            yield (f"{column}.{'.'.join(path)}",
                   f"UPDATE archive_archiveentry SET {column} = jsonb_set({column}, %s, %s::jsonb) WHERE sequence = %s",
                   ["{" + ",".join(path) + "}", json.dumps(new), seq])
        yield f"{column}+key", (f"UPDATE archive_archiveentry SET {column} = {column} || %s::jsonb "
                                "WHERE sequence = %s"), [json.dumps({"zz_injected": 1}), seq]
        if isinstance(value, dict) and len(value) > 1:
            key = rng.choice(sorted(value))
            yield f"{column}-{key}", f"UPDATE archive_archiveentry SET {column} = {column} - %s WHERE sequence = %s", [
                key, seq]


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="tampers the rows past the archive's append-only triggers (ALTER TABLE ... DISABLE "
                           "TRIGGER), which are PostgreSQL's")
def test_any_single_field_tamper_is_named(builder, staff_user, accounts):
    from archive.services import publish_document

    builder.story("7")
    builder.vote(accounts[1], "9", "for", 3)
    publish_document(staff_user, title="Audit 2025", category="audit", date="2025-06-01", content=b"%PDF-1.7 ...",
                     filename="audit.pdf", content_type="application/pdf")
    builder.statement(accounts[4], "Second statement")
    clean = export_bytes()
    report = verify_bytes(clean)
    assert report.entries == ArchiveEntry.objects.count() >= 19
    assert report.signatures >= 8 and report.tallies == 1

    rng = random.Random(SEED)
    cases, caught, misses = 0, 0, []
    entries = list(ArchiveEntry.objects.order_by("sequence"))
    for entry in entries:
        for label, sql, params in _tampers(entry, rng):
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("ALTER TABLE archive_archiveentry DISABLE TRIGGER archive_archiveentry_append_only")
                    cursor.execute(sql, params)
                    assert cursor.rowcount == 1, (label, entry.sequence)
                tampered = export_bytes()
                transaction.set_rollback(True)
            cases += 1
            failure = failure_of(tampered)
            if failure is not None and failure.sequence == entry.sequence:
                caught += 1
            else:
                misses.append((entry.sequence, label, str(failure)))
    assert export_bytes() == clean  # every tamper was rolled back
    assert cases > 300, cases
    assert not misses, f"{len(misses)} of {cases} tampers not named: {misses[:5]}"
    assert caught == cases


def test_a_rewritten_chain_is_caught_by_its_signatures_and_tallies(builder, accounts):
    entries = builder.story("7")
    data = export_bytes()
    by_kind = {}
    for entry in entries:
        by_kind.setdefault(entry.kind, entry)
    vote, tally, endorsement = by_kind["vote.cast"], by_kind["tally.final"], by_kind["endorsement"]

    def flip_support(body):
        body["payload"]["support"] = "against"

    def more_for(body):
        body["payload"]["totals"]["for"] = str(int(body["payload"]["totals"]["for"]) + 1)

    def message_field(body):
        body["signed"]["typed_data"]["message"]["timestamp"] += 1

    def domain_field(body):
        body["signed"]["typed_data"]["domain"]["chainId"] = 1

    def signature(body):
        sig = body["signed"]["signature"]
        body["signed"]["signature"] = sig[:10] + ("0" if sig[10] != "0" else "1") + sig[11:]

    def signer(body):
        body["signed"]["signer"] = accounts[5].address
        body["payload"]["endorser"] = accounts[5].address

    cases = [
        (vote, flip_support, "support"),
        (tally, more_for, "wrong tally"),
        (vote, message_field, "signature"),
        (endorsement, domain_field, "signature"),
        (endorsement, signature, "signature"),
        (endorsement, signer, "signature recovers"),
    ]
    for entry, mutate, words in cases:
        rewritten = rewrite_export(data, entry.sequence, mutate)
        failure = failure_of(rewritten)
        assert failure is not None and failure.sequence == entry.sequence, (mutate.__name__, failure)
        assert words in failure.problem, (mutate.__name__, failure.problem)
        parallel = failure_of(rewritten, jobs=2, chunk_size=4)  # the same first problem, in parallel
        assert (parallel.sequence, parallel.problem) == (failure.sequence, failure.problem)
        # the hash chain itself is consistent: only these checks (or an anchor) can tell
        assert failure_of(rewritten, check_signatures=False) is None or mutate in (flip_support, more_for)

    # the rewrite helper is faithful: a no-op rewrite verifies
    assert verify_bytes(rewrite_export(data, 3, lambda body: None)).entries == len(entries)

    # anchors (as read from the chain): the rewritten entry and all after it differ from them
    anchors = {4: entries[3].hash, 11: entries[10].hash}
    report = verify_bytes(data, anchors=anchors, jobs=2, chunk_size=3)
    assert report.anchors == 2 and report.tallies == 1 and report.signatures == 8
    rewritten = rewrite_export(data, 2, lambda body: body["payload"].update({"to": "passed"}))
    for jobs in (1, 2):
        assert failure_of(rewritten, jobs=jobs) is None
        failure = failure_of(rewritten, anchors=anchors, jobs=jobs, chunk_size=3)
        assert failure.sequence == 4 and "on-chain anchor" in failure.problem


@pytest.mark.parametrize("jobs", [1, 2])
def test_cut_and_spliced_exports_are_caught(builder, jobs):
    """Serial and parallel verification name the same first problem."""
    builder.story("7")
    lines = export_bytes().splitlines()
    entries, trailer = lines[:-1], lines[-1]

    def fail(lines_):
        return failure_of(b"\n".join(lines_), jobs=jobs, chunk_size=3)

    assert verify_bytes(b"\n".join([*entries, trailer]), jobs=jobs, chunk_size=3).entries == len(entries)
    assert fail(entries).problem.startswith("no archive_head trailer")
    assert "trailer names" in fail(entries[:-1] + [trailer]).problem
    failure = fail(entries[:4] + entries[5:] + [trailer])
    assert failure.sequence == 5 and "missing" in failure.problem
    failure = fail([entries[1], entries[0], *entries[2:], trailer])
    assert failure.sequence == 1
    failure = fail(entries[:3] + [entries[2]] + entries[3:] + [trailer])
    assert failure.sequence == 4 and "out of order" in failure.problem
    assert "after the archive_head trailer" in str(fail([*entries, trailer, entries[0]]))
    tampered = entries[5].replace(b'"support":"for"', b'"support":"against"')  # entry 6: a vote
    assert tampered != entries[5]
    failure = fail(entries[:5] + [tampered] + entries[6:] + [trailer])
    assert failure.sequence == 6 and "hash mismatch" in failure.problem
