"""Writes to the Foundation archive: record(), documents, export.

Every app archives its decisions with ONE call, inside the transaction that makes the decision::

    from archive import kinds
    from archive.services import record

    with transaction.atomic():
        vote = Vote.objects.create(...)
        record(kinds.VOTE_CAST, {"proposal": "12", "voter": addr, "support": "for", "weight": "10"},
               signed={"typed_data": typed_data, "signature": "0x...", "signer": addr})

record() opens its own atomic block (a savepoint inside the caller's transaction), so if the
caller's transaction rolls back the entry disappears with the decision, and if record() refuses
(DomainError) the caller's transaction fails with it: no decision without its record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from eth_utils import is_address, to_checksum_address

from archive import kinds
from archive.models import ArchiveEntry, Document, DocumentCategory
from archive.verify import (
    GENESIS_HASH,
    CanonicalError,
    canonical_json,
    dumps_body,
    entry_body,
    format_time,
    hash_body_text,
    payload_problem,
    signed_problem,
    tally_votes,
    trailer_line,
)
from archive.verify import _dumps as _canonical_dumps
from chain import eip712
from govapp.errors import DomainError, PermissionDeniedError

#: pg_advisory_xact_lock key serializing appends ("archive" in ASCII).
APPEND_LOCK_KEY = 0x61726368697665
#: Payload fields tried, in order, for the entry's actor address when none is given.
_ACTOR_FIELDS = ("voter", "endorser", "reviewer", "member", "delegate", "publisher", "author")


class ArchiveError(DomainError):
    code = "archive_invalid_entry"
    status = 400


def record(
    kind: str,
    payload: dict[str, Any],
    *,
    proposal_ref: str | int | None = None,
    address: str | None = None,
    signed: dict[str, Any] | None = None,
    using: str = "default",
) -> ArchiveEntry:
    """Append one entry to the archive and return it (call it inside the decision's transaction).

    kind          one of archive.kinds (e.g. kinds.VOTE_CAST); payload fields per kinds.REQUIRED_FIELDS.
    payload       a JSON object: strings, integers, booleans, null, lists, objects; no floats
                  (amounts as decimal strings). "proposal" (an int is turned into its string) and
                  address fields (voter, endorser, ...) are normalized (checksummed); the rest is kept.
    proposal_ref  the proposal this entry belongs to; defaults to payload["proposal"] (must agree).
    address       the actor; defaults to the signer, else the payload's voter/endorser/... field.
    signed        {"typed_data": <full EIP-712 JSON>, "signature": "0x<65 bytes>", "signer": "0x..."},
                  stored verbatim; required for votes, endorsements, reviews, veto signatures and
                  delegate statements. The signature must recover the signer, who must be the actor.

    Raises ArchiveError (code archive_*, 400/409) and leaves nothing written when refused.
    """
    return _append([_prepare(kind, payload, proposal_ref, address, signed)], using)[0]


def record_many(items: list[dict[str, Any]], *, using: str = "default", signatures_verified: bool = False,
                savepoint: bool = True, set_based: bool | None = None) -> list[ArchiveEntry]:
    """Append several entries in order, all or none (e.g. a batch of votes).

    Each item is a dict of record()'s arguments: {"kind", "payload", "proposal_ref"?, "address"?,
    "signed"?}. Every item is validated before anything is written. On PostgreSQL, two entries or more
    (without a final tally among them) are appended set-based: the append lock once, ONE read of the head
    (with the closed proposals among the items' and the database clock), the hash chain computed here by
    the same rule as archive_append() — every entry of the batch gets the same time, never before the
    head's — and ONE multi-row INSERT. A vote on a proposal whose final tally is archived refuses the
    whole batch (ArchiveError archive_tally_closed, details {"closed": [refs]}), before anything is written.

    signatures_verified: the caller has just verified every signed artifact by the portal's rules
        (chain.signing / voting.signatures: the EIP-712 digest, low-s ecrecover of the signer, or EIP-1271 on
        chain), so only the artifacts' form is checked here, not the signature again. The offline verifier
        (archive.verify) still checks every signature of the export.
    savepoint: False inside a transaction the caller rolls back as a whole on any error (no SAVEPOINT /
        RELEASE round trips); the set-based path never leaves the transaction broken by a refusal.
    set_based: None (default) = set-based from two entries on; False = one archive_append() round trip per
        entry (fewer round trips for one or two entries); True = set-based even for one entry (a caller
        that must get the archive_tally_closed refusal with its transaction still usable).
    """
    kept: list[tuple[dict[str, Any], Any]] = []  # the normalized payloads and the signed objects, for the entries
    prepared = [_prepare(item["kind"], item["payload"], item.get("proposal_ref"), item.get("address"),
                         item.get("signed"), check_signature=not signatures_verified, keep=kept) for item in items]
    if not prepared:
        return []
    if set_based is None:
        set_based = len(prepared) > 1
    if (set_based and connections[using].vendor == "postgresql"
            and all(item[0] != kinds.TALLY_FINAL for item in prepared)):
        return _append_many_postgresql(prepared, kept, using)
    return _append(prepared, using, savepoint=savepoint)


def locked_insert(item: dict[str, Any], *, signatures_verified: bool = False, using: str = "default"
                  ) -> tuple[str, list[Any], int]:
    """PostgreSQL, inside a transaction: validate one entry exactly as record() does, take the append lock,
    read the head (refusing a vote on a proposal whose final tally is archived: ArchiveError
    archive_tally_closed, nothing written, the transaction still usable) and return (INSERT statement,
    its parameters, the entry's sequence) — the entry hashed by record()'s rule — for the caller to run in a
    statement of its own (e.g. a data-modifying CTE that also inserts the row referring to the entry) in the
    same transaction, which holds the append lock to its end. Three statements (lock, head, the caller's)
    and no archive_append() (whose closed-tally check reads every entry of the proposal)."""
    import psycopg

    prepared = _prepare(item["kind"], item["payload"], item.get("proposal_ref"), item.get("address"),
                        item.get("signed"), check_signature=not signatures_verified)
    if prepared[0] == kinds.TALLY_FINAL:
        raise ArchiveError("A final tally is recorded with record_final_tally().", code="archive_invalid_payload")
    connection = connections[using]
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:
        sequence, prev_hash, moment = _lock_and_head(cursor, [prepared[2]] if prepared[0] in kinds.VOTE_KINDS else [])
    columns, _ = _chain([prepared], sequence, prev_hash, format_time(moment))
    number, kind, ref, actor, payload_text, signed_text, prev, entry_hash = (column[0] for column in columns)
    return _INSERT_ONE_SQL, [number, kind, moment, ref, actor, payload_text, signed_text, prev, entry_hash], number


def _prepare(kind: str, payload: Any, proposal_ref: str | int | None, address: str | None,
             signed: dict[str, Any] | None, *, check_signature: bool = True,
             keep: list[tuple[dict[str, Any], Any]] | None = None) -> tuple[str, str, str, str, str]:
    """Validate one entry; returns (kind, payload JSON, proposal_ref, actor, signed JSON), canonical.
    keep: a list that gets (the normalized payload, signed) appended."""
    if kind not in kinds.ALL_KINDS:
        raise ArchiveError(f"Unknown archive kind {kind!r}.", code="archive_unknown_kind")
    payload = _normalized_payload(payload)
    ref = _proposal_ref(payload, proposal_ref)
    try:
        payload_text = _canonical_json(payload, "payload")
        signed_text = _canonical_json(signed, "signed") if signed is not None else "null"
    except CanonicalError as exc:
        raise ArchiveError(f"The entry is not canonical JSON: {exc}.", code="archive_not_canonical") from exc
    problem = payload_problem(kind, payload, signed)
    if problem:
        raise ArchiveError(f"Invalid {kind} entry: {problem}.", code="archive_invalid_payload")
    if signed is not None:
        problem = signed_problem(signed, check_signature=check_signature)
        if problem:
            raise ArchiveError(f"Invalid signed artifact: {problem}.", code="archive_invalid_signature")
    actor = _actor(kind, payload, address, signed)
    if keep is not None:
        keep.append((payload, signed))
    return kind, payload_text, ref, actor, signed_text


def _plainly_canonical(value: Any) -> bool:
    """True when `value` is plainly canonical JSON data (exact str/int/bool/None/list/tuple/dict types, string
    keys, no NUL, valid Unicode): one walk without archive.verify's per-node path strings. False means "let
    the reference check decide" (it names the problem), never "invalid"."""
    stack = [value]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        item = pop()
        kind = type(item)
        if kind is str:
            if "\x00" in item:
                return False
            if not item.isascii():
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    return False
        elif kind is dict:
            for key, child in item.items():
                if type(key) is not str:
                    return False
                push(key)
                push(child)
        elif kind is list or kind is tuple:
            extend(item)
        elif item is not None and kind is not int and kind is not bool:
            return False
    return True


def _canonical_json(value: Any, path: str) -> str:
    """archive.verify.canonical_json, with the common case checked by _plainly_canonical."""
    if not _plainly_canonical(value):
        return canonical_json(value, path=path)
    return _canonical_dumps(value)


def _checksummed(value: str) -> str | None:
    """EIP-55 form of what eth_utils.is_address accepts (fast path for the 0x form), else None."""
    fast = eip712.checksum_address(value)
    if fast is None and is_address(value):
        return to_checksum_address(value)
    return fast


def _normalized_payload(payload: Any) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise ArchiveError("The payload must be a JSON object (a dict).", code="archive_invalid_payload")
    payload = dict(payload)
    if isinstance(payload.get("proposal"), int) and not isinstance(payload.get("proposal"), bool):
        payload["proposal"] = str(payload["proposal"])
    for name in kinds.ADDRESS_FIELDS.intersection(payload):
        if isinstance(payload[name], str):
            checksummed = _checksummed(payload[name])
            if checksummed is not None:
                payload[name] = checksummed
    return payload


def _proposal_ref(payload: dict[str, Any], proposal_ref: str | int | None) -> str:
    ref = "" if proposal_ref is None else str(proposal_ref)
    in_payload = payload.get("proposal")
    if in_payload is not None and ref and ref != in_payload:
        raise ArchiveError(f"proposal_ref {ref!r} differs from payload.proposal {in_payload!r}.",
                           code="archive_invalid_payload")
    ref = ref or (in_payload if isinstance(in_payload, str) else "")
    if len(ref) > 64:
        raise ArchiveError("A proposal reference has at most 64 characters.", code="archive_invalid_payload")
    return ref


def _actor(kind: str, payload: dict[str, Any], address: str | None, signed: dict[str, Any] | None) -> str:
    candidate = address
    if candidate is None and signed is not None:
        candidate = signed.get("signer")
    if candidate is None:
        candidate = next((payload[f] for f in _ACTOR_FIELDS if isinstance(payload.get(f), str)), "")
    if not candidate:
        return ""
    checksummed = _checksummed(candidate) if isinstance(candidate, str) else None
    if checksummed is None:
        raise ArchiveError(f"address {candidate!r} is not an address.", code="archive_invalid_payload")
    return checksummed


def _lock(using: str) -> None:
    """Serialize appends until the end of the outermost transaction (PostgreSQL advisory lock)."""
    connection = connections[using]
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])


def _append(prepared: list[tuple[str, str, str, str, str]], using: str, *,
            savepoint: bool = True) -> list[ArchiveEntry]:
    if connections[using].vendor == "postgresql":
        return _append_postgresql(prepared, using, savepoint=savepoint)
    with transaction.atomic(using=using):
        return [_append_generic(*item, using) for item in prepared]


#: archive_append() and the batch statements are prepared on their connection (see voting.services.PREPARE).
_PREPARE: bool = bool(getattr(settings, "VOTING_PREPARED_STATEMENTS", True))
_APPEND_SQL = "SELECT * FROM archive_append(%s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s, %s, %s)"


def _append_postgresql(prepared: list[tuple[str, str, str, str, str]], using: str, *,
                       savepoint: bool = True) -> list[ArchiveEntry]:
    """One round trip per entry under the append lock: archive_append() (migration 0003) reads the
    head, hashes the body assembled around prev_hash / sequence / time, and inserts the row."""
    import psycopg

    enc = _encode_string
    entries = []
    connection = connections[using]
    with transaction.atomic(using=using, savepoint=savepoint):
        connection.ensure_connection()
        cursor = psycopg.Cursor(connection.connection)  # server-side binding: prepared after a few appends
        for kind, payload_text, ref, actor, signed_text in prepared:
            if kind == kinds.TALLY_FINAL:  # the count of the votes must hold until the commit
                _lock(using)
                _check_votes_open(kind, json.loads(payload_text), using)
            try:
                cursor.execute(_APPEND_SQL, [
                    APPEND_LOCK_KEY, kind, ref, actor, payload_text, None if signed_text == "null" else signed_text,
                    f'{{"address":{enc(actor)},"kind":{enc(kind)},"payload":{payload_text},"prev_hash":"',
                    f'","proposal_ref":{enc(ref)},"sequence":', f',"signed":{signed_text},"time":"',
                    kind in kinds.VOTE_KINDS], prepare=_PREPARE)
                sequence, created_at, prev_hash, entry_hash = cursor.fetchone()
            except (IntegrityError, psycopg.IntegrityError) as exc:
                if "archive_tally_closed" in str(exc):
                    raise ArchiveError(f"Proposal {ref} already has its final tally: no {kind} after it.",
                                       code="archive_tally_closed", status=409) from exc
                raise
            entry = ArchiveEntry(sequence=sequence, kind=kind, created_at=created_at, proposal_ref=ref,
                                 address=actor, payload=json.loads(payload_text), signed=json.loads(signed_text),
                                 prev_hash=prev_hash, hash=entry_hash)
            entry._state.adding = False
            entry._state.db = using
            entries.append(entry)
    return entries


_HEAD_SQL = (
    "SELECT (SELECT ARRAY[a.sequence::text, a.hash, to_char(a.created_at AT TIME ZONE 'UTC', "
    "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')] FROM archive_archiveentry a ORDER BY a.sequence DESC LIMIT 1), "
    "(SELECT a.created_at FROM archive_archiveentry a ORDER BY a.sequence DESC LIMIT 1), clock_timestamp(), "
    "ARRAY(SELECT DISTINCT f.proposal_ref FROM final_tallies f WHERE f.proposal_ref = ANY(%b::text[]))"
)
# the final tallies are few (one per closed proposal): read them by the kind index, never by the proposals'
# index (all their votes)
_HEAD_SQL = ("WITH final_tallies AS MATERIALIZED (SELECT a.proposal_ref FROM archive_archiveentry a "  # noqa: S608
             "WHERE a.kind = 'tally.final') " + _HEAD_SQL)
_INSERT_MANY_SQL = (
    "INSERT INTO archive_archiveentry (sequence, kind, created_at, proposal_ref, address, payload, signed, prev_hash, "
    "hash) SELECT t.s, t.k, %s, t.r, t.a, t.p::jsonb, t.g::jsonb, t.ph, t.h FROM unnest(%b::bigint[], %b::text[], "
    "%b::text[], %b::text[], %b::text[], %b::text[], %b::text[], %b::text[]) AS t(s, k, r, a, p, g, ph, h)"
)


_INSERT_ONE_SQL = (
    "INSERT INTO archive_archiveentry (sequence, kind, created_at, proposal_ref, address, payload, signed, prev_hash, "
    "hash) VALUES (%s, %s, %s, %s, %s, %s::jsonb, %s::jsonb, %s, %s) RETURNING sequence"
)


def _lock_and_head(cursor: Any, vote_refs: list[str]) -> tuple[int, str, dt.datetime]:
    """Take the append lock, then (a new statement, so its snapshot sees every append committed before the
    lock was ours) read the head: (sequence, hash, the time of the next entries: the database clock, never
    before the head's). A vote on a proposal with an archived final tally: ArchiveError, nothing written."""
    cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY], prepare=_PREPARE)
    cursor.execute(_HEAD_SQL, [vote_refs], prepare=_PREPARE)
    head, head_time, clock, closed = cursor.fetchone()
    if closed:
        raise ArchiveError(f"Proposal {', '.join(closed)} already has its final tally: no vote after it.",
                           code="archive_tally_closed", status=409, details={"closed": sorted(closed)})
    sequence, prev_hash = (int(head[0]), head[1]) if head else (0, GENESIS_HASH)
    return sequence, prev_hash, clock if head_time is None or clock >= head_time else head_time


