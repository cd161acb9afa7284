"""The directory's derived rows (delegation.Delegate), kept in step with statements and the indexer.

* record_statement(statement) — inside the publishing transaction: the row takes the new name/tags.
* refresh_addresses(addresses) — recompute the rows of some addresses from chain.selectors.
* refresh_all() — recompute every row from the indexer's checkpoint tables in a few set-based SQL
  statements (periodic Celery task delegation.tasks.refresh_directory, and after indexing).

A row exists for every address with a statement or with votes > 0 at the indexed head; others are
removed. Figures are as of `power_block` (the indexed head when computed).
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone
from eth_utils import to_checksum_address

from delegation import indexer, selectors
from delegation.models import Delegate, DelegateStatement

#: pg_advisory_xact_lock key serialising writes of the directory rows ("dlgdir" in ASCII).
LOCK_KEY = 0x646C67646972


def _lock(*, wait: bool = True) -> bool:
    """Serialise directory writers until the end of the transaction (PostgreSQL; a no-op elsewhere)."""
    if connection.vendor != "postgresql":
        return True
    with connection.cursor() as cursor:
        if wait:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [LOCK_KEY])
            return True
        cursor.execute("SELECT pg_try_advisory_xact_lock(%s)", [LOCK_KEY])
        return bool(cursor.fetchone()[0])


def _apply_statement(row: Delegate, statement: DelegateStatement | None) -> None:
    row.display_name = statement.display_name if statement else ""
    row.interests = list(statement.interests) if statement else []
    row.statement = statement
    row.name_key, row.search_text = Delegate.keys_for(row.address, row.display_name)


def record_statement(statement: DelegateStatement) -> Delegate:
    """Make (or update) the directory row of a delegate who published `statement` (in its transaction)."""
    _lock()
    row = Delegate.objects.select_for_update().filter(address=statement.delegate).first()
    if row is None:
        head = indexer.head_block()
        row = Delegate(address=statement.delegate, power_block=head or 0,
                       voting_power=indexer.voting_power(statement.delegate, head),
                       delegator_count=indexer.delegators_page(statement.delegate, head, limit=1)[1])
    _apply_statement(row, statement)
    row.save()
    return row


@transaction.atomic
def refresh_addresses(addresses: Iterable[str]) -> int:
    """Recompute the rows of `addresses` (checksummed) at the indexed head; returns how many rows exist after."""
    addresses = sorted(set(addresses))
    if not addresses:
        return 0
    _lock()
    head = indexer.head_block()
    powers = indexer.voting_power_many(addresses, head)
    latest: dict[str, DelegateStatement] = {}
    for statement in DelegateStatement.objects.filter(delegate__in=addresses).order_by("delegate", "-version"):
        latest.setdefault(statement.delegate, statement)
    rows = {r.address: r for r in Delegate.objects.select_for_update().filter(address__in=addresses)}
    kept = 0
    for address in addresses:
        power = powers.get(address, 0)
        statement = latest.get(address)
        row = rows.get(address)
        if power <= 0 and statement is None:
            if row is not None:
                Delegate.objects.filter(pk=row.pk).delete()
            continue
        row = row or Delegate(address=address)
        _apply_statement(row, statement)
        row.voting_power = power
        row.delegator_count = indexer.delegators_page(address, head, limit=1)[1]
        row.power_block = head or 0
        row.save()
        kept += 1
    return kept


_LATEST_PG = """
    SELECT DISTINCT ON (account) account, {value} FROM {table}
    WHERE block <= %s ORDER BY account, block DESC"""
_LATEST_ANY = """
    SELECT account, {value} FROM (
        SELECT account, {value}, ROW_NUMBER() OVER (PARTITION BY account ORDER BY block DESC) AS rn
        FROM {table} WHERE block <= %s) latest
    WHERE rn = 1"""


def _latest(cursor, vendor: str, model, value: str, head: int) -> list[tuple]:
    """(account, value) of every account's latest checkpoint at or before `head` (one index scan)."""
    sql = (_LATEST_PG if vendor == "postgresql" else _LATEST_ANY).format(value=value, table=model._meta.db_table)
    cursor.execute(sql, [head])
    return cursor.fetchall()


