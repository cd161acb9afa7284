"""Group commit of single votes (voting.groupcommit, voting.services._store_single).

The mechanism on its own (groups, hand-off of the lead, outcomes and exceptions per caller), then the real
thing: single votes cast by concurrent threads on PostgreSQL, forced into one group, give exactly what the
same votes cast one after the other give (outcomes, rows, archive entries, tally) — the ordering of a group
is the order in which its votes arrived.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.db import connection

from archive.models import ArchiveEntry
from archive.testing import export_bytes, verify_bytes
from govapp.errors import DomainError
from voting import services
from voting.groupcommit import GroupCommit
from voting.models import Tally

from .conftest import build_world
from .test_batch_equivalence import SEQUENCE, _archive, _items, _outcome, _replacements, _tally, _votes


def _wait_for(condition, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.002)


class _GatedFlush:
    """A flush that records its groups and holds the first one until `gate` opens."""

    def __init__(self, flush) -> None:
        self.flush = flush
        self.gate = threading.Event()
        self.groups: list[list] = []

    def __call__(self, items: list) -> list:
        self.groups.append(list(items))
        assert self.gate.wait(10)
        return self.flush(items)


def _submit_in_order(commit: GroupCommit, items: list, pool: ThreadPoolExecutor, function=None) -> list:
    """Submit items from one thread each (through `function`, default commit.submit), each queued before the
    next starts: the first leads and holds its group at the gate, the others queue in this order. An item
    refused before it reaches the queue (a bad signature) just finishes."""
    futures: list = []
    for item in items:
        leading = any(not f.done() for f in futures)  # somebody already holds the lead at the gate
        queued = len(commit._waiting)
        future = pool.submit(function or commit.submit, item)
        futures.append(future)
        if leading:
            _wait_for(lambda f=future, n=queued + 1: f.done() or len(commit._waiting) == n)
        else:
            _wait_for(lambda f=future: f.done() or (commit._leading and not commit._waiting))
    return futures


def _results(futures: list) -> list:
    """Each future's result, or 'ExceptionType: message' for the exception it raised."""
    results = []
    for future in futures:
        try:
            results.append(future.result(10))
        except Exception as exc:  # noqa: BLE001 - what each caller got is the point
            results.append(f"{type(exc).__name__}: {exc}")
    return results


# --------------------------------------------------------------------------- the mechanism
def test_waiting_items_are_flushed_together_and_each_caller_gets_its_own_outcome():
    def flush(items):
        return [ValueError(f"refused {x}") if x % 3 == 0 else x * 10 for x in items]

    gated = _GatedFlush(flush)
    commit = GroupCommit(gated, max_group=100)
    with ThreadPoolExecutor(8) as pool:
        futures = _submit_in_order(commit, list(range(1, 8)), pool)
        gated.gate.set()
        outcomes = _results(futures)
    assert gated.groups == [[1], [2, 3, 4, 5, 6, 7]]  # the first alone (it was leading), then the rest at once
    assert outcomes == [10, 20, "ValueError: refused 3", 40, 50, "ValueError: refused 6", 70]
    assert (commit.groups, commit.items) == (2, 7)
    assert not commit._leading and not commit._waiting


def test_groups_are_at_most_max_group_and_the_lead_passes_on_until_none_wait():
    gated = _GatedFlush(lambda items: list(items))
    commit = GroupCommit(gated, max_group=3)
    with ThreadPoolExecutor(10) as pool:
        futures = _submit_in_order(commit, list(range(8)), pool)
        gated.gate.set()
        assert [f.result(10) for f in futures] == list(range(8))
    assert gated.groups == [[0], [1, 2, 3], [4, 5, 6], [7]]
    assert not commit._leading and not commit._waiting


def test_a_failing_flush_raises_in_every_caller_of_its_group_and_the_next_group_still_runs():
    calls = []

    def flush(items):
        calls.append(list(items))
        if len(calls) == 2:
            raise RuntimeError("database went away")
        return list(items)

    gated = _GatedFlush(flush)
    commit = GroupCommit(gated, max_group=2)
    with ThreadPoolExecutor(6) as pool:
        futures = _submit_in_order(commit, ["a", "b", "c", "d", "e"], pool)
        gated.gate.set()
        results = _results(futures)
    assert calls == [["a"], ["b", "c"], ["d", "e"]]
    assert results == ["a", "RuntimeError: database went away", "RuntimeError: database went away", "d", "e"]
    assert commit.submit("f") == "f"  # not stuck: the next caller leads at once