def _chain(prepared: list[tuple[str, str, str, str, str]], sequence: int, prev_hash: str, time_text: str
           ) -> tuple[list[list[Any]], list[tuple[int, str, str]]]:
    """The rows' columns (sequence, kind, ref, actor, payload, signed, prev_hash, hash) after the head, each
    entry hashed by record()'s rule (archive_append(): the canonical body around prev_hash/sequence/time)."""
    enc = _encode_string
    columns: list[list[Any]] = [[], [], [], [], [], [], [], []]
    hashes = []
    for kind, payload_text, ref, actor, signed_text in prepared:
        sequence += 1
        body = (f'{{"address":{enc(actor)},"kind":{enc(kind)},"payload":{payload_text},"prev_hash":"{prev_hash}",'
                f'"proposal_ref":{enc(ref)},"sequence":{sequence},"signed":{signed_text},"time":"{time_text}"}}')
        entry_hash = hashlib.sha256(body.encode("utf-8")).hexdigest()
        for column, value in zip(columns, (sequence, kind, ref, actor, payload_text,
                                           None if signed_text == "null" else signed_text, prev_hash, entry_hash),
                                 strict=True):
            column.append(value)
        hashes.append((sequence, prev_hash, entry_hash))
        prev_hash = entry_hash
    return columns, hashes


