"""The hottest lookups use their index — decided by the planner itself on realistic data, not forced.

A synthetic data set shaped like the real one (govapp.hot_queries.populate: checkpoints of 20,000 accounts at
increasing blocks, 40,000 votes mostly on a few proposals, a directory, 40,000 archive entries) is written in
the test's transaction and ANALYZEd; then EXPLAIN (ANALYZE) of each hot query must show its index. No
`enable_seqscan = off`: with honest statistics a sequential scan would win if the index did not help. The
plans at ten times this size are in docs/scaling.md (`manage.py explain_hot_queries`).
"""

from __future__ import annotations

import re

import pytest
from django.db import connection

from govapp import hot_queries

pytestmark = pytest.mark.django_db
SCALE = 20_000


def uses(plan: str, index: str) -> bool:
    """The plan scans `index` (Django's generated names carry a hash suffix: voting_vote_proposal_id_38a89f80)."""
    return re.search(rf"\b(?:using|on) {re.escape(index)}(?:_[0-9a-f]{{8}})?\b", plan) is not None


def test_hot_queries_use_their_indexes_on_realistic_data():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL plans")
    with connection.cursor() as cursor:
        cursor.execute("SHOW enable_seqscan")
        assert cursor.fetchone()[0] == "on"
    try:
        check_plans()
    finally:
        forget_the_data_set()


