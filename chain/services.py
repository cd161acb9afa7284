"""Writes of the chain index: the cursor, ranges, rewinds after a reorg, status and the run lock.

Every range is written in one transaction that first moves the cursor with a compare-and-set
(UPDATE ... SET head_block = new WHERE head_block = old): a second writer (a worker that lost its
lock, a duplicate task) either waits on that row and then finds the cursor moved, or never starts —
so a range is committed exactly once, together with the cursor, and a crash loses only the
uncommitted range. Re-running a range changes nothing: the transaction first deletes whatever lies past
the cursor (normally nothing), then writes. On PostgreSQL the rows go in with COPY (UNIQUE(block_hash,
log_index) and the (account, block) unique indexes as the guard); on SQLite with bulk_create
(ignore_conflicts=True on events).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Iterator, Sequence
from datetime import timedelta
from typing import Any

import psycopg
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from chain.decoding import Event, NegativeBalance, build_checkpoints, transfer_accounts
from chain.models import (
    DEFAULT_STATE,
    BalanceCheckpoint,
    ContractEvent,
    DelegateCheckpoint,
    IndexedBlock,
    IndexerState,
    LatestVotes,
    SupplyCheckpoint,
    VotesCheckpoint,
)
from govapp.errors import ConflictError, DomainError

logger = logging.getLogger(__name__)

#: pg_advisory_lock key of the indexer (first 8 bytes of keccak256("govapp.chain.indexer"), signed).
LOCK_KEY = -0x4C66_D603_C096_90E8
#: Blocks without events are forgotten once this far below the head (blocks with events are kept).
KEEP_RECENT_BLOCKS = 256
MAX_BACKOFF_SECONDS = 300

CHECKPOINT_TABLES = (BalanceCheckpoint, DelegateCheckpoint, VotesCheckpoint, SupplyCheckpoint)


class IndexingError(DomainError):
    code = "indexing_error"
    status = 500


class CursorMoved(IndexingError):
    """The compare-and-set on the cursor failed: another writer moved it first."""

    code = "cursor_moved"
    status = 409


class IndexIncomplete(IndexingError):
    """The events contradict the index (a balance would go negative): it misses earlier history."""

    code = "index_incomplete"


class IndexMismatch(ConflictError):
    code = "index_mismatch"


def _pg() -> bool:
    return connection.vendor == "postgresql"


# --- state ---------------------------------------------------------------------------------------------


def contracts_of(deployment: Any) -> dict[str, str]:
    return {name: c.address.lower() for name, c in sorted(deployment.contracts.items())}


def ensure_state(deployment: Any, *, from_block: int | None = None) -> IndexerState:
    """The cursor row, created at `from_block` (default: the earliest deployment block) if missing.

    Refuses (index_mismatch) when the index was built for other contract addresses: reset it first
    (`manage.py index_chain --reset`).
    """
    contracts = contracts_of(deployment)
    state = IndexerState.objects.filter(name=DEFAULT_STATE).first()
    if state is None:
        start = deployment.start_block if from_block is None else int(from_block)
        state, _ = IndexerState.objects.get_or_create(
            name=DEFAULT_STATE, defaults={"contracts": contracts, "start_block": start, "head_block": start - 1})
    if state.contracts != contracts:
        raise IndexMismatch(
            f"The index was built for contracts {state.contracts}, but the deployment file names {contracts}. "
            "Run `manage.py index_chain --reset` to rebuild it.")
    return state


def _start_block() -> int | None:
    return IndexerState.objects.filter(name=DEFAULT_STATE).values_list("start_block", flat=True).first()


def load_state() -> IndexerState:
    state = IndexerState.objects.filter(name=DEFAULT_STATE).first()
    if state is None:
        raise IndexingError("The indexer has no state yet (ensure_state creates it).", code="indexer_not_ready")
    return state


def reset_index() -> None:
    """Forget everything indexed (all chain index tables), in one transaction."""
    with transaction.atomic():
        for model in (*CHECKPOINT_TABLES, LatestVotes, ContractEvent, IndexedBlock, IndexerState):
            model.objects.all().delete()


# --- the run lock ----------------------------------------------------------------------------------


@contextlib.contextmanager
def indexer_lock() -> Iterator[bool]:
    """Session-level pg_try_advisory_lock around a run; yields whether it was acquired.

    Released on exit (and by PostgreSQL if the process dies). Not a correctness requirement — the
    cursor's compare-and-set is — but it keeps two workers from fetching the same range. On SQLite
    (one writer at a time anyway) it always yields True.
    """
    if not _pg():
        yield True
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [LOCK_KEY])
        acquired = bool(cursor.fetchone()[0])
    try:
        yield acquired
    finally:
        if acquired:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [LOCK_KEY])


# --- status (outside the range transactions) ------------------------------------------------------------


def record_poll(chain_block: int) -> None:
    IndexerState.objects.filter(name=DEFAULT_STATE).update(chain_block=chain_block, checked_at=timezone.now())


def record_success() -> None:
    IndexerState.objects.filter(name=DEFAULT_STATE).exclude(failures=0, retry_at=None).update(
        failures=0, retry_at=None)


def backoff_seconds(failures: int) -> float:
    """2, 4, 8, ... seconds after 1, 2, 3, ... consecutive failures, at most MAX_BACKOFF_SECONDS."""
    return float(min(MAX_BACKOFF_SECONDS, 2 ** max(1, failures)))


def record_failure(exc: BaseException) -> int:
    """Remember a failed run (stalled state, error, time) and when to try again; returns the failure count."""
    now = timezone.now()
    state = IndexerState.objects.filter(name=DEFAULT_STATE).only("failures").first()
    if state is None:
        return 0
    failures = state.failures + 1
    IndexerState.objects.filter(name=DEFAULT_STATE).update(
        failures=failures, last_error=f"{type(exc).__name__}: {exc}"[:2000], last_error_at=now,
        retry_at=now + timedelta(seconds=backoff_seconds(failures)))
    return failures


def in_backoff() -> bool:
    return IndexerState.objects.filter(name=DEFAULT_STATE, retry_at__gt=timezone.now()).exists()


def stored_blocks(*, below: int, limit: int) -> list[tuple[int, str]]:
    """(number, hash) of stored blocks below `below`, newest first."""
    return list(IndexedBlock.objects.filter(number__lt=below).order_by("-number").values_list("number", "hash")[:limit])


def vacuum_checkpoints() -> bool:
    """VACUUM (ANALYZE) the checkpoint tables after a large catch-up (PostgreSQL, outside a transaction):
    fresh planner statistics, and a visibility map so the selectors' lookups are index-only scans right
    away instead of after autovacuum gets round to it. Returns whether it ran."""
    if not _pg() or connection.in_atomic_block:
        return False
    with connection.cursor() as cursor:
        for model in (*CHECKPOINT_TABLES, LatestVotes):
            cursor.execute(f"VACUUM (ANALYZE) {model._meta.db_table}")
    return True


# --- reads needed while writing a range ------------------------------------------------------------


def _latest_balances(accounts: Sequence[str]) -> dict[str, int]:
    """Each account's latest balance checkpoint (accounts without one are absent)."""
    if not accounts:
        return {}
    table = BalanceCheckpoint._meta.db_table
    found: dict[str, int] = {}
    if _pg():  # server-side binding: the account array is one bound value, not a huge SQL literal
        connection.ensure_connection()
        with psycopg.Cursor(connection.connection) as cursor:
            cursor.execute(
                f"SELECT a.account, (SELECT b.balance FROM {table} b WHERE b.account = a.account "  # noqa: S608
                f"ORDER BY b.block DESC LIMIT 1)::text FROM unnest(%s::varchar[]) AS a(account)", [list(accounts)])
            rows = cursor.fetchall()
    else:
        with connection.cursor() as cursor:
            rows = []
            for start in range(0, len(accounts), 500):
                chunk = list(accounts[start:start + 500])
                marks = ",".join(["%s"] * len(chunk))
                cursor.execute(
                    f"SELECT b.account, b.balance FROM {table} b JOIN (SELECT account, MAX(block) AS block "  # noqa: S608
                    f"FROM {table} WHERE account IN ({marks}) GROUP BY account) m "
                    f"ON b.account = m.account AND b.block = m.block", chunk)
                rows.extend(cursor.fetchall())
    for account, balance in rows:
        if balance is not None:
            found[account] = int(balance)
    return found


