"""Reads of delegation: the directory, a delegate's page, a holder's own delegation, and track records.

Every list here is a fixed number of queries whatever its length (no N+1): the directory is one
indexed table (delegation.Delegate), the per-delegate figures come from the indexer's selectors in
one call each.

The voting record (`voting_record`, `vote_stats`) reads the voting app (voting.selectors.votes_by_voter,
voting.Vote); both return [] / {} while the voting app has no `Vote` model (`_vote_model()`), so the
delegation pages work without it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import connection
from django.db.models import Count, Max, QuerySet, TextField
from django.db.models.functions import Cast

from delegation import constants as C
from delegation import indexer
from delegation.models import Delegate, DelegateStatement, RelayedDelegation

# --- Directory ------------------------------------------------------------------------------------

#: The columns a directory row shows.
LIST_FIELDS = ("address", "display_name", "interests", "statement_id", "voting_power", "delegator_count",
               "votes_cast", "participation_bps", "last_vote_at", "power_block")


def directory_queryset(*, search: str | None = None, sort: str | None = None,
                       interest: str | None = None, has_statement: bool | None = None) -> QuerySet[Delegate]:
    """Delegates (addresses with a statement or delegated votes > 0), filtered and sorted by an indexed key.

    search: a case-insensitive substring of the display name, or of the address ("0x…").
    sort: "power" (default, most power first), "delegators" (most first) or "name" (A→Z, unnamed last).
    Page it with `page_of` (or DirectoryRows), which stays fast at any depth.
    """
    queryset = Delegate.objects.all()
    if search:
        term = search.strip().casefold()
        if term:
            queryset = queryset.filter(search_text__contains=term)
    if interest:
        if connection.vendor == "postgresql":
            queryset = queryset.filter(interests__contains=[interest])  # jsonb @> (GIN index, migration 0002)
        else:  # SQLite has no JSON containment lookup: match the quoted slug in the JSON text
            queryset = queryset.annotate(_interests=Cast("interests", TextField())).filter(
                _interests__contains=f'"{interest}"')
    if has_statement is not None:
        queryset = queryset.filter(statement__isnull=not has_statement)
    order = C.SORTS.get(sort or C.DEFAULT_SORT, C.SORTS[C.DEFAULT_SORT])
    return queryset.order_by(*order)


def page_of(queryset: QuerySet[Delegate], offset: int, limit: int) -> list[Delegate]:
    """Rows offset..offset+limit of a directory queryset, in ONE query with a deferred join.

    The inner query finds the page's addresses with an index-only scan of the sort key's index
    (sort key, address) — skipping 19,000 rows costs a few milliseconds, where OFFSET over the full
    rows reads every skipped row from the heap — and the outer query reads just those rows (by the
    unique address index).
    """
    if limit <= 0:
        return []
    addresses = queryset.values("address")[offset: offset + limit]
    order = queryset.query.order_by
    return list(Delegate.objects.filter(address__in=addresses).order_by(*order).only(*LIST_FIELDS))


class DirectoryRows:
    """A directory queryset as DRF's LimitOffsetPagination slices it: count() and page_of()."""

    def __init__(self, queryset: QuerySet[Delegate]) -> None:
        self.queryset = queryset

    def count(self) -> int:
        return self.queryset.count()

    def __getitem__(self, page: slice) -> list[Delegate]:
        return page_of(self.queryset, page.start or 0, (page.stop or 0) - (page.start or 0))


@dataclass
class DirectoryPage:
    rows: list[Delegate]
    count: int
    page: int
    pages: int
    page_size: int
    sort: str
    search: str
    total_voting_power: int
    head_block: int | None

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.page_size

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_previous(self) -> bool:
        return self.page > 1


