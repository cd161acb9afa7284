"""Every list in the API and on the pages costs a fixed number of SQL queries, however many rows it shows.

Each list route is rendered with 3 rows of what it lists and again with 30: the number of queries must be
the same (an N+1 would add at least 27). The seeded portal (conftest.seeded: real chain state, indexed,
proposals through the real lifecycle) is grown with the same kind of rows the services write.

`test_every_list_route_is_counted` enumerates the URL configuration: a new route must be listed here as a
counted list or, with the reason, as not a list — so no list escapes.

Every statement that reaches PostgreSQL is counted, once: Django's query log (CaptureQueriesContext) has
the ORM's and connection.cursor()'s; `count_statements` wraps psycopg.Cursor's execute, executemany, stream
and copy with a counting pass-through (the real statement still runs) and adds the ones sent on a cursor
that is not Django's — chain.selectors' raw psycopg cursor on the checkpoint tables (power history, account
history, a holder's balance, delegate and votes). It also checks that the statements it sees on Django's
cursors are exactly those in Django's log, so nothing is counted twice or missed. The chain lists are grown
the way the indexer sees them: real transactions on the test anvil (holders delegating to the delegate,
its re-delegations, proposals opened for voting at a snapshot), then chain.indexer.follow_once.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from django.db import connection
from django.db.backends.postgresql.base import CursorMixin as DjangoCursor
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from eth_account import Account
from eth_utils import to_checksum_address
from psycopg import sql as psycopg_sql

from archive.services import publish_document
from chain.deploy import TOKEN_UNIT
from chain.indexer import follow_once
from delegation import selectors as delegation_selectors
from delegation.models import Delegate, DelegateStatement
from execution.models import Execution
from proposals import selectors as proposal_selectors
from proposals import services as proposal_services
from proposals.lifecycle import ProposalStatus
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


def holder(i: int) -> Any:
    """A fresh token holder (deterministic key; anvil gives it gas money)."""
    return Account.from_key(f"0x{0xB0DE0000 + i + 1:064x}")


@dataclass
class ChainGrower:
    """Grows the chain-index lists as the indexer sees them: real transactions on the test anvil, indexed by
    chain.indexer.follow_once. Row i: holder i gets a token and delegates to delegate 4 (a delegator, a
    votes checkpoint of 4: power history, account history), delegate 4 delegates to itself again (a
    delegate checkpoint: its delegation history, account history) and a proposal opens for voting at a
    snapshot block (4's voting power at proposals on "My delegation")."""

    seeded: Any
    made: int = 0

    def grow(self, n: int) -> None:
        s = self.seeded
        chain, token, delegate = s.chain, s.chain.token, s.chain.address(4)
        holders = [holder(i) for i in range(self.made, n)]
        if not holders:
            return
        chain.send(token.functions.mintBatch([h.address for h in holders], [TOKEN_UNIT] * len(holders)), 0)
        for account in holders:
            chain.rpc("anvil_setBalance", account.address, hex(10**18))
            chain.send(token.functions.delegate(delegate), account.key.to_0x_hex())
            chain.send(token.functions.delegate(delegate), 4)
        result = follow_once(respect_backoff=False)
        assert result["status"] == "ok", result
        for i in range(self.made, n):
            self.to_vote(i)
        self.made = n

    def to_vote(self, i: int) -> None:
        """A proposal through the lifecycle to Voting (endorsed by delegate 6): snapshot at the indexed head."""
        s = self.seeded
        proposal = proposal_services.create_proposal(s.author, title=f"To the vote {i}", body="Why.", kind="process",
                                                     payload={})
        proposal_services.user_transition(proposal.number, ProposalStatus.DISCUSSION, s.author)
        proposal_services.user_transition(proposal.number, ProposalStatus.ENDORSEMENT, s.staff)
        proposal.refresh_from_db()
        typed = proposal_selectors.endorsement_template(proposal, s.chain.address(6))
        signature = Account.sign_typed_data(s.chain.key(6), full_message=typed).signature.to_0x_hex()
        proposal_services.endorse(proposal.number, typed, signature)
        proposal.refresh_from_db()
        assert proposal.status == ProposalStatus.VOTING and proposal.snapshot_block, proposal.status


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
    # chain index lists (checkpoint tables; chain.selectors' raw cursor)
    "delegation-api:delegators": (lambda s: f"/api/delegates/{s.chain.address(4)}/delegators/", "anonymous"),
    "delegation-api:power-history": (lambda s: f"/api/delegates/{s.chain.address(4)}/power-history/", "anonymous"),
    "chain:account-history": (lambda s: f"/api/accounts/{s.chain.address(4)}/history", "anonymous"),
    "delegation:mine": (lambda s: "/delegates/me/", "author"),  # history, power at proposals, power chart
}