def _latest_supply() -> int:
    row = SupplyCheckpoint.objects.order_by("-block").values_list("total_supply", flat=True).first()
    return int(row) if row is not None else 0


# --- writing a range ----------------------------------------------------------------------------------


def commit_range(*, old_head: int, new_head: int, head_hash: str, events: Sequence[Event],
                 blocks: Sequence[Any], log_blocks: set[int], chain_block: int | None = None) -> dict[str, int]:
    """Write the range (old_head, new_head] and move the cursor, in one transaction.

    Raises CursorMoved (and writes nothing) if the cursor is no longer at old_head.
    `blocks`: chain.indexer.Header of every block to remember (blocks with logs, the range end, recent
    blocks); `log_blocks`: the numbers of blocks with logs.
    """
    now = timezone.now()
    updates: dict[str, Any] = {"head_block": new_head, "head_hash": head_hash, "last_advanced_at": now}
    if chain_block is not None:
        updates["chain_block"] = chain_block
    with transaction.atomic():
        moved = IndexerState.objects.filter(name=DEFAULT_STATE, head_block=old_head).update(**updates)
        if moved != 1:
            raise CursorMoved(f"the cursor is no longer at block {old_head}: another indexer moved it")
        # Nothing may exist past the cursor; should something (a cursor moved back by hand), it goes, so
        # re-running a range leaves exactly one copy and checkpoints are built on the right balances.
        _delete_after(old_head)
        token_events = [e for e in events if e.kind]
        balances = _latest_balances(sorted(transfer_accounts(token_events)))
        try:
            checkpoints = build_checkpoints(token_events, balances, _latest_supply() if _moves_supply(token_events)
                                            else 0)
        except NegativeBalance as exc:
            raise IndexIncomplete(
                f"{exc}. The index misses earlier token history (it starts at block {_start_block()}); rebuild "
                "it from the deployment block: `manage.py index_chain --reset`.") from exc
        timestamps = {b.number: b.timestamp for b in blocks}
        counts = {"events": len(events), "balances": len(checkpoints.balances),
                  "delegates": len(checkpoints.delegates), "votes": len(checkpoints.votes),
                  "supply": len(checkpoints.supply)}
        event_rows = [(e.contract, e.name, e.address, e.block_number, e.block_hash, timestamps[e.block_number],
                       e.tx_hash, e.tx_index, e.log_index, _json_list(e.topics), e.data, e.args_json) for e in events]
        block_rows = [(b.number, b.hash, b.parent_hash, b.timestamp, b.number in log_blocks) for b in blocks]
        balance_rows = [(a, b, v) for (a, b), v in checkpoints.balances.items()]
        delegate_rows = [(a, b, d) for (a, b), d in checkpoints.delegates.items()]
        votes_rows = [(a, b, v) for (a, b), v in checkpoints.votes.items()]
        supply_rows = list(checkpoints.supply.items())
        if _pg():
            _pg_write(event_rows, block_rows, balance_rows, delegate_rows, votes_rows, supply_rows)
        else:
            _orm_write(event_rows, block_rows, balance_rows, delegate_rows, votes_rows, supply_rows)
        refresh_latest_votes({a for a, _b, _v in votes_rows})
        if new_head // 64 != old_head // 64:  # now and then: forget old blocks without events
            with connection.cursor() as cursor:
                cursor.execute(f"DELETE FROM {IndexedBlock._meta.db_table} WHERE number < %s AND NOT has_events "  # noqa: S608
                               f"AND number <> %s", [new_head - KEEP_RECENT_BLOCKS, new_head])
    return counts


