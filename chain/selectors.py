"""Reads of the chain index: balances, delegates and voting power at any indexed block, without the node.

Each function is ONE SQL query (one round trip), and every per-account lookup in it is one seek in an
(account, block DESC) unique index: `WHERE account = %s AND block <= %s ORDER BY block DESC LIMIT 1`.
The same query also reads the indexer's head, so a block past it is refused (BlockNotIndexed, 409
block_not_indexed) instead of answered from an incomplete index. `block=None` means the indexed head.

Values are the ones at the *end* of `block`, as ERC20Votes' getPastVotes/getPastTotalSupply and
balanceOf/delegates at that block give them. Addresses: 0x + 40 hex digits in any case (a mixed-case one
must be a valid
EIP-55 checksum at the API, which calls normalize_address(strict=True)); EIP-55 checksummed out.
Amounts are Python ints.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

import psycopg
from django.conf import settings
from django.db import connection
from django.db.models import QuerySet
from django.utils import timezone
from eth_utils import is_checksum_address, to_checksum_address

from chain import eip712
from chain.models import (
    DEFAULT_STATE,
    BalanceCheckpoint,
    ContractEvent,
    DelegateCheckpoint,
    IndexerState,
    LatestVotes,
    SupplyCheckpoint,
    VotesCheckpoint,
)
from govapp.errors import ConflictError, DomainError

STATE = IndexerState._meta.db_table
BALANCES = BalanceCheckpoint._meta.db_table
DELEGATES = DelegateCheckpoint._meta.db_table
VOTES = VotesCheckpoint._meta.db_table
SUPPLY = SupplyCheckpoint._meta.db_table
LATEST = LatestVotes._meta.db_table


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_ADDRESSES = re.compile(r"(?:0x[0-9a-fA-F]{40},)+")  # many at once: one regex pass over "a,b,c,"


class InvalidAddress(DomainError):
    code = "invalid_address"


class InvalidBlock(DomainError):
    code = "invalid_block"


class BlockNotIndexed(ConflictError):
    code = "block_not_indexed"


# --- normalisation at the boundary ---------------------------------------------------------------------


def normalize_address(value: Any, *, strict: bool = False) -> str:
    """Lower-case 0x address (the index's form); InvalidAddress for anything else.

    strict (the API, i.e. addresses people type): a mixed-case address must also be a valid EIP-55
    checksum. The selectors skip that keccak per address (they are called with addresses the portal
    already holds, thousands at a time).
    """
    if not isinstance(value, str) or not _ADDRESS.fullmatch(value):
        raise InvalidAddress(f"{str(value)[:80]!r} is not an address (0x + 40 hex digits).")
    if strict:
        digits = value[2:]
        if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
            raise InvalidAddress(f"{value} has an invalid EIP-55 checksum (mixed case); check for a typo.")
    return value.lower()


def checksum(address: str | None) -> str | None:
    return None if address is None else to_checksum_address(address)


def normalize_block(value: Any) -> int | None:
    """None (the indexed head) or a block number >= 0; InvalidBlock otherwise."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise InvalidBlock(f"{value!r} is not a block number.")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise InvalidBlock(f"{str(value)[:40]!r} is not a block number.") from None
    if number < 0 or (isinstance(value, float) and number != value):
        raise InvalidBlock(f"{value!r} is not a block number (an integer >= 0).")
    return number


def _checked(row: Any, block: int | None) -> None:
    """Refuse a block past the indexed head (row = (head_block, start_block, ...) or None)."""
    if row is None or row[0] is None:
        raise BlockNotIndexed("The chain index has not indexed any block yet.", details={"indexed_head": None})
    head, start = int(row[0]), int(row[1])
    if block is None and head < start:
        raise BlockNotIndexed("The chain index has not indexed any block yet.", details={"indexed_head": None})
    if block is not None and block > head:
        raise BlockNotIndexed(f"Block {block} is not indexed yet (the index has reached block {head}).",
                              details={"indexed_head": head})


def _bound(block: int | None) -> tuple[str, list[Any]]:
    """SQL for "at block": the given block, or the state's head (correlated to the state row `s`)."""
    return ("%s", [block]) if block is not None else ("s.head_block", [])


def _cursor() -> Any:
    """On PostgreSQL a plain psycopg cursor on Django's connection (same transaction): server-side
    parameter binding, so an array of 10,000 addresses travels as one bound value instead of a 0.4 MB SQL
    literal (Django's client-side binding: 2x slower), and repeated selectors are prepared statements.
    These reads therefore do not show in Django's debug query log."""
    if connection.vendor == "postgresql":
        connection.ensure_connection()
        return psycopg.Cursor(connection.connection)
    return connection.cursor()


def _fetchone(sql: str, params: list[Any], *, replan: bool = False) -> Any:
    """One row. replan: never a prepared (generic) plan — plan with the actual values every time."""
    with _cursor() as cursor:
        if replan and connection.vendor == "postgresql":
            cursor.execute(sql, params, prepare=False)
        else:
            cursor.execute(sql, params)
        return cursor.fetchone()


def _fetchall(sql: str, params: list[Any], *, prepare: bool | None = None) -> list[Any]:
    """All rows. prepare=True: a prepared statement on this connection (hot, fixed-shape reads)."""
    with _cursor() as cursor:
        if prepare is not None and connection.vendor == "postgresql":
            cursor.execute(sql, params, prepare=prepare)
        else:
            cursor.execute(sql, params)
        return cursor.fetchall()


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


def _latest_sql(table: str, column: str, account_sql: str, bound_sql: str) -> str:
    # table/column/SQL fragments are this module's constants; values always go in as parameters
    return (f"(SELECT cp.{column} FROM {table} cp WHERE cp.account = {account_sql} AND cp.block <= {bound_sql} "  # noqa: S608
            f"ORDER BY cp.block DESC LIMIT 1)")


def _scalar_at(table: str, column: str, address: str, block: Any) -> tuple[Any, int | None]:
    account = normalize_address(address)
    number = normalize_block(block)
    bound, bound_params = _bound(number)
    sql = (f"SELECT s.head_block, s.start_block, {_latest_sql(table, column, '%s', bound)} "  # noqa: S608
           f"FROM {STATE} s WHERE s.name = %s")
    row = _fetchone(sql, [account, *bound_params, DEFAULT_STATE])
    _checked(row, number)
    return row[2], number


# --- the selectors --------------------------------------------------------------------------------------


def indexed_head() -> int | None:
    """The last fully indexed block (None before the first range)."""
    row = IndexerState.objects.filter(name=DEFAULT_STATE).values_list("head_block", "start_block").first()
    if row is None or row[0] < row[1]:
        return None
    return int(row[0])


def voting_power(address: str, block: int | None = None) -> int:
    """Delegated votes of `address` at the end of `block` == GovernanceToken.getPastVotes(address, block)."""
    value, _ = _scalar_at(VOTES, "votes", address, block)
    return _int(value)


def balance(address: str, block: int | None = None) -> int:
    """Token balance of `address` at the end of `block` == balanceOf(address) at that block."""
    value, _ = _scalar_at(BALANCES, "balance", address, block)
    return _int(value)


def delegate_of(address: str, block: int | None = None) -> str | None:
    """Delegate of `address` at the end of `block` (checksummed), None if it has none (or chose the zero
    address) == delegates(address) at that block, with address(0) as None."""
    value, _ = _scalar_at(DELEGATES, "delegate", address, block)
    return checksum(value)


def total_voting_power(block: int | None = None) -> int:
    """Total supply at the end of `block` == getPastTotalSupply(block) (the ERC20Votes total of votes
    that could be delegated — the quorum denominator)."""
    number = normalize_block(block)
    bound, bound_params = _bound(number)
    sql = (f"SELECT s.head_block, s.start_block, (SELECT cp.total_supply FROM {SUPPLY} cp "  # noqa: S608
           f"WHERE cp.block <= {bound} ORDER BY cp.block DESC LIMIT 1) FROM {STATE} s WHERE s.name = %s")
    row = _fetchone(sql, [*bound_params, DEFAULT_STATE])
    _checked(row, number)
    return _int(row[2])


def _latest_votes_sql(account_sql: str, bound_sql: str) -> str:
    """Votes of `account_sql` at `bound_sql` from its LatestVotes row `l` (LEFT JOINed; NULL when the account
    has no checkpoint), and from the history only for an account that changed twice or more after it."""
    return (f"CASE WHEN l.block <= {bound_sql} THEN l.votes WHEN l.prev_block IS NULL THEN 0 "
            f"WHEN l.prev_block <= {bound_sql} THEN l.prev_votes "
            f"ELSE {_latest_sql(VOTES, 'votes', account_sql, bound_sql)} END")


@functools.lru_cache(maxsize=8)
def _positions(count: int) -> str:
    """"1,2,...,count": what the positions column of voting_power_many says when rows came back in order."""
    return ",".join(map(str, range(1, count + 1)))


def _joined_lowercase(addresses: list[str]) -> str:
    """The addresses as one lowercase comma-separated text (checked in one regex pass; a bad one is named)."""
    try:
        joined = ",".join(addresses)
    except TypeError:
        joined = ""
    if not _ADDRESSES.fullmatch(joined + ","):
        for address in addresses:  # name the culprit
            normalize_address(address)
    return joined.lower()


def voting_power_many(addresses: Iterable[str], block: int | None = None) -> dict[str, int]:
    """{address: votes at `block`} for many addresses in one query (keys as given).

    PostgreSQL: a hash join of the addresses with LatestVotes (each account's last two votes checkpoints,
    kept by the indexer): one row answers for any block at or after the account's second-to-last change;
    only an account that changed twice or more after `block` costs one seek in the (account, block DESC)
    history index. The addresses travel as ONE comma-separated text value (psycopg's per-element array
    quoting costs more than the query) and the figures come back as one, with their positions: in input
    order as the join gives them (no sort), checked here against "1,2,...,n" and put in order if a plan
    ever returned them otherwise.
    """
    given = list(addresses)
    number = normalize_block(block)
    if not given:
        return {}
    accounts = _joined_lowercase(given)
    if connection.vendor == "postgresql":
        if number is None:  # at the head every account's latest checkpoint is its figure: the index never
            votes, at_params = "l.votes", []  # holds one past head_block (written and rolled back with it)
        else:  # the block as a value the planner can see
            votes, at_params = _latest_votes_sql("a.account", "%s"), [number] * 3
        sql = (f"SELECT s.head_block, s.start_block, x.n, x.v FROM {STATE} s CROSS JOIN "  # noqa: S608
               f"(SELECT string_agg(a.n::text, ',') AS n, string_agg(COALESCE({votes}, 0)::text, ',') AS v "
               f"FROM unnest(string_to_array(%s, ',')) WITH ORDINALITY AS a(account, n) "
               f"LEFT JOIN {LATEST} l ON l.account = a.account) x WHERE s.name = %s")
        # placeholders in text order: the block three times (CASE x2, the history seek), addresses, state
        row = _fetchone(sql, [*at_params, accounts, DEFAULT_STATE], replan=True)
        _checked(row, number)
        values = row[3].split(",")
        if row[2] != _positions(len(given)):  # not in input order: put them in order
            ordered = [""] * len(given)
            for position, value in zip(map(int, row[2].split(",")), values, strict=True):
                ordered[position - 1] = value
            values = ordered
        return dict(zip(given, map(int, values), strict=True))
    lowered = accounts.split(",")
    bound, bound_params = _bound(number)
    sql = (f"SELECT s.head_block, s.start_block, a.value, {_latest_sql(VOTES, 'votes', 'a.value', bound)} "  # noqa: S608
           f"FROM {STATE} s CROSS JOIN json_each(%s) AS a WHERE s.name = %s")
    rows = _fetchall(sql, [*bound_params, json.dumps(sorted(set(lowered))), DEFAULT_STATE])
    _checked(rows[0] if rows else None, number)
    votes = {row[2]: _int(row[3]) for row in rows}
    return {a: votes.get(lower, 0) for a, lower in zip(given, lowered, strict=True)}


class AccountState(NamedTuple):
    """An account at a block, as the token would answer: getPastVotes, delegates (None: none or address(0)),
    balanceOf."""

    votes: int
    delegate: str | None
    balance: int


_ZERO_ADDRESS = "0x" + "0" * 40


def account_states_at(addresses: Iterable[str], block: int | None = None) -> dict[str, AccountState]:
    """{address: AccountState(votes, delegate, balance)} of many addresses at the end of `block`, in ONE query
    (keys as given; the same figures as voting_power, delegate_of and balance one by one — delegate_of's
    address(0) is None here). Three index seeks per distinct address, on the (account, block DESC) indexes."""
    given = list(addresses)
    number = normalize_block(block)
    if not given:
        return {}
    lowered = _joined_lowercase(given).split(",")
    distinct = ",".join(dict.fromkeys(lowered))
    bound, bound_params = _bound(number)
    if connection.vendor == "postgresql":
        listed = "(SELECT x.account FROM unnest(string_to_array(%s, ',')) AS x(account))"
    else:
        listed, distinct = "(SELECT value AS account FROM json_each(%s))", json.dumps(distinct.split(","))
    sql = (f"SELECT s.head_block, s.start_block, a.account, {_latest_sql(VOTES, 'votes', 'a.account', bound)}, "  # noqa: S608
           f"{_latest_sql(DELEGATES, 'delegate', 'a.account', bound)}, "
           f"{_latest_sql(BALANCES, 'balance', 'a.account', bound)} "
           f"FROM {STATE} s CROSS JOIN {listed} a WHERE s.name = %s")
    params = [*bound_params * 3, distinct, DEFAULT_STATE]  # in the order of the placeholders in the text
    rows = _fetchall(sql, params, prepare=True)  # the voting hot path: one read per vote (or batch)
    if not rows:  # no state row: refuse as the single selectors do
        _checked(_fetchone(f"SELECT head_block, start_block FROM {STATE} WHERE name = %s", [DEFAULT_STATE]),  # noqa: S608
                 number)
    _checked(rows[0], number)
    states: dict[str, AccountState] = {}
    for _head, _start, account, votes, delegate, amount in rows:
        states[account] = AccountState(
            _int(votes), None if delegate is None or delegate == _ZERO_ADDRESS else eip712.to_checksum(delegate),
            _int(amount))
    return {address: states[lower] for address, lower in zip(given, lowered, strict=True)}


def delegators_of(delegate: str, block: int | None = None) -> list[tuple[str, int]]:
    """[(delegator, balance)] of the accounts whose delegate is `delegate` at the end of `block`, largest
    balance first (then by address). One query: the accounts that ever chose `delegate` by then (index on
    (delegate, block)), kept if their latest choice at `block` is still `delegate`, with their balance."""
    account = normalize_address(delegate)
    number = normalize_block(block)
    bound_expr, bound_params = ("%s", [number]) if number is not None else ("head_block", [])
    sql = (
        f"WITH s AS (SELECT head_block, start_block, {bound_expr} AS b FROM {STATE} WHERE name = %s) "  # noqa: S608
        f"SELECT s.head_block, s.start_block, c.account, {_latest_sql(BALANCES, 'balance', 'c.account', 's.b')} "
        f"FROM s LEFT JOIN (SELECT DISTINCT d.account FROM {DELEGATES} d WHERE d.delegate = %s "
        f"AND d.block <= (SELECT b FROM s)) c "
        f"ON {_latest_sql(DELEGATES, 'delegate', 'c.account', 's.b')} = %s"
    )
    rows = _fetchall(sql, [*bound_params, DEFAULT_STATE, account, account])
    _checked(rows[0] if rows else None, number)
    found = [(row[2], _int(row[3])) for row in rows if row[2] is not None]
    found.sort(key=lambda item: (-item[1], item[0]))
    return [(checksum(a), amount) for a, amount in found]


def voting_power_history(address: str) -> list[tuple[int, int]]:
    """[(block, votes)] of every votes checkpoint of `address`, oldest first (for charts)."""
    account = normalize_address(address)
    rows = _fetchall(f"SELECT block, votes FROM {VOTES} WHERE account = %s ORDER BY block", [account])  # noqa: S608
    return [(int(b), _int(v)) for b, v in rows]


# --- account history (API) ---------------------------------------------------------------------------------

_HISTORY = (
    f"SELECT block, 'balance' AS kind, CAST(balance AS TEXT) AS value FROM {BALANCES} WHERE account = %s "  # noqa: S608
    f"UNION ALL SELECT block, 'delegate', delegate FROM {DELEGATES} WHERE account = %s "
    f"UNION ALL SELECT block, 'votes', CAST(votes AS TEXT) FROM {VOTES} WHERE account = %s"
)
_KIND_ORDER = {"balance": 0, "delegate": 1, "votes": 2}


def account_history_count(address: str) -> int:
    account = normalize_address(address)
    row = _fetchone(f"SELECT COUNT(*) FROM ({_HISTORY}) h", [account] * 3)  # noqa: S608
    return int(row[0])


def account_history(address: str, *, limit: int = 50, offset: int = 0) -> list[dict[str, Any]]:
    """Balance, delegate and votes checkpoints of `address`, newest block first:
    [{"block", "kind": "balance"|"delegate"|"votes", "value"}] (amounts as decimal strings, the delegate
    checksummed or None)."""
    account = normalize_address(address)
    rows = _fetchall(f"SELECT block, kind, value FROM ({_HISTORY}) h ORDER BY block DESC, kind "  # noqa: S608
                     f"LIMIT %s OFFSET %s", [account, account, account, int(limit), int(offset)])
    out = []
    for block, kind, value in rows:
        if kind == "delegate":
            value = checksum(value)
        elif value is not None:
            value = str(int(value.split(".")[0]))  # NUMERIC text, never fractional
        out.append({"block": int(block), "kind": kind, "value": value})
    return out


def contract_events(contract: str | None = None, event: str | None = None) -> QuerySet[ContractEvent]:
    """Decoded events of the watched contracts, in chain order (filter by artifact and event name)."""
    queryset = ContractEvent.objects.all()
    if contract:
        queryset = queryset.filter(contract=contract)
    if event:
        queryset = queryset.filter(event=event)
    return queryset.order_by("block_number", "log_index")


# --- status ------------------------------------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def indexer_status() -> dict[str, Any]:
    """The indexer's head, lag and health — one database query, no RPC.

    {"ok", "state": "not_started"|"following"|"stalled", "head_block", "chain_block" (chain head when
    last seen), "lag" (blocks), "last_advanced_at", "checked_at", "stalled", "last_error", "last_error_at",
    "failures", "retry_at", "reorgs", "confirmations"}. Stalled: the last run failed, or nobody has
    polled the node for CHAIN_INDEXER_STALL_SECONDS (default 120 s) — a dead worker or a hung run.
    Before the indexer's first run there is nothing to be stale about: ok, state "not_started".
    """
    row = IndexerState.objects.filter(name=DEFAULT_STATE).values(
        "head_block", "start_block", "chain_block", "checked_at", "last_advanced_at", "last_error",
        "last_error_at", "failures", "retry_at", "reorgs").first()
    confirmations = int(getattr(settings, "CHAIN_CONFIRMATIONS", 0))
    if row is None:
        return {"ok": True, "state": "not_started", "head_block": None, "chain_block": None, "lag": None,
                "last_advanced_at": None, "checked_at": None, "stalled": False, "last_error": "",
                "last_error_at": None, "failures": 0, "retry_at": None, "reorgs": 0,
                "confirmations": confirmations}
    head = row["head_block"] if row["head_block"] >= row["start_block"] else None
    chain_block = row["chain_block"]
    lag = max(0, chain_block - row["head_block"]) if chain_block is not None else None
    stall_after = float(getattr(settings, "CHAIN_INDEXER_STALL_SECONDS", 120))
    checked_at = row["checked_at"]
    stale = checked_at is not None and (timezone.now() - checked_at).total_seconds() > stall_after
    stalled = row["failures"] > 0 or stale
    return {
        "ok": not stalled,
        "state": "stalled" if stalled else "following",
        "head_block": head,
        "chain_block": chain_block,
        "lag": lag,
        "last_advanced_at": _iso(row["last_advanced_at"]),
        "checked_at": _iso(checked_at),
        "stalled": stalled,
        "last_error": row["last_error"],
        "last_error_at": _iso(row["last_error_at"]),
        "failures": row["failures"],
        "retry_at": _iso(row["retry_at"]),
        "reorgs": row["reorgs"],
        "confirmations": confirmations,
    }