def _append_many_postgresql(prepared: list[tuple[str, str, str, str, str]], kept: list[tuple[dict[str, Any], Any]],
                            using: str) -> list[ArchiveEntry]:
    """The batch append: lock, one head read, the chain computed here, one INSERT (see record_many). The
    entries returned carry the normalized payloads and the signed objects as given (not re-parsed)."""
    import psycopg

    connection = connections[using]
    if not connection.in_atomic_block:
        with transaction.atomic(using=using):
            return _append_many_postgresql(prepared, kept, using)
    vote_refs = sorted({ref for kind, _, ref, _, _ in prepared if kind in kinds.VOTE_KINDS})
    connection.ensure_connection()
    with psycopg.Cursor(connection.connection) as cursor:  # server-side binding: arrays travel as values
        sequence, prev_hash, moment = _lock_and_head(cursor, vote_refs)
        columns, hashes = _chain(prepared, sequence, prev_hash, format_time(moment))
        cursor.execute(_INSERT_MANY_SQL, [moment, *columns], prepare=_PREPARE)
    entries = []
    for (kind, _, ref, actor, _), (payload, signed), (number, prev, entry_hash) in zip(prepared, kept, hashes,
                                                                                        strict=True):
        entry = ArchiveEntry(sequence=number, kind=kind, created_at=moment, proposal_ref=ref, address=actor,
                             payload=payload, signed=signed, prev_hash=prev, hash=entry_hash)
        entry._state.adding = False
        entry._state.db = using
        entries.append(entry)
    return entries