#: Lists that read through chain.selectors' raw psycopg cursor: their raw statements must be seen (> 0).
RAW_READS = {"delegation-api:power-history", "chain:account-history", "delegation:mine", "delegation:detail"}
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
    classified = set(LIST_ROUTES) | STATIC_LISTS | NOT_LISTS
    assert names - classified == set(), "classify these routes (a list must be counted in LIST_ROUTES)"
    assert classified - names == set(), "these routes no longer exist"


@dataclass
class Statements:
    """What reached PostgreSQL through psycopg: SQL on Django's cursors, and on any other (raw) cursor."""

    django: list[str] = field(default_factory=list)
    raw: list[str] = field(default_factory=list)


@contextlib.contextmanager
def count_statements(monkeypatch: pytest.MonkeyPatch) -> Iterator[Statements]:
    """Count every statement sent through a psycopg cursor (execute, executemany, stream, copy; a server-side
    cursor's execute): a pass-through that records the SQL and runs the real call. (A server-side cursor's
    FETCHes are not counted, as Django's log does not count them either.)"""
    seen = Statements()

    def counting(method: Callable[..., Any]) -> Callable[..., Any]:
        def wrapper(self: psycopg.Cursor, query: Any, *args: Any, **kwargs: Any) -> Any:
            sql = query.as_string(self) if isinstance(query, psycopg_sql.Composable) else str(query)
            (seen.django if isinstance(self, DjangoCursor) else seen.raw).append(sql)
            return method(self, query, *args, **kwargs)
        return wrapper

    with monkeypatch.context() as patch:
        for cls, names in ((psycopg.Cursor, ("execute", "executemany", "stream", "copy")),
                           (psycopg.ServerCursor, ("execute",))):  # a named cursor (Django's .iterator())
            for name in names:
                patch.setattr(cls, name, counting(getattr(cls, name)))
        yield seen


@dataclass
class Measured:
    queries: int  # every statement: Django's log + the raw cursor's
    raw: int
    sql: list[str]
    size: int


def _queries(client: Client, url: str, monkeypatch: pytest.MonkeyPatch) -> Measured:
    """Statements and body size of GET url."""
    with count_statements(monkeypatch) as seen, CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200, (url, response.status_code, body[:300])
    logged = [q["sql"] for q in captured.captured_queries]
    assert len(seen.django) == len(logged), (url, seen.django, logged)  # counted once, none missed
    return Measured(len(logged) + len(seen.raw), len(seen.raw), logged + seen.raw, len(body))


def test_list_queries_do_not_grow_with_rows(seeded, settings, monkeypatch):
    settings.ALLOWED_HOSTS = ["testserver"]
    clients = {"anonymous": Client(), "staff": Client(), "author": Client()}
    clients["staff"].force_login(seeded.staff, backend="django.contrib.auth.backends.ModelBackend")
    clients["author"].force_login(seeded.author, backend="django.contrib.auth.backends.ModelBackend")
    growers = (Grower(seeded), ChainGrower(seeded))
    measured: dict[str, list[Measured]] = {name: [] for name in LIST_ROUTES}
    for rows in (SMALL, LARGE):
        for grower in growers:
            grower.grow(rows)
        for name, (url, who) in LIST_ROUTES.items():
            measured[name].append(_queries(clients[who], url(seeded), monkeypatch))
    # The rows are there: each list shows LARGE of them (or a full page).
    assert Vote.objects.filter(proposal=seeded.voting).count() >= LARGE
    assert Delegate.objects.count() >= LARGE
    assert len(delegation_selectors.delegators_page(seeded.chain.address(4), limit=100)[0]) > LARGE
    assert len(delegation_selectors.power_history(seeded.chain.address(4))) > LARGE
    mine = delegation_selectors.my_delegation(seeded.chain.address(4))
    assert len(mine.history) > LARGE and len(mine.at_proposals) == 20  # (the page shows the latest 20)
    not_shown = [name for name, (small, large) in measured.items() if large.size <= small.size]
    assert not not_shown, f"these lists did not show the added rows: {not_shown}"
    # The raw cursor's reads are seen (the count cannot pass by counting nothing).
    unseen = [name for name in RAW_READS if not all(m.raw for m in measured[name])]
    assert not unseen, f"no raw statements counted for {unseen}"
    grown = {name: (small.queries, large.queries) for name, (small, large) in measured.items()
             if large.queries != small.queries}
    detail = "\n".join(f"{name}: {a} -> {b} queries\n  " + "\n  ".join(measured[name][1].sql[-5:])
                       for name, (a, b) in grown.items())
    assert not grown, f"queries grow with rows:\n{detail}"