def directory_page(*, search: str = "", sort: str = C.DEFAULT_SORT, page: int = 1,
                   page_size: int = C.DIRECTORY_PAGE_SIZE) -> DirectoryPage:
    """One page of the directory in 3 queries: count, rows (page_of), the indexer's head and total power."""
    sort = sort if sort in C.SORTS else C.DEFAULT_SORT
    page_size = max(1, min(page_size, C.DIRECTORY_MAX_PAGE_SIZE))
    queryset = directory_queryset(search=search, sort=sort)
    count = queryset.count()
    pages = max(1, -(-count // page_size))
    page = max(1, min(page, pages))
    rows = page_of(queryset, (page - 1) * page_size, page_size)
    head, total = indexer.head_and_total()
    return DirectoryPage(rows=rows, count=count, page=page, pages=pages, page_size=page_size, sort=sort,
                         search=search, total_voting_power=total, head_block=head)


# --- A delegate -------------------------------------------------------------------------------------

@dataclass
class DelegateProfile:
    address: str
    row: Delegate | None
    statement: DelegateStatement | None
    versions: int
    voting_power: int
    delegator_count: int
    total_voting_power: int
    head_block: int | None
    delegators: list[tuple[str, int]] = field(default_factory=list)  # the largest ones (a page)

    @property
    def is_delegate(self) -> bool:
        return self.row is not None

    @property
    def display_name(self) -> str:
        return self.statement.display_name if self.statement else ""


def delegate_profile(address: str, *, delegators: int = C.DELEGATORS_PAGE_SIZE) -> DelegateProfile:
    """The delegate's live figures at the indexed head, its largest `delegators` and latest statement.

    Six queries whatever the number of delegators (head, power, total, delegators page, row, statement).
    """
    row = Delegate.objects.filter(address=address).first()
    statements = list(DelegateStatement.objects.filter(delegate=address).order_by("-version")[:1])
    head = indexer.head_block()
    page, count = indexer.delegators_page(address, head, limit=delegators)
    return DelegateProfile(address=address, row=row, statement=statements[0] if statements else None,
                           versions=statements[0].version if statements else 0,
                           voting_power=indexer.voting_power(address, head), delegator_count=count,
                           total_voting_power=indexer.total_voting_power(head), head_block=head, delegators=page)


def statements_of(address: str) -> QuerySet[DelegateStatement]:
    """Every version, newest first."""
    return DelegateStatement.objects.filter(delegate=address).order_by("-version")


def delegators_page(address: str, *, limit: int, offset: int = 0,
                    block: int | None = None) -> tuple[list[tuple[str, int]], int]:
    """(a page of [(delegator, balance)], largest first; the number of delegators) at `block` (default: head)."""
    head = indexer.head_block() if block is None else block
    return indexer.delegators_page(address, head, limit=limit, offset=offset)


def power_history(address: str) -> list[tuple[int, int]]:
    """[(block, votes)] checkpoints of the delegate, oldest first."""
    return indexer.voting_power_history(address)


# --- Voting record: from the voting app ---------------------------------------------------------------

@dataclass(frozen=True)
class VoteRecord:
    proposal_number: int | None
    proposal_title: str
    choice: str  # "for" | "against" | "abstain"
    reason: str
    weight: int
    cast_at: Any  # datetime or None


def _vote_model():
    """voting.Vote when the voting app defines it, else None (then records are empty, participation None)."""
    if not apps.is_installed("voting"):
        return None
    try:
        return apps.get_model("voting", "Vote")
    except LookupError:
        return None


def voting_record(address: str, limit: int | None = None) -> list[VoteRecord]:
    """The delegate's counted votes (proposal, choice, reason), newest first, in one query.

    Reads voting.selectors.votes_by_voter; [] while the voting app has no Vote model.
    """
    if _vote_model() is None:
        return []
    from voting.selectors import votes_by_voter

    return [VoteRecord(proposal_number=v["proposal_number"], proposal_title=v["proposal_title"],
                       choice=v["choice"], reason=v["reason"], weight=int(v["weight"]), cast_at=v["cast_at"])
            for v in votes_by_voter(address, limit=limit)]


def vote_stats() -> dict[str, tuple[int, Any]]:
    """{voter: (proposals voted on, time of the last vote)} for every voter, in one aggregate query.

    {} while the voting app has no Vote model. Used by delegation.directory.refresh_all.
    """
    model = _vote_model()
    if model is None:
        return {}
    rows = (model.objects.filter(is_current=True).values("voter")
            .annotate(proposals=Count("proposal", distinct=True), last=Max("created_at")))
    return {row["voter"]: (row["proposals"], row["last"]) for row in rows}


def proposal_snapshots(head: int | None) -> list[int]:
    """Sorted snapshot blocks (<= head) of the proposals that went to a vote: the votes a delegate could cast."""
    if head is None:
        return []
    try:
        model = apps.get_model("proposals", "Proposal")
    except LookupError:
        return []
    if "snapshot_block" not in {f.name for f in model._meta.get_fields()}:
        return []
    return sorted(model.objects.filter(snapshot_block__isnull=False, snapshot_block__lte=head)
                  .values_list("snapshot_block", flat=True))


def participation_bps(first_power_block: int | None, votes_cast: int, snapshots: list[int]) -> int | None:
    """Votes cast / proposals whose snapshot is at or after the first block the delegate had power, in bps.

    None when no proposal went to a vote since then (nothing to participate in yet).
    """
    if first_power_block is None:
        return None
    eligible = len(snapshots) - bisect.bisect_left(snapshots, first_power_block)
    if eligible <= 0:
        return None
    return min(10_000, votes_cast * 10_000 // eligible)


def participation(address: str) -> float | None:
    """The directory's participation rate of a delegate (0..1), None until there was something to vote on."""
    row = Delegate.objects.filter(address=address).only("participation_bps").first()
    if row is None or row.participation_bps is None:
        return None
    return row.participation_bps / 10_000


# --- A holder's own delegation -----------------------------------------------------------------------

@dataclass
class PowerAtProposal:
    number: int
    title: str
    block: int
    votes: int


@dataclass
class MyDelegation:
    address: str
    head_block: int | None
    balance: int
    delegate: str | None  # None: never delegated (the balance carries no votes)
    delegate_row: Delegate | None
    voting_power: int
    history: list[indexer.DelegationChange]
    power_history: list[tuple[int, int]]
    at_proposals: list[PowerAtProposal]
    relays: list[RelayedDelegation] = field(default_factory=list)

    @property
    def needs_activation(self) -> bool:
        """Holds tokens but has no delegate: prompt to self-delegate to activate the voting power."""
        return self.balance > 0 and self.delegate is None

    @property
    def self_delegated(self) -> bool:
        return self.delegate is not None and self.delegate == self.address


def _proposals_with_snapshots(limit: int = 20) -> list[Any]:
    try:
        model = apps.get_model("proposals", "Proposal")
    except LookupError:
        return []
    if "snapshot_block" not in {f.name for f in model._meta.get_fields()}:
        return []
    return list(model.objects.filter(snapshot_block__isnull=False).order_by("-snapshot_block")
                .only("number", "title", "snapshot_block")[:limit])


def my_delegation(address: str) -> MyDelegation:
    head = indexer.head_block()
    delegate = indexer.delegate_of(address, head)
    proposals = _proposals_with_snapshots()
    powers = indexer.voting_power_at_blocks(address, [p.snapshot_block for p in proposals], head)
    return MyDelegation(
        address=address,
        head_block=head,
        balance=indexer.balance(address, head),
        delegate=delegate,
        delegate_row=Delegate.objects.filter(address=delegate).first() if delegate else None,
        voting_power=indexer.voting_power(address, head),
        history=indexer.delegation_history(address),
        power_history=indexer.voting_power_history(address),
        at_proposals=[PowerAtProposal(p.number, p.title, p.snapshot_block, powers[p.snapshot_block])
                      for p in proposals],
        relays=list(RelayedDelegation.objects.filter(holder=address).order_by("-created_at")[:10]),
    )


def needs_activation(address: str) -> bool:
    """Does this holder hold tokens without any delegate (votes inactive)?"""
    head = indexer.head_block()
    return indexer.delegate_of(address, head) is None and indexer.balance(address, head) > 0