def _moves_supply(token_events: Sequence[Event]) -> bool:
    from chain.decoding import KIND_TRANSFER, ZERO_ADDRESS

    return any(e.kind == KIND_TRANSFER and ZERO_ADDRESS in (e.values[0], e.values[1]) for e in token_events)


def _json_list(items: Sequence[str]) -> str:
    return '["' + '","'.join(items) + '"]' if items else "[]"


EVENT_COLUMNS = ("contract", "event", "address", "block_number", "block_hash", "block_timestamp", "tx_hash",
                 "tx_index", "log_index", "topics", "data", "args")


def _copy(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _pg_write(event_rows, block_rows, balance_rows, delegate_rows, votes_rows, supply_rows) -> None:  # noqa: ANN001
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # the psycopg 3 cursor (COPY)
        if block_rows:
            cursor.executemany(
                f"INSERT INTO {IndexedBlock._meta.db_table} (number, hash, parent_hash, timestamp, has_events) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (number) DO UPDATE SET hash = EXCLUDED.hash, "
                "parent_hash = EXCLUDED.parent_hash, timestamp = EXCLUDED.timestamp, "
                "has_events = EXCLUDED.has_events", block_rows)
        # Plain COPY for everything (2.3x faster than COPY into a staging table + INSERT ... ON CONFLICT DO
        # NOTHING, measured). Safe: the compare-and-set on the cursor makes this transaction the range's only
        # writer and _delete_after cleared anything past the cursor first; UNIQUE(block_hash, log_index) and
        # the (account, block) unique indexes turn any violation into an error (and a rollback), never a double.
        for model, columns, rows in (
                (ContractEvent, EVENT_COLUMNS, event_rows),
                (BalanceCheckpoint, ("account", "block", "balance"), balance_rows),
                (DelegateCheckpoint, ("account", "block", "delegate"), delegate_rows),
                (VotesCheckpoint, ("account", "block", "votes"), votes_rows),
                (SupplyCheckpoint, ("block", "total_supply"), supply_rows)):
            if rows:
                _copy(cursor, model._meta.db_table, columns, rows)


def _orm_write(event_rows, block_rows, balance_rows, delegate_rows, votes_rows, supply_rows) -> None:  # noqa: ANN001
    import json

    batch = 500
    ContractEvent.objects.bulk_create(
        (ContractEvent(contract=r[0], event=r[1], address=r[2], block_number=r[3], block_hash=r[4],
                       block_timestamp=r[5], tx_hash=r[6], tx_index=r[7], log_index=r[8], topics=json.loads(r[9]),
                       data=r[10], args=json.loads(r[11])) for r in event_rows),
        batch_size=batch, ignore_conflicts=True)
    for number, block_hash, parent_hash, timestamp, has_events in block_rows:
        IndexedBlock.objects.update_or_create(number=number, defaults={
            "hash": block_hash, "parent_hash": parent_hash, "timestamp": timestamp, "has_events": has_events})
    BalanceCheckpoint.objects.bulk_create(
        (BalanceCheckpoint(account=a, block=b, balance=v) for a, b, v in balance_rows), batch_size=batch)
    DelegateCheckpoint.objects.bulk_create(
        (DelegateCheckpoint(account=a, block=b, delegate=d) for a, b, d in delegate_rows), batch_size=batch)
    VotesCheckpoint.objects.bulk_create(
        (VotesCheckpoint(account=a, block=b, votes=v) for a, b, v in votes_rows), batch_size=batch)
    SupplyCheckpoint.objects.bulk_create(
        (SupplyCheckpoint(block=b, total_supply=v) for b, v in supply_rows), batch_size=batch)


def rewind(*, old_head: int, to_block: int) -> str:
    """After a reorg: delete everything after `to_block` and move the cursor back to it, in one
    transaction (compare-and-set from old_head). Returns the stored hash of `to_block` ("" if none)."""
    with transaction.atomic():
        block_hash = IndexedBlock.objects.filter(number=to_block).values_list("hash", flat=True).first() or ""
        moved = IndexerState.objects.filter(name=DEFAULT_STATE, head_block=old_head).update(
            head_block=to_block, head_hash=block_hash, reorgs=F("reorgs") + 1, last_reorg_at=timezone.now(),
            last_reorg_depth=max(0, old_head - to_block))
        if moved != 1:
            raise CursorMoved(f"the cursor is no longer at block {old_head}: another indexer moved it")
        _delete_after(to_block)
    return block_hash


def _delete_after(block: int) -> None:
    """Delete every row about blocks after `block` (checkpoints, events, block hashes) with index scans,
    in one statement on PostgreSQL, then recompute the LatestVotes row of every account that had a votes
    checkpoint after `block` from its remaining checkpoints (same transaction: the caller's).
    Events go by block hash (UNIQUE(block_hash, log_index) is their only
    block-wise index): every block with events has its IndexedBlock row, written in the same transaction."""
    blocks = IndexedBlock._meta.db_table
    # table names are the models' own; the block number is a parameter
    deletes = [f"DELETE FROM {model._meta.db_table} WHERE block > %(b)s" for model in CHECKPOINT_TABLES] + [  # noqa: S608
        f"DELETE FROM {ContractEvent._meta.db_table} WHERE block_hash IN "  # noqa: S608
        f"(SELECT hash FROM {blocks} WHERE number > %(b)s AND has_events)",
        f"DELETE FROM {blocks} WHERE number > %(b)s"]  # noqa: S608
    with connection.cursor() as cursor:
        if _pg():  # data-modifying CTEs all see the rows as they were before the statement
            cursor.execute("WITH " + ", ".join(f"d{i} AS ({sql})" for i, sql in enumerate(deletes)) + " SELECT 1",
                           {"b": block})
        else:  # in this order: the events' delete reads the block rows
            for sql in deletes:
                cursor.execute(sql.replace("%(b)s", "%s"), [block] * sql.count("%(b)s"))
        # the accounts whose latest votes checkpoint was after `block` are exactly those that lost one
        cursor.execute(f"DELETE FROM {LatestVotes._meta.db_table} WHERE block > %s RETURNING account",  # noqa: S608
                       [block])
        affected = [row[0] for row in cursor.fetchall()]
    refresh_latest_votes(affected)


def refresh_latest_votes(accounts: Iterable[str]) -> int:
    """Set the LatestVotes row of each of `accounts` to its last two votes checkpoints as they are now
    (accounts without any get none): ONE set-based upsert, in the caller's transaction. Called after the
    checkpoints of a range are written and after a rollback deleted some. Returns the rows written."""
    accounts = sorted(set(accounts))
    if not accounts:
        return 0
    latest, votes = LatestVotes._meta.db_table, VotesCheckpoint._meta.db_table
    upsert = ("ON CONFLICT (account) DO UPDATE SET block = excluded.block, votes = excluded.votes, "
              "prev_block = excluded.prev_block, prev_votes = excluded.prev_votes")
    # table names are the models' own; the accounts are one parameter
    if _pg():  # two seeks per account in the (account, block DESC) index
        param = ",".join(accounts)
        sql = (f"INSERT INTO {latest} (account, block, votes, prev_block, prev_votes) "  # noqa: S608
               f"SELECT a.account, t.block, t.votes, p.block, p.votes "
               f"FROM unnest(string_to_array(%s, ',')) AS a(account) "
               f"CROSS JOIN LATERAL (SELECT c.block, c.votes FROM {votes} c WHERE c.account = a.account "
               f"ORDER BY c.block DESC LIMIT 1) t "
               f"LEFT JOIN LATERAL (SELECT c.block, c.votes FROM {votes} c WHERE c.account = a.account "
               f"AND c.block < t.block ORDER BY c.block DESC LIMIT 1) p ON true {upsert}")
    else:  # SQLite: no LATERAL
        import json

        param = json.dumps(accounts)
        sql = (f"INSERT INTO {latest} (account, block, votes, prev_block, prev_votes) "  # noqa: S608
               f"SELECT t.account, t.block, t.votes, p.block, p.votes FROM {votes} t "
               f"LEFT JOIN {votes} p ON p.account = t.account AND p.block = "
               f"(SELECT MAX(q.block) FROM {votes} q WHERE q.account = t.account AND q.block < t.block) "
               f"WHERE t.account IN (SELECT value FROM json_each(%s)) "
               f"AND t.block = (SELECT MAX(m.block) FROM {votes} m WHERE m.account = t.account) {upsert}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [param])
        return cursor.rowcount


def rebuild_latest_votes() -> int:
    """LatestVotes recomputed for every account from the votes checkpoints, in one transaction: for
    checkpoints written some other way than commit_range (fixtures, benchmark data sets). Returns the rows."""
    with transaction.atomic():
        LatestVotes.objects.all().delete()
        return refresh_latest_votes(VotesCheckpoint.objects.values_list("account", flat=True).distinct())
