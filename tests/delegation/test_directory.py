"""The directory from the indexer's checkpoint tables: membership, figures, search, sort, pages, query counts.

The checkpoint rows are written straight into the indexer's tables (as the indexer would), so these
tests need no chain and can use hundreds of holders.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from eth_utils import to_checksum_address

from chain.models import BalanceCheckpoint, DelegateCheckpoint, IndexerState, SupplyCheckpoint, VotesCheckpoint
from chain.services import rebuild_latest_votes
from delegation import directory, selectors
from delegation.models import Delegate, DelegateStatement

pytestmark = pytest.mark.django_db

UNIT = 10**18
HEAD = 1000


def addr(n: int) -> str:
    return "0x" + f"{n:040x}"


def checksummed(n: int) -> str:
    return to_checksum_address(addr(n))


def statement(n: int, name: str, interests=("governance",)) -> DelegateStatement:
    row = DelegateStatement(delegate=checksummed(n), version=1, display_name=name, statement="s",
                            statement_html="<p>s</p>", interests=list(interests), links=[], signed_timestamp=1,
                            typed_data={}, signature="0x", digest=f"0x{n:064x}")
    row.save()
    return row


def build_index(delegates: int, holders_per_delegate: int = 3) -> dict[str, int]:
    """Delegate d (1..delegates) gets `holders_per_delegate` holders of d tokens each; holders 10^6+ ."""
    IndexerState.objects.create(contracts={}, start_block=1, head_block=HEAD, head_hash="0x")
    balances, delegations, votes = [], [], []
    expected = {}
    holder = 1_000_000
    for d in range(1, delegates + 1):
        total = 0
        for _ in range(holders_per_delegate):
            holder += 1
            balances.append(BalanceCheckpoint(account=addr(holder), block=10, balance=d * UNIT))
            delegations.append(DelegateCheckpoint(account=addr(holder), block=20 + d, delegate=addr(d)))
            total += d * UNIT
        votes.append(VotesCheckpoint(account=addr(d), block=20 + d, votes=total // 2))
        votes.append(VotesCheckpoint(account=addr(d), block=30 + d, votes=total))
        expected[checksummed(d)] = total
    BalanceCheckpoint.objects.bulk_create(balances)
    DelegateCheckpoint.objects.bulk_create(delegations)
    VotesCheckpoint.objects.bulk_create(votes)
    rebuild_latest_votes()  # the indexer keeps it with the checkpoints; written directly here
    SupplyCheckpoint.objects.create(block=10, total_supply=sum(expected.values()))
    return expected


def test_refresh_builds_the_directory_from_the_checkpoints():
    expected = build_index(30)
    # A delegate whose votes went back to 0 (all delegators left) and who has no statement: not listed.
    VotesCheckpoint.objects.bulk_create([VotesCheckpoint(account=addr(99), block=5, votes=UNIT),
                                         VotesCheckpoint(account=addr(99), block=6, votes=0)])
    # A checkpoint after the indexed head is not counted yet.
    VotesCheckpoint.objects.create(account=addr(1), block=HEAD + 1, votes=10**30)
    rebuild_latest_votes()
    statement(500, "Statement Only")  # no power, but a statement: listed
    result = directory.refresh_all()
    assert result == {"head_block": HEAD, "created": 31, "updated": 0, "deleted": 0}
    rows = {r.address: r for r in Delegate.objects.all()}
    assert set(rows) == set(expected) | {checksummed(500)}
    for address, power in expected.items():
        assert int(rows[address].voting_power) == power
        assert rows[address].delegator_count == 3
    assert rows[checksummed(7)].first_power_block == 27
    assert rows[checksummed(500)].display_name == "Statement Only" and rows[checksummed(500)].voting_power == 0

    # Delegators paged in SQL are exactly chain.selectors.delegators_of's, in the same order.
    from chain.selectors import delegators_of
    from delegation import indexer

    BalanceCheckpoint.objects.create(account=addr(1_000_021), block=HEAD, balance=0)  # one delegator emptied
    everyone = delegators_of(checksummed(7), HEAD)
    assert len(everyone) == 3 and everyone[-1][1] == 0
    page, total = indexer.delegators_page(checksummed(7), HEAD, limit=2)
    rest, _ = indexer.delegators_page(checksummed(7), HEAD, limit=2, offset=2)
    assert page + rest == everyone and total == 3
    assert indexer.delegators_page(checksummed(7), HEAD, limit=2, offset=10) == ([], 3)
    assert indexer.delegators_page(checksummed(7), 25, limit=5) == ([], 0)  # before anyone chose it

    # One address recomputed through chain.selectors agrees with the bulk refresh.
    row = Delegate.objects.get(address=checksummed(9))
    Delegate.objects.filter(pk=row.pk).update(voting_power=1, delegator_count=0)
    assert directory.refresh_addresses([checksummed(9)]) == 1
    again = Delegate.objects.get(address=checksummed(9))
    assert (int(again.voting_power), again.delegator_count) == (int(row.voting_power), row.delegator_count)

    # Incremental: only what changed is written; a delegate losing everything leaves the directory.
    VotesCheckpoint.objects.create(account=addr(2), block=HEAD, votes=0)
    rebuild_latest_votes()
    DelegateCheckpoint.objects.filter(delegate=addr(2)).update(delegate=addr(3))
    assert directory.refresh_all() == {"head_block": HEAD, "created": 0, "updated": 1, "deleted": 1}
    assert not Delegate.objects.filter(address=checksummed(2)).exists()
    assert Delegate.objects.get(address=checksummed(3)).delegator_count == 6


def test_search_sort_and_pages():
    build_index(40)
    statement(5, "Zed Zebra", interests=("defi",))
    statement(6, "alice Anders")
    statement(7, "Bob")
    directory.refresh_all()

    by_power = selectors.directory_page(sort="power", page=1, page_size=10)
    assert by_power.count == 40 and by_power.pages == 4
    assert [r.address for r in by_power.rows] == [checksummed(n) for n in range(40, 30, -1)]
    last = selectors.directory_page(sort="power", page=4, page_size=10)
    assert [r.address for r in last.rows] == [checksummed(n) for n in range(10, 0, -1)]
    assert selectors.directory_page(page=99, page_size=10).page == 4  # clamped

    by_name = selectors.directory_page(sort="name", page_size=5).rows
    assert [r.display_name for r in by_name[:3]] == ["alice Anders", "Bob", "Zed Zebra"]  # case-insensitive
    assert by_name[3].display_name == ""  # the unnamed come after, by address

    assert [r.address for r in selectors.directory_page(search="ZEBRA").rows] == [checksummed(5)]
    assert [r.address for r in selectors.directory_page(search=checksummed(7)).rows] == [checksummed(7)]
    assert [r.address for r in selectors.directory_page(search=addr(39)).rows] == [checksummed(39)]
    assert selectors.directory_page(search="nobody-here").count == 0

    api = reverse("delegation-api:list")
    from django.test import Client

    client = Client()
    body = client.get(api, {"sort": "delegators", "limit": 5}).json()
    assert body["count"] == 40 and len(body["results"]) == 5
    assert all(r["delegator_count"] == 3 for r in body["results"])
    assert [r["address"] for r in client.get(api, {"interest": "defi"}).json()["results"]] == [checksummed(5)]
    assert client.get(api, {"has_statement": "true"}).json()["count"] == 3
    first = client.get(api, {"limit": 1}).json()["results"][0]
    assert first["address"] == checksummed(40) and first["voting_power"] == str(120 * UNIT)
    total = sum(3 * d * UNIT for d in range(1, 41))
    assert first["share_bps"] == 120 * UNIT * 10_000 // total
    assert first["participation"] is None and first["last_vote_at"] is None
    bad = client.get(api, {"sort": "shoe-size"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"

    html = client.get(reverse("delegation:directory"), {"q": "bob"})
    assert html.status_code == 200 and b"Bob" in html.content and b"Zed Zebra" not in html.content


def _count_queries(client, url, params) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params)
    assert response.status_code == 200, response.content
    return len(queries)


def test_lists_have_no_n_plus_one(client, django_assert_max_num_queries):
    build_index(120, holders_per_delegate=1)
    for n in range(1, 121, 2):
        statement(n, f"Delegate {n}")
    directory.refresh_all()
    page_url, api_url = reverse("delegation:directory"), reverse("delegation-api:list")
    # The number of queries does not depend on how many rows are shown...
    assert _count_queries(client, page_url, {"page": 1}) == _count_queries(client, page_url, {"page": 2, "q": "del"})
    assert _count_queries(client, api_url, {"limit": 5}) == _count_queries(client, api_url, {"limit": 100})
    # ...and stays small.
    with django_assert_max_num_queries(6):
        client.get(page_url, {"sort": "name"})
    with django_assert_max_num_queries(6):
        client.get(api_url, {"limit": 100, "sort": "delegators"})
    with django_assert_max_num_queries(4):
        client.get(reverse("delegation-api:statements", args=[checksummed(1)]))
    with django_assert_max_num_queries(6):
        client.get(reverse("delegation-api:delegators", args=[checksummed(1)]))


def test_participation_last_vote_and_voting_record(client, django_user_model):
    """Participation = proposals voted on / proposals whose snapshot came after the delegate's first power."""
    from django.utils import timezone

    from proposals.models import Proposal
    from voting.models import Vote

    build_index(3)  # delegate d first has power at block 20 + d
    author = django_user_model.objects.create_user(checksummed(77))
    proposals = [Proposal.objects.create(number=n, title=f"Proposal {n}", kind="informational", status="voting",
                                         author=author, body="b", revision_hash="0x" + "0" * 64, snapshot_block=block)
                 for n, block in ((1, 22), (2, 500), (3, 900), (4, HEAD + 5))]  # #4: snapshot not indexed yet
    when = timezone.now()
    for number, voter, support in ((2, 1, 1), (3, 1, 0), (3, 3, 2)):
        Vote.objects.create(id=f"0x{number:02x}{voter:062x}", proposal=proposals[number - 1],
                            voter=checksummed(voter), support=support, reason=f"because {number}",
                            signed_timestamp=1, snapshot_block=proposals[number - 1].snapshot_block, votes_power=1,
                            power=1, typed_data={}, signature="0x", created_at=when)
    directory.refresh_all()
    rows = {r.address: r for r in Delegate.objects.all()}
    # Delegate 1 (power from block 21): proposals 1, 2, 3 count, voted on 2 -> 66.66 %.
    assert rows[checksummed(1)].votes_cast == 2 and rows[checksummed(1)].participation_bps == 6666
    assert rows[checksummed(1)].last_vote_at == when
    # Delegate 3 (power from block 23): proposal 1's snapshot (22) predates its power: 1 of 2 -> 50 %.
    assert rows[checksummed(3)].participation_bps == 5000
    assert rows[checksummed(2)].participation_bps == 0 and rows[checksummed(2)].last_vote_at is None

    record = client.get(reverse("delegation-api:votes", args=[checksummed(1)])).json()["results"]
    assert sorted((v["proposal_number"], v["choice"], v["reason"]) for v in record) == [
        (2, "for", "because 2"), (3, "against", "because 3")]
    page = client.get(reverse("delegation:detail", args=[checksummed(1)]))
    assert b"because 2" in page.content and b"Proposal 3" in page.content
    listing = client.get(reverse("delegation-api:list"), {"limit": 3}).json()["results"]
    assert {r["address"]: r["participation"] for r in listing}[checksummed(1)] == 0.6666
