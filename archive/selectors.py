"""Reads of the Foundation archive: filters, search, a proposal's trail, the head."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db import connection
from django.db.models import BooleanField, Q, QuerySet, TextField
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast
from django.urls import reverse

from archive.models import Anchor, ArchiveEntry, Document
from archive.verify import GENESIS_HASH


def entries() -> QuerySet[ArchiveEntry]:
    """All entries, newest first."""
    return ArchiveEntry.objects.order_by("-sequence")


def entries_for_proposal(ref: str | int) -> QuerySet[ArchiveEntry]:
    """The trail of one proposal: every entry whose proposal_ref is `ref`, oldest first."""
    return ArchiveEntry.objects.filter(proposal_ref=str(ref)).order_by("sequence")


def proposal_trail_url(ref: str | int) -> str:
    """The public timeline filtered to one proposal: /archive/?proposal=<ref> (link it from proposal pages)."""
    return f"{reverse('archive:timeline')}?{urlencode({'proposal': str(ref)})}"


def search(queryset: QuerySet[ArchiveEntry], text: str) -> QuerySet[ArchiveEntry]:
    """Full-text search: PostgreSQL tsvector (GIN-indexed, web-search syntax); elsewhere (SQLite, the embedded
    default) every word must appear (icontains, no stemming) in the payload, kind, proposal or address."""
    text = text.strip()
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        match = RawSQL("archive_archiveentry.search_vector @@ websearch_to_tsquery('english', %s)", [text],
                       output_field=BooleanField())
        return queryset.alias(_match=match).filter(_match=True)
    queryset = queryset.alias(_payload_text=Cast("payload", TextField()))
    for word in text.split():
        queryset = queryset.filter(Q(_payload_text__icontains=word) | Q(kind__icontains=word)
                                   | Q(proposal_ref__icontains=word) | Q(address__icontains=word))
    return queryset


def filter_entries(
    queryset: QuerySet[ArchiveEntry],
    *,
    kind: str | None = None,
    proposal: str | None = None,
    address: str | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
    q: str | None = None,
) -> QuerySet[ArchiveEntry]:
    """Entries of a kind, a proposal, an actor (checksummed address), a date range (UTC, inclusive)."""
    if kind:
        queryset = queryset.filter(kind=kind)
    if proposal:
        queryset = queryset.filter(proposal_ref=proposal)
    if address:
        queryset = queryset.filter(address=address)
    if since:
        queryset = queryset.filter(created_at__gte=dt.datetime.combine(since, dt.time.min, tzinfo=dt.UTC))
    if until:
        end = dt.datetime.combine(until + dt.timedelta(days=1), dt.time.min, tzinfo=dt.UTC)
        queryset = queryset.filter(created_at__lt=end)
    if q:
        queryset = search(queryset, q)
    return queryset


@dataclass(frozen=True)
class Head:
    sequence: int
    hash: str
    time: dt.datetime | None


def head() -> Head:
    """The latest entry (sequence 0 and the genesis hash for an empty archive)."""
    latest = ArchiveEntry.objects.order_by("-sequence").only("sequence", "hash", "created_at").first()
    if latest is None:
        return Head(0, GENESIS_HASH, None)
    return Head(latest.sequence, latest.hash, latest.created_at)


def neighbours(entry: ArchiveEntry) -> tuple[ArchiveEntry | None, ArchiveEntry | None]:
    """(previous, next) entries: the ones whose hash is this prev_hash / whose prev_hash is this hash."""
    previous = ArchiveEntry.objects.filter(hash=entry.prev_hash).only("sequence", "hash").first()
    following = ArchiveEntry.objects.filter(prev_hash=entry.hash).only("sequence", "hash").first()
    return previous, following


def latest_anchor() -> Anchor | None:
    return Anchor.objects.order_by("-sequence").first()


def documents() -> QuerySet[Document]:
    return Document.objects.select_related("entry").defer("content").order_by("-published_at", "-id")