def test_a_flush_that_returns_the_wrong_number_of_outcomes_fails_its_callers():
    commit = GroupCommit(lambda items: [], max_group=4)
    with pytest.raises(RuntimeError, match="0 outcomes for 1 items"):
        commit.submit("x")
    assert not commit._leading


# --------------------------------------------------------------------------- real votes, real PostgreSQL
def _in_thread(function):
    """Run `function` in a worker thread with its own database connection, closed afterwards."""
    def run(*args):
        try:
            return function(*args)
        finally:
            connection.close()
    return run


def _cast(item):
    try:
        return services.cast_vote(item["typed_data"], item["signature"])
    except DomainError as exc:
        return exc


@pytest.mark.django_db(transaction=True)
def test_concurrent_single_votes_grouped_store_what_the_same_votes_one_by_one_store(chain_settings, settings,
                                                                                    monkeypatch):
    world = build_world(chain_settings)
    single, grouped = world.proposals
    base = int(time.time()) - 60

    settings.VOTE_GROUP_COMMIT_MAX = 0  # reference: each vote in its own transaction
    one_by_one = [_cast(item) for item in _items(world, single, base)]
    settings.VOTE_GROUP_COMMIT_MAX = 64

    commit = services._group_commit
    groups_before, items_before = commit.groups, commit.items
    gated = _GatedFlush(commit._flush)
    monkeypatch.setattr(commit, "_flush", gated)
    items = _items(world, grouped, base)
    with ThreadPoolExecutor(len(items)) as pool:
        futures = _submit_in_order(commit, items, pool, _in_thread(_cast))
        gated.gate.set()
        grouped_outcomes = [f.result(30) for f in futures]

    # the forged signature is refused in its own thread, before the queue; every other vote was grouped
    early = sum(1 for o in grouped_outcomes if isinstance(o, DomainError) and o.code == "signer_mismatch")
    assert early == 1
    assert [len(g) for g in gated.groups] == [1, len(items) - 1 - early]
    assert (commit.groups - groups_before, commit.items - items_before) == (2, len(items) - early)
    assert [_outcome(o) for o in grouped_outcomes] == [_outcome(o) for o in one_by_one]
    assert [o[1] for o in map(_outcome, grouped_outcomes) if o[0] == "refused"] == [
        "duplicate_vote", "stale_vote", "zero_voting_power", "zero_voting_power", "signer_mismatch"]
    assert _votes(grouped) == _votes(single)
    assert _replacements(grouped) == _replacements(single)
    assert _archive(grouped) == _archive(single)
    assert _tally(grouped) == _tally(single)
    for proposal in (single, grouped):
        assert services.live_totals(Tally.objects.get(pk=proposal.pk)) == services.recompute_totals(proposal)
    assert verify_bytes(export_bytes()).entries == ArchiveEntry.objects.count()
    assert len(SEQUENCE) == len(items)


@pytest.mark.django_db(transaction=True)
def test_many_threads_voting_at_once_all_get_their_receipt_and_the_tally_adds_up(chain_settings, settings):
    """No gate: real contention from 12 threads (each vote sent twice, then re-votes); groups form as they may."""
    settings.VOTE_GROUP_COMMIT_MAX = 64
    world = build_world(chain_settings, proposals=1)
    proposal = world.proposals[0]
    base = int(time.time()) - 60
    voters = [3, 4, 5, 6, 7]
    first = [world.vote(i, proposal, support=1, timestamp=base) for i in voters]
    second = [world.vote(i, proposal, support=0, timestamp=base + 1) for i in voters]
    commit = services._group_commit
    items_before = commit.items
    cast = _in_thread(lambda pair: _cast({"typed_data": pair[0], "signature": pair[1]}))
    with ThreadPoolExecutor(12) as pool:
        first_outcomes = list(pool.map(cast, first * 2))  # each vote twice: one counted, one duplicate_vote
        second_outcomes = list(pool.map(cast, second))
    assert sorted(_outcome(o)[0] for o in first_outcomes) == ["ok"] * 5 + ["refused"] * 5
    assert {o.code for o in first_outcomes if isinstance(o, DomainError)} == {"duplicate_vote"}
    assert all(not isinstance(o, DomainError) and o.replaced is not None for o in second_outcomes)
    assert commit.items - items_before == 15
    tally = Tally.objects.get(pk=proposal.pk)
    assert services.live_totals(tally) == services.recompute_totals(proposal)
    assert tally.voters == 5 and tally.for_power == 0 and tally.against_power > 0
    assert verify_bytes(export_bytes()).entries == ArchiveEntry.objects.count()
