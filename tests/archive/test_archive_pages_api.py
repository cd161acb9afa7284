"""Public timeline (filters, full-text search, pages), entry pages with hash links, and the API."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.urls import include, path
from rest_framework.test import APIClient

from archive import kinds
from archive.models import ArchiveEntry
from archive.services import record

pytestmark = pytest.mark.django_db


def sequences(html: bytes) -> list[int]:
    return [int(s) for s in re.findall(rb'<td><a href="/archive/entries/(\d+)/">', html)]


def test_timeline_filters_and_search(client, builder, accounts):
    builder.story("7")
    builder.created("12", title="Treasury grant for public goods auditors")
    all_ = sequences(client.get("/archive/").content)
    assert all_ == sorted(all_, reverse=True) and len(all_) == ArchiveEntry.objects.count()

    votes = sequences(client.get("/archive/", {"kind": "vote.cast"}).content)
    assert votes and set(votes) == set(ArchiveEntry.objects.filter(kind="vote.cast").values_list("sequence", flat=True))
    trail = sequences(client.get("/archive/?proposal=7").content)
    assert set(trail) == {e.sequence for e in builder.recorded if e.proposal_ref == "7"}
    by_actor = sequences(client.get("/archive/", {"address": accounts[2].address.lower()}).content)
    assert set(by_actor) == set(ArchiveEntry.objects.filter(address=accounts[2].address)
                                .values_list("sequence", flat=True)) and by_actor
    found = sequences(client.get("/archive/", {"q": "auditors"}).content)
    assert found == [builder.recorded[-1].sequence]
    if connection.vendor == "postgresql":  # stemming and web-search syntax of PostgreSQL FTS
        assert sequences(client.get("/archive/", {"q": "grants auditor"}).content) == found
        assert sequences(client.get("/archive/", {"q": "treasury -auditors"}).content) == []
    today = dt.datetime.now(dt.UTC).date()
    assert len(sequences(client.get("/archive/", {"since": today.isoformat(), "until": today.isoformat()})
                         .content)) == len(all_)
    assert sequences(client.get("/archive/", {"until": (today - dt.timedelta(days=1)).isoformat()}).content) == []
    combined = sequences(client.get("/archive/", {"kind": "vote.cast", "proposal": "7",
                                                   "address": accounts[1].address}).content)
    assert len(combined) == 1

    bad = client.get("/archive/", {"address": "0x123", "kind": "nope", "since": "soon"})
    assert bad.status_code == 400 and b"Enter a 0x address" in bad.content


def test_timeline_pages_by_sequence(client, accounts):
    for i in range(120):
        record(kinds.COUNCIL_MEMBERSHIP_CHANGED, {"member": accounts[i % 6].address,
                                                  "change": "added" if i % 2 else "removed", "n": i})
    first = client.get("/archive/")
    assert sequences(first.content) == list(range(120, 70, -1))
    older = re.search(rb'href="\?before=(\d+)" rel="next"', first.content)
    assert older and older.group(1) == b"71"
    second = client.get("/archive/?before=71")
    assert sequences(second.content) == list(range(70, 20, -1))
    assert b'href="?after=70" rel="prev"' in second.content
    assert sequences(client.get("/archive/?before=21").content) == list(range(20, 0, -1))
    assert b'rel="next"' not in client.get("/archive/?before=21").content
    assert sequences(client.get("/archive/?after=70").content) == list(range(120, 70, -1))
    page = client.get("/archive/?change=added&kind=council.membership_changed&before=50")
    assert sequences(page.content)[0] == 49
    assert client.get("/archive/?before=abc").status_code == 400


def test_entry_page_shows_everything_and_links_by_hash(client, builder):
    builder.story("7")
    vote = next(e for e in builder.recorded if e.kind == "vote.cast")
    page = client.get(f"/archive/entries/{vote.sequence}/").content.decode()
    assert f"Entry #{vote.sequence}" in page and "Vote cast" in page
    assert vote.hash in page and vote.prev_hash in page
    assert f'href="/archive/entries/{vote.sequence - 1}/" rel="prev">{vote.prev_hash}' in page
    following = ArchiveEntry.objects.get(sequence=vote.sequence + 1)
    assert f'href="/archive/entries/{vote.sequence + 1}/" rel="next">{following.hash}' in page
    assert "&quot;support&quot;: &quot;for&quot;" in page  # pretty-printed payload
    assert "&quot;primaryType&quot;: &quot;Vote&quot;" in page  # the signed artifact, verbatim
    assert 'href="/archive/?proposal=7"' in page
    first = client.get("/archive/entries/1/").content.decode()
    assert "(genesis)" in first
    last = client.get(f"/archive/entries/{builder.recorded[-1].sequence}/").content.decode()
    assert "this is the head" in last
    assert client.get("/archive/entries/9999/").status_code == 404


def test_api_lists_filters_and_details(builder, accounts):
    builder.story("7")
    api = APIClient()
    listing = api.get("/api/archive/entries/", {"kind": "vote.cast", "proposal": "7"}).json()
    assert [r["kind"] for r in listing["results"]] == ["vote.cast"] * 3
    assert listing["results"][0]["sequence"] > listing["results"][-1]["sequence"]
    assert api.get("/api/archive/entries/", {"q": "raise block gas"}).json()["results"][0]["sequence"] == 1
    by_actor = api.get("/api/archive/entries/", {"address": accounts[3].address.lower()}).json()["results"]
    assert by_actor and all(r["address"] == accounts[3].address for r in by_actor)
    page = api.get("/api/archive/entries/", {"page_size": 5}).json()
    assert len(page["results"]) == 5 and page["next"]
    assert api.get(page["next"]).json()["results"][0]["sequence"] == page["results"][-1]["sequence"] - 1

    vote = ArchiveEntry.objects.filter(kind="vote.cast").order_by("sequence").first()
    detail = api.get(f"/api/archive/entries/{vote.sequence}/").json()
    assert detail["hash"] == vote.hash and detail["prev_hash"] == vote.prev_hash
    assert detail["signed"]["signer"] == accounts[1].address and detail["time"].endswith("Z")
    assert detail["url"] == f"/archive/entries/{vote.sequence}/"
    missing = api.get("/api/archive/entries/999/")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert api.get("/api/archive/documents/5/").json()["error"]["code"] == "not_found"
    bad = api.get("/api/archive/entries/", {"address": "nope"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    assert "address" in bad.json()["error"]["details"]

    head = api.get("/api/archive/head/").json()
    last = builder.recorded[-1]
    assert head["sequence"] == last.sequence and head["hash"] == last.hash and head["anchor"] is None


def test_openapi_schema_covers_the_archive_api():
    from drf_spectacular.generators import SchemaGenerator

    generator = SchemaGenerator(patterns=[path("api/archive/", include("archive.api_urls"))])
    schema = generator.get_schema(request=None, public=True)
    paths = schema["paths"]
    assert {"/api/archive/entries/", "/api/archive/entries/{sequence}/", "/api/archive/head/",
            "/api/archive/documents/", "/api/archive/documents/{id}/"} <= set(paths)
    params = {p["name"] for p in paths["/api/archive/entries/"]["get"]["parameters"]}
    assert {"kind", "proposal", "address", "since", "until", "q", "cursor"} <= params
    assert "post" in paths["/api/archive/documents/"]