def _append_generic(kind: str, payload_text: str, ref: str, actor: str, signed_text: str,
                    using: str) -> ArchiveEntry:
    """Other databases (SQLite, the embedded default): the same rule in Python."""
    payload = json.loads(payload_text)  # an independent copy: what is hashed is what is stored
    signed = json.loads(signed_text)
    with transaction.atomic(using=using):
        _lock(using)
        head = (ArchiveEntry.objects.using(using).order_by("-sequence")
                .only("sequence", "hash", "created_at").first())
        if kind in kinds.VOTE_KINDS or kind == kinds.TALLY_FINAL:
            _check_votes_open(kind, payload, using)
        moment = timezone.now()
        if head is not None and moment < head.created_at:
            moment = head.created_at  # never backwards, whatever the clocks of the writers say
        sequence = head.sequence + 1 if head else 1
        prev_hash = head.hash if head else GENESIS_HASH
        body = entry_body(sequence=sequence, kind=kind, time=format_time(moment), proposal_ref=ref,
                          address=actor, payload=payload, signed=signed, prev_hash=prev_hash)
        entry = ArchiveEntry(sequence=sequence, kind=kind, created_at=moment, proposal_ref=ref,
                             address=actor, payload=payload, signed=signed, prev_hash=prev_hash,
                             hash=hash_body_text(dumps_body(body)))
        entry.save(using=using)
    return entry


