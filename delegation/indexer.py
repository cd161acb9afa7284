"""The chain indexer as delegation sees it: thin wrappers over chain.selectors, in one place.

Addresses in and out are checksummed; amounts are ints (base units); "no delegate" is None (the
token reports the zero address). A missing index (nothing indexed yet) reads as block None, power 0.
"""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import to_checksum_address

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class DelegationChange:
    block: int
    from_delegate: str | None
    to_delegate: str | None


def _s():
    from chain import selectors

    return selectors


def head_block() -> int | None:
    """The last fully indexed block (None before the indexer's first range)."""
    return _s().indexed_head()


def head_and_total() -> tuple[int | None, int]:
    """(indexed head, total voting power at it) in one query (the directory shows both)."""
    from django.db import connection

    from chain.models import DEFAULT_STATE, IndexerState, SupplyCheckpoint

    sql = (f"SELECT s.head_block, s.start_block, (SELECT c.total_supply FROM {SupplyCheckpoint._meta.db_table} c "  # noqa: S608
           f"WHERE c.block <= s.head_block ORDER BY c.block DESC LIMIT 1) "
           f"FROM {IndexerState._meta.db_table} s WHERE s.name = %s")
    with connection.cursor() as cursor:
        cursor.execute(sql, [DEFAULT_STATE])
        row = cursor.fetchone()
    if row is None or row[0] is None or row[0] < row[1]:
        return None, 0
    return int(row[0]), int(row[2] or 0)


def voting_power(address: str, block: int | None) -> int:
    return 0 if block is None else int(_s().voting_power(address, block) or 0)


def voting_power_at_blocks(address: str, blocks: list[int], head: int | None) -> dict[int, int]:
    """{block: votes of `address` at the end of block} for many blocks in ONE query (each one seek in the
    votes checkpoints' (account, block DESC) index, as voting_power). `head`: the indexed head; a block past
    it (or no index) goes through voting_power one by one, which refuses it as before."""
    wanted = sorted(set(blocks))
    if not wanted:
        return {}
    from django.db import connection

    if head is None or wanted[-1] > head or connection.vendor != "postgresql":
        return {block: voting_power(address, block) for block in wanted}
    from chain.models import VotesCheckpoint

    sql = (f"SELECT b.block, (SELECT cp.votes FROM {VotesCheckpoint._meta.db_table} cp "  # noqa: S608
           "WHERE cp.account = %s AND cp.block <= b.block ORDER BY cp.block DESC LIMIT 1) "
           "FROM unnest(%s::bigint[]) AS b(block)")
    with connection.cursor() as cursor:
        cursor.execute(sql, [address.lower(), wanted])
        return {int(block): int(votes or 0) for block, votes in cursor.fetchall()}


def balance(address: str, block: int | None) -> int:
    return 0 if block is None else int(_s().balance(address, block) or 0)


def delegate_of(address: str, block: int | None) -> str | None:
    if block is None:
        return None
    delegate = _s().delegate_of(address, block)
    if not delegate or delegate.lower() == ZERO_ADDRESS:
        return None
    return to_checksum_address(delegate)


def delegators(address: str, block: int | None) -> list[tuple[str, int]]:
    """Every delegator with its balance (chain.selectors.delegators_of), largest first."""
    if block is None:
        return []
    return [(a, int(b)) for a, b in _s().delegators_of(address, block)]


_DELEGATORS_PAGE = """
    WITH candidates AS (
        SELECT DISTINCT d.account FROM {delegates} d WHERE d.delegate = %(delegate)s AND d.block <= %(block)s
    ), current AS (
        SELECT c.account,
               (SELECT x.delegate FROM {delegates} x WHERE x.account = c.account AND x.block <= %(block)s
                ORDER BY x.block DESC LIMIT 1) AS delegate,
               (SELECT y.balance FROM {balances} y WHERE y.account = c.account AND y.block <= %(block)s
                ORDER BY y.block DESC LIMIT 1) AS balance
        FROM candidates c
    )
    """
_PAGE = """SELECT account, COALESCE(balance, 0) AS amount, COUNT(*) OVER () FROM current
    WHERE delegate = %(delegate)s ORDER BY amount DESC, account LIMIT %(limit)s OFFSET %(offset)s"""
_COUNT = "SELECT COUNT(*) FROM current WHERE delegate = %(delegate)s"


def delegators_page(address: str, block: int | None, *, limit: int,
                    offset: int = 0) -> tuple[list[tuple[str, int]], int]:
    """(one page of delegators, largest balance first; how many there are) in one query.

    Same rows as chain.selectors.delegators_of (read from the same checkpoint tables) but ordered, counted
    and paged in SQL, so only the page is checksummed in Python: a delegate with thousands of delegators
    costs one page, not thousands of addresses.
    """
    if block is None:
        return [], 0
    from django.db import connection

    from chain.models import BalanceCheckpoint, DelegateCheckpoint

    if connection.vendor != "postgresql":  # SQLite keeps amounts as text: page the selector's list instead
        rows = delegators(address, block)
        return rows[offset: offset + limit], len(rows)
    ctes = _DELEGATORS_PAGE.format(delegates=DelegateCheckpoint._meta.db_table,
                                   balances=BalanceCheckpoint._meta.db_table)
    params = {"delegate": address.lower(), "block": block, "limit": limit, "offset": offset}
    with connection.cursor() as cursor:
        cursor.execute(ctes + _PAGE, params)
        rows = cursor.fetchall()
        if rows:
            total = int(rows[0][2])
        else:  # past the end (or none): count them
            cursor.execute(ctes + _COUNT, params)
            total = int(cursor.fetchone()[0])
    return [(to_checksum_address(a), int(b)) for a, b, _ in rows], total


def total_voting_power(block: int | None) -> int:
    return 0 if block is None else int(_s().total_voting_power(block) or 0)


def voting_power_many(addresses: list[str], block: int | None) -> dict[str, int]:
    if block is None:
        return dict.fromkeys(addresses, 0)
    return {to_checksum_address(a): int(v) for a, v in dict(_s().voting_power_many(addresses, block)).items()}


def voting_power_history(address: str) -> list[tuple[int, int]]:
    return [(int(b), int(v)) for b, v in _s().voting_power_history(address)]


def delegation_history(address: str, limit: int = 100) -> list[DelegationChange]:
    """The holder's delegate changes (from the indexer's DelegateCheckpoint rows), newest first."""
    from chain.models import DelegateCheckpoint

    rows = list(DelegateCheckpoint.objects.filter(account=address.lower()).order_by("-block")
                .values_list("block", "delegate")[: limit + 1])
    changes = []
    for i, (block, delegate) in enumerate(rows[:limit]):
        previous = rows[i + 1][1] if i + 1 < len(rows) else None
        changes.append(DelegationChange(block=block, from_delegate=_checksum_or_none(previous),
                                        to_delegate=_checksum_or_none(delegate)))
    return changes


def _checksum_or_none(address: str | None) -> str | None:
    if not address or address.lower() == ZERO_ADDRESS:
        return None
    return to_checksum_address(address)
