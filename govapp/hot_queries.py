"""The portal's hot queries, a realistic data set to plan them on, and their EXPLAIN (ANALYZE, BUFFERS).

Used by `manage.py explain_hot_queries` (the plans in docs/scaling.md) and by the test that checks the hottest
lookups use their index (tests/govapp/test_hot_query_plans.py). PostgreSQL only.

`populate(scale)` bulk-inserts synthetic rows shaped like the real ones (checkpoints per account at increasing
blocks, delegations to a few hundred delegates, votes concentrated on a few proposals, proposals and archive
entries with searchable text) with SQL generate_series, then ANALYZEs the tables, so the planner decides with
honest statistics. It writes with triggers off (session_replication_role = replica: the archive's append-only
trigger would refuse rows that are not hash-chained) — only ever on a scratch or test database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection

#: Tables the data set fills (and ANALYZEs).
TABLES = ("chain_votescheckpoint", "chain_balancecheckpoint", "chain_delegatecheckpoint", "chain_supplycheckpoint",
          "proposals_proposal", "voting_vote", "delegation_delegate", "archive_archiveentry")
CHECKPOINTS_PER_ACCOUNT = 4
WORDS = ("fee", "gas", "sequencer", "upgrade", "treasury", "grant", "blob", "prover", "bridge", "council", "security",
         "staking", "validator", "parameter", "process", "audit", "ecosystem", "data", "availability", "cairo")


def _address_sql(expr: str) -> str:
    """A deterministic 0x-address (42 chars) for an integer SQL expression."""
    return f"'0x' || lpad(to_hex(({expr})::bigint), 40, '0')"


def address(n: int) -> str:
    return "0x" + format(n, "x").rjust(40, "0")


def delegate_count(scale: int) -> int:
    return max(10, scale // 100)


def populate(scale: int) -> dict[str, int]:
    """`scale` accounts: ~4·scale rows in each checkpoint table, scale/20 proposals, 2·scale votes, scale/10
    directory rows, 2·scale archive entries. Returns the row counts."""
    words = "ARRAY[" + ",".join(f"'{w}'" for w in WORDS) + "]"
    delegates = delegate_count(scale)
    proposals = max(20, scale // 20)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # scratch/test data: no triggers
        cursor.execute("SELECT id FROM accounts_user ORDER BY id LIMIT 1")
        row = cursor.fetchone()
        if row is None:
            cursor.execute("INSERT INTO accounts_user (password, is_superuser, address, display_name, is_staff, "
                           "is_active, date_joined) VALUES ('', false, %s, '', false, true, now()) RETURNING id",
                           [address(0xA0)])
            row = cursor.fetchone()
        author = row[0]
        # Checkpoints: account a changes at blocks a + k·100,000 (k = 0..3).
        for table, column, value in (
            ("chain_votescheckpoint", "votes", "(a * 7 + k) * 1000000000000000000::numeric"),
            ("chain_balancecheckpoint", "balance", "(a * 3 + k) * 1000000000000000000::numeric"),
            ("chain_delegatecheckpoint", "delegate", _address_sql(f"1000000 + (a + k) %% {delegates}")),
        ):
            cursor.execute(
                f"INSERT INTO {table} (account, block, {column}) "  # noqa: S608 - constants of this module
                f"SELECT {_address_sql('a')}, a + k * 100000, {value} "
                f"FROM generate_series(1, %s) a CROSS JOIN generate_series(0, {CHECKPOINTS_PER_ACCOUNT - 1}) k",
                [scale])
        cursor.execute("INSERT INTO chain_supplycheckpoint (block, total_supply) "
                       "SELECT b * 10, b * 1000000000000000000::numeric FROM generate_series(1, %s) b", [scale])
        # Proposals with searchable titles and bodies (the app's search vector: title A, body B).
        cursor.execute(
            "INSERT INTO proposals_proposal (number, title, kind, status, body, payload, discussion_url, "  # noqa: S608
            "revision_number, revision_hash, created_at, updated_at, endorsement_round, endorsement_total_power, "
            "review_round, snapshot_block, author_id, search_vector) "
            f"SELECT 100000 + p, 'SNIP ' || p || ': ' || w1 || ' ' || w2 || ' (ticket' || p || ')', "
            "(ARRAY['process','informational','parameter_change','treasury_grant','os_upgrade'])[1 + p %% 5], "
            "(ARRAY['draft','discussion','voting','passed','rejected'])[1 + p %% 5], "
            "'Why ' || w2 || ' and ' || w3 || ' matter for the network, proposal ' || p, '{}', '', 1, "
            "'0x' || md5(p::text), now() - p * interval '1 hour', now(), 0, '', 0, 200000 + p, %s, "
            "setweight(to_tsvector('english', 'SNIP ' || p || ' ' || w1 || ' ' || w2 || ' ticket' || p), 'A') || "
            "setweight(to_tsvector('english', w2 || ' ' || w3), 'B') "
            f"FROM (SELECT p, ({words})[1 + p %% 20] w1, ({words})[1 + (p / 20) %% 20] w2, "
            f"({words})[1 + (p / 400) %% 20] w3 FROM generate_series(1, %s) p) x",
            [author, proposals])
        # Votes: half on one hot proposal, the rest over twenty others; one current vote per voter.
        cursor.execute(
            "INSERT INTO voting_vote (id, proposal_id, voter, support, reason, signed_timestamp, snapshot_block, "  # noqa: S608
            "votes_power, override_balance, power, delegate, overridden, format, typed_data, signature, "
            "contract_wallet, is_current, replaced_by, replaces, created_at) "
            f"SELECT '0x' || lpad(to_hex(v), 64, '0'), pr.id, {_address_sql('v')}, v %% 3, '', 1700000000 + v, "
            "pr.snapshot_block, 1000000000000000000, 0, 1000000000000000000, '', 0, 'portal', '{}', '0x', false, "
            "true, '', '', now() - v * interval '1 second' "
            "FROM generate_series(1, %s) v JOIN proposals_proposal pr "
            "ON pr.number = 100001 + CASE WHEN v %% 2 = 0 THEN 0 ELSE 1 + v %% 20 END",
            [scale * 2])
        # The delegate directory.
        cursor.execute(
            "INSERT INTO delegation_delegate (address, display_name, name_key, search_text, interests, "  # noqa: S608
            "voting_power, delegator_count, votes_cast, power_block, updated_at) "
            f"SELECT {_address_sql('1000000 + d')}, initcap(({words})[1 + d %% 20]) || ' Guild ' || d, "
            f"'0' || ({words})[1 + d %% 20] || ' guild ' || d, "
            f"({words})[1 + d %% 20] || ' guild ' || d || ' ' || {_address_sql('1000000 + d')}, "
            f"jsonb_build_array(({words})[1 + d %% 20]), (d * 7919 %% 100003) * 1000000000000000000::numeric, "
            "d %% 500, d %% 30, 1, now() FROM generate_series(1, %s) d",
            [max(delegates, scale // 10)])
        # Archive entries (votes, mostly) with searchable payloads.
        cursor.execute(
            "INSERT INTO archive_archiveentry (sequence, kind, created_at, proposal_ref, address, payload, signed, "  # noqa: S608
            "prev_hash, hash) "
            "SELECT s, (ARRAY['vote.cast','vote.cast','vote.cast','endorsement','proposal.status_changed'])"
            f"[1 + s %% 5], now() - s * interval '1 second', (100001 + s %% 50)::text, {_address_sql('s')}, "
            f"jsonb_build_object('reason', 'I vote on ' || ({words})[1 + s %% 20] || ' and ' || "
            f"({words})[1 + (s / 20) %% 20] || ', see ticket' || (s %% 5000), 'weight', s), NULL, "
            "md5((s - 1)::text), md5(s::text) "
            "FROM generate_series(1, %s) s",
            [scale * 2])
        cursor.execute("SET LOCAL session_replication_role = origin")
        for table in TABLES:
            cursor.execute(f"ANALYZE {table}")
        counts = {}
        for table in TABLES:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608
            counts[table] = cursor.fetchone()[0]
    return counts


@dataclass(frozen=True)
class HotQuery:
    name: str
    indexes: tuple[str, ...]  # its plan must use one of these
    sql: Callable[[int], tuple[str, list[Any]]]  # scale -> (SQL, parameters)
    note: str = ""
    #: The test asserts the index (False: the planner rightly prefers a scan of a small table, see the note).
    asserted: bool = True


def _latest(table: str, column: str) -> str:
    """chain.selectors' "latest checkpoint at or before a block" lookup (the same SQL)."""
    from chain import selectors

    return selectors._latest_sql(table, column, "%s", "%s")