def _check_votes_open(kind: str, payload: dict[str, Any], using: str) -> None:
    ref = payload["proposal"]
    entries = ArchiveEntry.objects.using(using).filter(proposal_ref=ref)
    if entries.filter(kind=kinds.TALLY_FINAL).exists():
        raise ArchiveError(f"Proposal {ref} already has its final tally: no {kind} after it.",
                           code="archive_tally_closed", status=409, details={"closed": [ref]})
    if kind == kinds.TALLY_FINAL:
        recomputed = current_totals(ref, using=using)
        if recomputed != payload["totals"]:
            raise ArchiveError(
                f"The tally of proposal {ref} does not match the archived votes: recorded "
                f"{payload['totals']}, recomputed {recomputed}.", code="archive_tally_mismatch",
                details={"recomputed": recomputed})


def current_totals(ref: str, *, using: str = "default") -> dict[str, str]:
    """Totals of the archived votes of proposal `ref` (the verifier's rule: archive.verify.tally_votes)."""
    votes = (ArchiveEntry.objects.using(using).filter(proposal_ref=str(ref), kind__in=kinds.VOTE_KINDS)
             .order_by("sequence").values_list("payload", flat=True))
    return tally_votes(votes.iterator(chunk_size=5000))


def record_final_tally(ref: str | int, extra: dict[str, Any] | None = None, *, using: str = "default") -> ArchiveEntry:
    """Record the final tally of proposal `ref`, totals computed from its archived votes.

    `extra` fields (quorum, outcome, ...) are added to the payload {"proposal", "totals"}.
    Call it inside the transaction that closes the vote.
    """
    with transaction.atomic(using=using):
        _lock(using)  # no vote may slip in between the count and the record
        payload = {**(extra or {}), "proposal": str(ref), "totals": current_totals(str(ref), using=using)}
        return record(kinds.TALLY_FINAL, payload, using=using)