def current_figures(head: int) -> dict[str, tuple[int, int, int | None]]:
    """{lower-case account: (votes, delegators, first block with votes)} of every account with votes > 0
    or delegators at `head`, straight from the indexer's checkpoint tables (3 set-based queries)."""
    from chain.models import DelegateCheckpoint, VotesCheckpoint

    vendor = connection.vendor
    with connection.cursor() as cursor:
        votes = {account: int(value) for account, value in _latest(cursor, vendor, VotesCheckpoint, "votes", head)
                 if int(value) > 0}
        # Delegators as chain.selectors.delegators_of counts them: every account whose latest choice is the delegate.
        counts: dict[str, int] = {}
        for _account, delegate in _latest(cursor, vendor, DelegateCheckpoint, "delegate", head):
            if delegate:
                counts[delegate] = counts.get(delegate, 0) + 1
        first: dict[str, int] = {}
        if votes:
            cursor.execute(f"SELECT account, MIN(block) FROM {VotesCheckpoint._meta.db_table} "  # noqa: S608
                           "WHERE block <= %s AND votes <> %s GROUP BY account", [head, 0 if vendor == "postgresql"
                                                                                 else "0"])
            first = dict(cursor.fetchall())
    accounts = set(votes) | set(counts)
    return {a: (votes.get(a, 0), counts.get(a, 0), first.get(a)) for a in accounts}


def refresh_all() -> dict[str, int]:
    """Bring every directory row in line with the indexed head: insert, update and delete what changed.

    One transaction under the directory lock; a second refresh running at the same time returns at once
    ({"busy": 1}): the first one does the work.
    """
    with transaction.atomic():
        if not _lock(wait=False):
            return {"busy": 1}
        return _refresh_all_locked()


_ROW_FIELDS = ("pk", "address", "voting_power", "delegator_count", "first_power_block", "statement_id", "votes_cast",
               "participation_bps", "last_vote_at")
_UPDATED_FIELDS = ["display_name", "interests", "statement", "name_key", "search_text", "voting_power",
                   "delegator_count", "first_power_block", "votes_cast", "participation_bps", "last_vote_at",
                   "power_block", "updated_at"]


def _refresh_all_locked() -> dict[str, int]:
    """Diff the wanted rows against the stored ones with plain tuples (no model instance, no checksum
    per unchanged row: 20,000 delegates cost a fraction of a second when little changed)."""
    head = indexer.head_block()
    if head is None:
        return {"head_block": -1, "created": 0, "updated": 0, "deleted": 0}
    figures = current_figures(head)  # lower-case addresses
    latest: dict[str, tuple] = {}  # lower-case address -> (pk, delegate, display_name, interests)
    for pk, delegate, name, interests in (DelegateStatement.objects.order_by("delegate", "-version")
                                          .values_list("pk", "delegate", "display_name", "interests")):
        latest.setdefault(delegate.lower(), (pk, delegate, name, interests))
    members = set(figures) | set(latest)
    stats = {voter.lower(): value for voter, value in selectors.vote_stats().items()}
    snapshots = selectors.proposal_snapshots(head)
    existing = {row[1].lower(): row for row in Delegate.objects.values_list(*_ROW_FIELDS)}
    now = timezone.now()
    stale = [row[0] for lower, row in existing.items() if lower not in members]
    deleted = Delegate.objects.filter(pk__in=stale).delete()[0] if stale else 0
    to_create, to_update = [], []
    for lower in members:
        votes, delegators, first_block = figures.get(lower, (0, 0, None))
        cast, last_vote = stats.get(lower, (0, None))
        participation = selectors.participation_bps(first_block, cast, snapshots)
        statement = latest.get(lower)
        wanted = (votes, delegators, first_block, statement[0] if statement else None, cast, participation, last_vote)
        row = existing.get(lower)
        if row is not None and wanted == (int(row[2]), *row[3:]):
            continue
        address = row[1] if row else (statement[1] if statement else to_checksum_address(lower))
        delegate = Delegate(pk=row[0] if row else None, address=address, voting_power=votes,
                            delegator_count=delegators, first_power_block=first_block, votes_cast=cast,
                            participation_bps=participation, last_vote_at=last_vote, power_block=head,
                            updated_at=now, statement_id=statement[0] if statement else None,
                            display_name=statement[2] if statement else "",
                            interests=list(statement[3]) if statement else [])
        delegate.name_key, delegate.search_text = Delegate.keys_for(address, delegate.display_name)
        (to_update if row else to_create).append(delegate)
    Delegate.objects.bulk_create(to_create, batch_size=2000)
    Delegate.objects.bulk_update(to_update, _UPDATED_FIELDS, batch_size=2000)
    return {"head_block": head, "created": len(to_create), "updated": len(to_update), "deleted": deleted}