def _orm(queryset_builder: Callable[[int], Any]) -> Callable[[int], tuple[str, list[Any]]]:
    def build(scale: int) -> tuple[str, list[Any]]:
        sql, params = queryset_builder(scale).query.sql_with_params()
        return sql, list(params)

    return build


def _proposal(number: int) -> Any:
    from proposals.models import Proposal

    return Proposal.objects.get(number=number)


def _votes_page(scale: int) -> Any:
    from voting import selectors

    return selectors.votes_of(_proposal(100001))[:50]  # the hot proposal: half of all votes


def _votes_page_small(scale: int) -> Any:
    from voting import selectors

    return selectors.votes_of(_proposal(100003))[:50]


def _current_vote(scale: int) -> Any:
    from voting import selectors

    return selectors.current_votes_on(_proposal(100001).pk).filter(voter=address(2 * (scale // 3)))


def _overriding_votes(scale: int) -> Any:
    from voting import selectors

    return selectors.overriding_votes(_proposal(100001).pk, address(2 * (scale // 3))).values_list("override_balance")


def _proposal_search(scale: int) -> Any:
    from proposals import selectors
    from proposals.models import Proposal

    return selectors.search(Proposal.objects.all(), "ticket4242").order_by("-rank")[:20]


def _proposal_search_common(scale: int) -> Any:
    from proposals import selectors
    from proposals.models import Proposal

    return selectors.search(Proposal.objects.all(), "sequencer prover").order_by("-rank")[:20]


def _proposal_list(scale: int) -> Any:
    from proposals import selectors

    return selectors.proposal_queryset().order_by("-created_at")[:20]


def _directory(scale: int) -> Any:
    from delegation import selectors

    return selectors.directory_queryset()[:50]


def _directory_search(scale: int) -> Any:
    from delegation import selectors

    return selectors.directory_queryset(search="guild 4242")[:50]


def _archive_search(scale: int) -> Any:
    from archive import selectors
    from archive.models import ArchiveEntry

    return selectors.search(ArchiveEntry.objects.all(), "ticket4242").order_by("-sequence")[:50]


def _archive_search_common(scale: int) -> Any:
    from archive import selectors
    from archive.models import ArchiveEntry

    return selectors.search(ArchiveEntry.objects.all(), "prover bridge").order_by("-sequence")[:50]


def _archive_trail(scale: int) -> Any:
    from archive.models import ArchiveEntry

    return ArchiveEntry.objects.filter(proposal_ref="100007").order_by("sequence")[:50]


def _tally(scale: int) -> tuple[str, list[Any]]:
    return ("SELECT support, sum(power), count(*) FROM voting_vote WHERE proposal_id = %s AND is_current "
            "GROUP BY support", [_proposal(100003).pk])


HOT_QUERIES: tuple[HotQuery, ...] = (
    HotQuery("voting power at a block", ("chain_votes_account_block",),
             lambda scale: (f"SELECT {_latest('chain_votescheckpoint', 'votes')}", [address(scale // 2), 250000]),
             "chain.selectors.voting_power: the latest votes checkpoint of the account at or before the block"),
    HotQuery("balance at a block", ("chain_balance_account_block",),
             lambda scale: (f"SELECT {_latest('chain_balancecheckpoint', 'balance')}", [address(scale // 3), 150000]),
             "chain.selectors: override balances of delegators who vote themselves"),
    HotQuery("delegators of a delegate at a block", ("chain_delegate_delegate",),
             lambda scale: ("SELECT DISTINCT d.account FROM chain_delegatecheckpoint d WHERE d.delegate = %s "
                            "AND d.block <= %s", [address(1000000 + 7), 350000]),
             "chain.selectors.delegators_page (then each account's latest delegate and balance by the lookups above)"),
    HotQuery("total supply at a block", ("chain_supply_block",),
             lambda scale: ("SELECT cp.total_supply FROM chain_supplycheckpoint cp WHERE cp.block <= %s "
                            "ORDER BY cp.block DESC LIMIT 1", [scale * 5]),
             "quorum and endorsement thresholds"),
    HotQuery("votes of the hot proposal, newest first", ("voting_vote_list",), _orm(_votes_page),
             "voting.selectors.votes_of (the votes list and CSV), on the proposal holding half of all votes"),
    HotQuery("votes of a proposal, newest first", ("voting_vote_list",), _orm(_votes_page_small),
             "voting.selectors.votes_of, on a proposal with 5 % of the votes"),
    HotQuery("the voter's current vote (vote insert)", ("voting_one_current_vote", "voting_vote_voter"),
             _orm(_current_vote),
             "voting.services: read before storing a vote (a re-vote replaces it); voting_one_current_vote, the "
             "partial unique index, also guards the insert"),
    HotQuery("the delegators' overriding votes of an address", ("voting_vote_overrides",), _orm(_overriding_votes),
             "voting.selectors.power_info (GET /api/votes/proposals/<n>/power, the vote panel): what the address's "
             "delegators who voted themselves took off its vote; the partial index holds only such votes"),
    HotQuery("tally of a proposal", ("voting_vote_list",), _tally,
             "voting.services.recompute_totals: Σ power per support over the current votes (reads them all)"),
    HotQuery("proposal list, newest first", ("proposal_created",), _orm(_proposal_list),
             "proposals.selectors.proposal_queryset (home page, /proposals/, /api/proposals/)"),
    HotQuery("proposal full-text search, a rare term", ("proposal_search_gin",), _orm(_proposal_search),
             "proposals.selectors.search: websearch_to_tsquery over title (A) and body (B). Up to tens of thousands "
             "of proposals a sequential scan of the table (3 ms at 10,000) is what the planner rightly prefers",
             asserted=False),
    HotQuery("proposal full-text search, common words", (), _orm(_proposal_search_common),
             "the same with two common words (1.6 % of the proposals): ranking reads every match anyway"),
    HotQuery("delegate directory by power", ("delegation_dir_power",), _orm(_directory),
             "delegation.selectors.directory_queryset (default sort)"),
    HotQuery("delegate directory search", ("delegation_dir_search_trgm",), _orm(_directory_search),
             "search_text LIKE '%term%' through pg_trgm; at 20,000 delegates the planner prefers a sequential scan "
             "(5 ms)", asserted=False),
    HotQuery("archive full-text search, a rare term", ("archive_entry_search_gin",), _orm(_archive_search),
             "archive.selectors.search: websearch_to_tsquery over kind, ref, address and the payload"),
    HotQuery("archive full-text search, common words", (), _orm(_archive_search_common),
             "the same with common words: newest first along the primary key, stopping at 50 matches"),
    HotQuery("archive trail of a proposal", ("archive_proposal_seq",), _orm(_archive_trail),
             "archive.selectors: a proposal's entries in order"),
    HotQuery("closed-tally check of an archive append", ("archive_final_tally", "archive_kind_seq"),
             lambda scale: ("SELECT 1 FROM archive_archiveentry a WHERE a.proposal_ref = %s "
                            "AND a.kind = 'tally.final' LIMIT 1", ["100007"]),
             "archive_append() (archive.services.record): every vote's append asks whether its proposal's tally "
             "is closed; the partial index (or the kind index, while final tallies are few) answers in one "
             "probe instead of walking the proposal's entries, which grow with its votes"),
)


def explain(query: HotQuery, scale: int) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of the query on the current database, as text."""
    sql, params = query.sql(scale)
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {sql}", params)
        return "\n".join(row[0] for row in cursor.fetchall())