# --------------------------------------------------------------------------- documents
def max_document_bytes() -> int:
    return int(getattr(settings, "ARCHIVE_DOCUMENT_MAX_BYTES", 20 * 1024 * 1024))


def publish_document(
    user: Any,
    *,
    title: str,
    category: str,
    date: dt.date | str,
    text: str | None = None,
    content: bytes | None = None,
    filename: str = "",
    content_type: str = "",
) -> Document:
    """Publish a Foundation document (staff only): store its bytes and archive its SHA-256.

    Give either `text` (markdown, stored as UTF-8) or `content` (an uploaded file's bytes, with
    its filename and content type). Raises DomainError (nothing written) when refused.
    """
    if not getattr(user, "is_authenticated", False) or not getattr(user, "is_staff", False):
        raise PermissionDeniedError("Only Foundation staff can publish documents.", code="archive_staff_only")
    errors: dict[str, str] = {}
    title = (title or "").strip()
    if not title:
        errors["title"] = "A title is required."
    elif len(title) > 200:
        errors["title"] = "A title has at most 200 characters."
    if category not in DocumentCategory.values:
        errors["category"] = f"Choose one of {', '.join(DocumentCategory.values)}."
    if isinstance(date, str):
        try:
            date = dt.date.fromisoformat(date)
        except ValueError:
            errors["date"] = "Give the date as YYYY-MM-DD."
    elif not isinstance(date, dt.date):
        errors["date"] = "Give the date as YYYY-MM-DD."
    if (text is None or text == "") == (content is None):
        errors["content"] = "Give either the text of the document or a file, not both."
    if errors:
        raise DomainError("The document has invalid fields.", code="archive_invalid_document", details=errors)

    if content is None:
        data = text.replace("\r\n", "\n").encode("utf-8")
        content_type = "text/markdown; charset=utf-8"
        filename = ""
    else:
        data = bytes(content)
        content_type = (content_type or "application/octet-stream")[:100]
        filename = (filename or "")[:200]
    if not data:
        raise DomainError("The document is empty.", code="archive_invalid_document",
                          details={"content": "The document is empty."})
    if len(data) > max_document_bytes():
        raise DomainError(f"The document is larger than {max_document_bytes()} bytes.",
                          code="archive_document_too_large", status=413)
    digest = hashlib.sha256(data).hexdigest()
    now = timezone.now()
    with transaction.atomic():
        entry = record(kinds.DOCUMENT_PUBLISHED, {
            "title": title, "category": category, "date": date.isoformat(), "content_sha256": digest,
            "content_type": content_type, "filename": filename, "size": len(data), "publisher": user.address,
        }, address=user.address)
        return Document.objects.create(
            title=title, category=category, date=date, content=data, content_type=content_type,
            filename=filename, size=len(data), sha256=digest, published_by=user, published_at=now, entry=entry)


