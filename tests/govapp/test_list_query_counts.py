"""Every list in the API and on the pages costs a fixed number of SQL queries, however many rows it shows.

Each list route is rendered with 3 rows of what it lists and again with 30: the number of queries must be
the same (an N+1 would add at least 27). The seeded portal (conftest.seeded: real chain state, indexed,
proposals through the real lifecycle) is grown with the same kind of rows the services write.

`test_every_list_route_is_counted` enumerates the URL configuration: a new route must be listed here as a
counted list or, with the reason, as not a list — so no list escapes.

Reads through chain.selectors' raw psycopg cursor (the checkpoint tables: delegators, power history, account
history) do not show in Django's query log; their SQL is a fixed set of statements with LIMIT/OFFSET, and
their plans are checked in test_hot_query_plans.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from eth_utils import to_checksum_address

from archive.services import publish_document
from delegation.models import Delegate, DelegateStatement
from execution.models import Execution
from proposals import services as proposal_services
from proposals.models import Endorsement, Proposal, StatusChange, TechnicalReview
from voting.models import Vote

pytestmark = pytest.mark.django_db

SMALL, LARGE = 3, 30


def fake_address(i: int) -> str:
    return to_checksum_address(f"0x{0xFACE0000 + i:040x}")


@dataclass
class Grower:
    """Adds rows of every listed kind until each list shows `n` of them."""

    seeded: Any
    made: int = 0

    def grow(self, n: int) -> None:
        for i in range(self.made, n):
            self.one(i)
        self.made = n

    def one(self, i: int) -> None:
        s = self.seeded
        now = timezone.now()
        delegate = s.chain.address(4)
        # A proposal (listed on the home page, /proposals/, the API), with an execution and a vote of delegate 4.
        extra = proposal_services.create_proposal(s.author, title=f"Extra proposal {i}", body="Body.",
                                                  kind="process", payload={})
        Execution.objects.create(proposal=extra, onchain_id=f"0x{0xE0000 + i:064x}", tally_digest="0x" + "00" * 32,
                                 state="queued")
        self.vote(extra, delegate, f"0x{0xD0000 + i:064x}", snapshot_block=1)
        # A revision of the draft; an endorsement, a review and a status change of the grant.
        proposal_services.revise_proposal(s.draft.number, s.author, title=f"The draft, version {i + 2}")
        grant = Proposal.objects.get(pk=s.grant.pk)
        revision = grant.revisions.get(number=grant.revision_number)
        common = {"proposal": grant, "revision": revision, "signed_timestamp": int(time.time()),
                  "typed_data": {"message": {"n": i}}, "signature": "0x" + "11" * 65}
        Endorsement.objects.create(endorser=fake_address(i), weight=str(10**18), block=1,
                                   round=grant.endorsement_round, digest=f"0x{0xA0000 + i:064x}", **common)
        TechnicalReview.objects.create(reviewer=fake_address(i), approve=True, comment="Fine.",
                                       round=grant.review_round, digest=f"0x{0xB0000 + i:064x}", **common)
        StatusChange.objects.create(proposal=grant, from_status="endorsement", to_status="endorsement",
                                    actor="system", reason=f"Step {i}", created_at=now)
        # A vote on the proposal in Voting.
        self.vote(s.voting, fake_address(i), f"0x{0xC0000 + i:064x}", snapshot_block=s.voting.snapshot_block)
        # A delegate in the directory; a statement version of delegate 4; a Foundation document.
        Delegate.objects.create(address=fake_address(i), display_name=f"Delegate {i}", name_key=f"0delegate {i}",
                                search_text=f"delegate {i} {fake_address(i).lower()}", voting_power=10**18 + i,
                                delegator_count=1, power_block=1)
        latest = DelegateStatement.objects.filter(delegate=delegate).order_by("-version").first()
        DelegateStatement.objects.create(
            delegate=delegate, version=latest.version + 1, display_name="Fuzzy Delegate", statement=f"Version {i}",
            statement_html=f"<p>Version {i}</p>", interests=["governance"], links=[], signed_timestamp=int(time.time()),
            typed_data={"message": {"n": i}}, signature="0x" + "22" * 65, digest=f"0x{0xF0000 + i:064x}")
        publish_document(s.staff, title=f"Minutes {i}", category="minutes", date="2026-02-03", text=f"# Minutes {i}")

    def vote(self, proposal: Proposal, voter: str, vote_id: str, *, snapshot_block: int) -> None:
        Vote.objects.create(id=vote_id, proposal=proposal, voter=voter, support=1, reason="Because.",
                            signed_timestamp=int(time.time()), snapshot_block=snapshot_block or 1,
                            votes_power=10**18, power=10**18, typed_data={"message": {}}, signature="0x" + "33" * 65,
                            created_at=timezone.now())


def _voting(s: Any) -> int:
    return s.voting.number


#: Route name -> the URL of the list (from the seeded portal) and who looks at it.
LIST_ROUTES: dict[str, tuple[Callable[[Any], str], str]] = {
    # pages
    "home": (lambda s: "/", "anonymous"),
    "proposals:list": (lambda s: "/proposals/", "anonymous"),
    "proposals:detail": (lambda s: f"/proposals/{s.grant.number}/", "anonymous"),  # endorsements, reviews, timeline
    "proposals:revisions": (lambda s: f"/proposals/{s.draft.number}/revisions/", "anonymous"),
    "delegation:directory": (lambda s: "/delegates/", "anonymous"),
    "delegation:detail": (lambda s: f"/delegates/{s.chain.address(4)}/", "anonymous"),  # votes, versions
    "archive:timeline": (lambda s: "/archive/", "anonymous"),
    "archive:document_list": (lambda s: "/archive/documents/", "anonymous"),
    "voting:page": (lambda s: f"/votes/proposals/{_voting(s)}/", "anonymous"),
    "voting:results-fragment": (lambda s: f"/votes/proposals/{_voting(s)}/results", "anonymous"),
    "execution:status": (lambda s: "/execution/status", "staff"),
    # API
    "proposals-api:list": (lambda s: "/api/proposals/", "anonymous"),
    "proposals-api:revisions": (lambda s: f"/api/proposals/{s.draft.number}/revisions/", "anonymous"),
    "proposals-api:endorsements": (lambda s: f"/api/proposals/{s.grant.number}/endorsements/", "anonymous"),
    "proposals-api:reviews": (lambda s: f"/api/proposals/{s.grant.number}/reviews/", "anonymous"),
    "delegation-api:list": (lambda s: "/api/delegates/", "anonymous"),
    "delegation-api:statements": (lambda s: f"/api/delegates/{s.chain.address(4)}/statements/", "anonymous"),
    "delegation-api:votes": (lambda s: f"/api/delegates/{s.chain.address(4)}/votes/", "anonymous"),
    "archive-api:entries": (lambda s: "/api/archive/entries/", "anonymous"),
    "archive-api:documents": (lambda s: "/api/archive/documents/", "anonymous"),
    "execution-api:list": (lambda s: "/api/execution/", "anonymous"),
    "voting-api:list": (lambda s: f"/api/votes/proposals/{_voting(s)}/votes", "anonymous"),
    "voting-api:csv": (lambda s: f"/api/votes/proposals/{_voting(s)}/votes.csv", "anonymous"),
}

#: Lists read through chain.selectors' raw cursor (see the module docstring), not counted here.
RAW_CHAIN_LISTS = {"delegation-api:delegators", "delegation-api:power-history", "chain:account-history",
                   "delegation:mine"}
#: Static lists, from code: no rows.
STATIC_LISTS = {"proposals-api:parameters", "proposals-api:lifecycle"}
#: Not lists: one object, a form, a write, a template, a file, a status.
NOT_LISTS = {
    "healthz", "accounts:nonce", "accounts:login", "accounts:logout", "accounts:me",
    "voting-api:cast", "voting-api:batch", "voting-api:snapshot", "voting-api:detail", "voting-api:cast-for-proposal",
    "voting-api:template", "voting-api:results", "voting-api:power",
    "archive:entry_detail", "archive:export", "archive:document_new", "archive:document_detail",
    "archive:document_content", "archive-api:entry", "archive-api:head", "archive-api:document",
    "delegation:statement", "delegation-api:statement-list", "delegation-api:statement-template",
    "delegation-api:detail", "delegation-api:relay-template", "delegation-api:relay-list",
    "delegation-api:relay-detail",
    "proposals:create", "proposals:edit", "proposals:transition", "proposals-api:detail", "proposals-api:diff",
    "proposals-api:endorsement-template", "proposals-api:review-template", "proposals-api:transition",
    "execution:proposal", "execution:panel", "execution-api:status", "execution-api:veto-template",
    "execution-api:veto", "api-schema", "chain:voting-power", "chain:indexer-status", "api-docs",
}


def route_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list, namespace: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace == "admin":
                    continue
                inner = pattern.namespace or ""
                walk(pattern.url_patterns, f"{namespace}:{inner}".strip(":") if inner else namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver().url_patterns, "")
    return names


def test_every_list_route_is_counted():
    names = route_names()
    classified = set(LIST_ROUTES) | RAW_CHAIN_LISTS | STATIC_LISTS | NOT_LISTS
    assert names - classified == set(), "classify these routes (a list must be counted in LIST_ROUTES)"
    assert classified - names == set(), "these routes no longer exist"


def _queries(client: Client, url: str) -> tuple[int, list[str], int]:
    """(queries, their SQL, body size) of GET url."""
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, (url, response.status_code, body[:300])
    return len(captured), [q["sql"] for q in captured.captured_queries], len(body)


def test_list_queries_do_not_grow_with_rows(seeded, settings):
    settings.ALLOWED_HOSTS = ["testserver"]
    clients = {"anonymous": Client(), "staff": Client()}
    clients["staff"].force_login(seeded.staff, backend="django.contrib.auth.backends.ModelBackend")
    grower = Grower(seeded)
    measured: dict[str, list[tuple[int, list[str], int]]] = {name: [] for name in LIST_ROUTES}
    for rows in (SMALL, LARGE):
        grower.grow(rows)
        for name, (url, who) in LIST_ROUTES.items():
            measured[name].append(_queries(clients[who], url(seeded)))
    # The rows are there: each list shows LARGE of them (or a full page).
    assert Vote.objects.filter(proposal=seeded.voting).count() >= LARGE
    assert Delegate.objects.count() >= LARGE
    not_shown = [name for name, (small, large) in measured.items() if large[2] <= small[2]]
    assert not not_shown, f"these lists did not show the added rows: {not_shown}"
    grown = {name: (small[0], large[0]) for name, (small, large) in measured.items() if large[0] != small[0]}
    detail = "\n".join(f"{name}: {a} -> {b} queries\n  " + "\n  ".join(measured[name][1][1][-5:])
                       for name, (a, b) in grown.items())
    assert not grown, f"queries grow with rows:\n{detail}"