def forget_the_data_set() -> None:
    """Delete the rows and ANALYZE again, still in the test's transaction: the rollback undoes the statistics but
    not pg_class.reltuples (updated in place), which chain.selectors reads to choose a strategy."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        for table in reversed(hot_queries.TABLES):
            cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - the module's table names
        cursor.execute("SET LOCAL session_replication_role = origin")
        for table in hot_queries.TABLES:
            cursor.execute(f"ANALYZE {table}")


def check_plans() -> None:
    counts = hot_queries.populate(SCALE)
    assert counts["chain_votescheckpoint"] == SCALE * hot_queries.CHECKPOINTS_PER_ACCOUNT
    assert counts["voting_vote"] == counts["archive_archiveentry"] == SCALE * 2
    with connection.cursor() as cursor:  # ANALYZE ran: the planner knows the sizes
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = 'chain_votescheckpoint'")
        assert cursor.fetchone()[0] >= SCALE * 3

    checked = [q for q in hot_queries.HOT_QUERIES if q.asserted and q.indexes]
    assert len(checked) >= 10
    plans = {q.name: hot_queries.explain(q, SCALE) for q in checked}
    wrong = {q.name: plans[q.name] for q in checked if not any(uses(plans[q.name], i) for i in q.indexes)}
    assert not wrong, "\n\n".join(f"### {name}\n{plan}" for name, plan in wrong.items())

    # A rare archive search term: with default statistics it was estimated common and the planner walked the
    # primary key backwards for 50 matches that were not there, the whole archive (archive migration 0004).
    rare = plans["archive full-text search, a rare term"]
    assert not uses(rare, "archive_archiveentry_pkey"), rare

    check_vote_state_on_a_proposal_empty_at_analyze()


def check_vote_state_on_a_proposal_empty_at_analyze() -> None:
    """The current votes a store reads for its ballots (voting.services._STATE_SQL, one LATERAL seek per voter)
    on a proposal that had no votes when voting_vote was last analyzed — every proposal's state when its vote
    opens. The statistics then estimate one row for that proposal, and with an index on proposal_id alone the
    planner seeked by the proposal and filtered the voter: every lookup read all of the proposal's votes,
    O(votes²) per proposal until the next ANALYZE (a batch of 500 took 15 s at 73,000 votes). Voting migration
    0003 dropped that index, but the list index (proposal, is_current, created_at) can be chosen the same way (a
    batch after a VACUUM ANALYZE: 421 votes/s), so the query hides the proposal from the planner's statistics
    (a sub-SELECT, an InitPlan parameter): each seek must use (proposal, voter), by a parameter."""
    from voting import services

    proposal = hot_queries._proposal(100030)  # populate() gave it no votes, then ANALYZEd
    voters = 4000
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO voting_vote (id, proposal_id, voter, support, reason, signed_timestamp, snapshot_block, "
            "votes_power, override_balance, power, delegate, overridden, format, typed_data, signature, "
            "contract_wallet, is_current, replaced_by, replaces, created_at) "
            f"SELECT '0x' || lpad(to_hex(v), 64, '0'), %s, {hot_queries._address_sql('v')}, v %% 3, '', "
            "1700000000 + v, 1, 1, 0, 1, '', 0, 'portal', '{}', '0x', false, true, '', '', now() "
            "FROM generate_series(9000001, 9000000 + %s) v", [proposal.pk, voters])
        # one voter in ten overrides its delegate (the next voter), for the totals' override join below
        cursor.execute(f"UPDATE voting_vote SET override_balance = 1, delegate = {hot_queries._address_sql('v.n + 1')} "
                       "FROM (SELECT id, ('x' || substr(id, 51))::bit(64)::bigint AS n FROM voting_vote "
                       "WHERE proposal_id = %s) v WHERE voting_vote.id = v.id AND v.n %% 10 = 0",
                       [proposal.pk])
    addresses = [hot_queries.address(9_000_001 + i) for i in range(0, voters, 10)]
    with services._raw_cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + services._STATE_SQL,
                       {"full": addresses[:5], "addresses": addresses, "voters": addresses, "proposal": proposal.pk})
        plan = "\n".join(row[0] for row in cursor.fetchall())
    seeks = re.findall(r"Index Scan using (\w+) on voting_vote c\b", plan)
    assert seeks and all(re.match(r"voting_(one_current_vote|vote_voter)\b", name) for name in seeks), plan
    assert f"rows=1 loops={len(addresses)}" in plan, plan  # each voter found by one seek
    # the proposal as the InitPlan's parameter, not a value the planner looks up in the statistics
    assert re.search(r"Index Cond: \(\(proposal_id = \$\d+\) AND", plan), plan

    # the totals at the close (recompute_totals): the delegates' votes are probed by (proposal, voter) or hashed,
    # never by proposal alone once per overriding vote
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, COSTS OFF) " + services._TOTALS_SQL, [proposal.pk, proposal.pk])
        totals_plan = "\n".join(row[0] for row in cursor.fetchall())
    probes = re.findall(r"Index (?:Only )?Scan using (\w+) on voting_vote d \(actual .*loops=(\d+)\)", totals_plan)
    assert all(re.match(r"voting_(one_current_vote|vote_voter)\b", name) for name, loops in probes
               if int(loops) > 1), totals_plan
    assert services.recompute_totals(proposal)["overridden"] == voters // 10 - 1, totals_plan
    assert len(re.findall(r"proposal_id = \$\d+", totals_plan)) >= 2, totals_plan  # both parts by the parameter

    # one address's power on the proposal (GET /api/votes/<n>/power, the vote panel): its current vote, and the
    # votes of its delegators who voted themselves. The second read all of the proposal's votes (it could not use
    # the partial index without override_balance > 0): 13 ms at 20,000 votes, per request.
    from voting import selectors

    delegate = hot_queries.address(9_000_011)  # voter 9,000,010 overrides it (one in ten, the next voter)
    assert [int(v) for v in selectors.overriding_votes(proposal.pk, delegate)
            .values_list("override_balance", flat=True)] == [1]
    assert selectors.current_vote(proposal.pk, delegate).voter == delegate
    for queryset, indexes in ((selectors.overriding_votes(proposal.pk, delegate), ("voting_vote_overrides",)),
                              (selectors.current_votes_on(proposal.pk).filter(voter=delegate),
                               ("voting_one_current_vote", "voting_vote_voter"))):
        lookup_plan = queryset.explain(analyze=True, costs=False)
        assert any(uses(lookup_plan, index) for index in indexes), lookup_plan
        assert re.search(r"Index Cond: \(\(proposal_id = \$\d+\) AND", lookup_plan), lookup_plan
        assert "Rows Removed by Filter" not in lookup_plan, lookup_plan


def test_uses_matches_index_names_only_where_a_node_scans_them():
    plan = "->  Bitmap Index Scan on voting_vote_proposal_id_38a89f80  (cost=0.00..83.69 rows=2037 width=0)"
    assert uses(plan, "voting_vote_proposal_id") and not uses(plan, "voting_vote_list")
    backward = "Index Scan Backward using archive_archiveentry_pkey on archive_archiveentry"
    assert uses(backward, "archive_archiveentry_pkey")
    assert not uses("Seq Scan on delegation_delegate", "delegation_dir_power")