# --------------------------------------------------------------------------- export
EXPORT_COLUMNS = ("sequence", "kind", "created_at", "proposal_ref", "address", "payload", "signed",
                  "prev_hash", "hash")
_encode_string = json.encoder.encode_basestring  # = json.dumps(str, ensure_ascii=False), in C
_encode_value = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_EXPORT_SQL = (
    "SELECT sequence, kind, to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), "
    "proposal_ref, address, payload::text, signed::text, prev_hash, hash FROM archive_archiveentry ORDER BY sequence"
)


def _rows_postgresql(connection: Any, chunk_size: int) -> Iterator[tuple]:
    """(sequence, kind, time, ref, address, payload JSON, signed JSON, prev_hash, hash) from a named cursor.

    PostgreSQL formats the time (to_char = archive.verify.format_time) and hands jsonb over as text,
    which is re-encoded canonically here: no Django field conversion per row.
    """
    connection.ensure_connection()
    loads = json.loads
    with connection.connection.cursor(name="archive_export") as cursor:
        cursor.itersize = chunk_size
        cursor.execute(_EXPORT_SQL)
        for sequence, kind, time, ref, address, payload, signed, prev_hash, entry_hash in cursor:
            yield (sequence, kind, time, ref, address, _encode_value(loads(payload)),
                   "null" if signed is None else _encode_value(loads(signed)), prev_hash, entry_hash)


def _rows_generic(using: str, chunk_size: int) -> Iterator[tuple]:
    rows = (ArchiveEntry.objects.using(using).order_by("sequence").values_list(*EXPORT_COLUMNS)
            .iterator(chunk_size=chunk_size))
    for sequence, kind, created_at, ref, address, payload, signed, prev_hash, entry_hash in rows:
        yield (sequence, kind, format_time(created_at), ref, address, _encode_value(payload),
               _encode_value(signed), prev_hash, entry_hash)


def export_lines(*, chunk_size: int = 5000, lines_per_chunk: int = 500, using: str = "default") -> Iterator[str]:
    """The whole archive as JSON Lines, in sequence order, LAST line = the head trailer.

    A server-side cursor inside one transaction reads `chunk_size` rows at a time, so memory stays
    constant however long the archive; one SELECT is one snapshot, so the trailer names exactly the
    last exported entry. Yields blocks of `lines_per_chunk` lines. Each entry line is
    archive.verify.export_line(dumps_body(entry_body(...)), hash), its body assembled in the
    canonical (sorted) key order.
    """
    connection = connections[using]
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            rows = _rows_postgresql(connection, chunk_size)
        else:
            rows = _rows_generic(using, chunk_size)
        count, last_sequence, last_hash = 0, 0, GENESIS_HASH
        block: list[str] = []
        enc = _encode_string
        for sequence, kind, time, ref, address, payload, signed, prev_hash, entry_hash in rows:
            block.append(
                f'{{"entry":{{"address":{enc(address)},"kind":{enc(kind)},"payload":{payload},'
                f'"prev_hash":{enc(prev_hash)},"proposal_ref":{enc(ref)},"sequence":{sequence},'
                f'"signed":{signed},"time":{enc(time)}}},"hash":{enc(entry_hash)}}}')
            count, last_sequence, last_hash = count + 1, sequence, entry_hash
            if len(block) >= lines_per_chunk:
                block.append("")
                yield "\n".join(block)
                block = []
        block.append(trailer_line(last_sequence, last_hash, count))
        block.append("")
        yield "\n".join(block)
