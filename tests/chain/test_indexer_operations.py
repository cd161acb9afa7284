"""Running the indexer: the management command, the Celery beat task, /healthz and the footer, SQLite, and
the pieces the loop is made of (range adaptation, error classes, selectors' validation)."""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError

from chain import selectors, services
from chain.indexer import Indexer, RangeTooLarge, RpcClient, RpcError, RpcTimeout, _classify
from chain.models import IndexerState
from govapp.celery import app


@pytest.mark.django_db
def test_index_chain_command_prints_progress_and_resumes(chain_settings, scenario):
    chain = chain_settings
    scenario(71).run(10)
    chain.mine(40)
    middle = chain.block_number - 20
    out = io.StringIO()
    call_command("index_chain", "--to-block", str(middle), "--range", "2", "--max-range", "4", stdout=out)
    text = out.getvalue()
    assert f"indexed to block {middle}" in text
    assert "[####################] block" in text and "blocks/s" in text and "events/s" in text
    assert IndexerState.objects.get().head_block == middle

    with pytest.raises(CommandError, match="past the indexed head"):
        call_command("index_chain", "--from-block", str(middle + 5), stdout=io.StringIO())
    out = io.StringIO()
    call_command("index_chain", "--from-block", "1", stdout=out)  # already indexed: resumes after the head
    assert f"resuming at {middle + 1}" in out.getvalue()
    assert IndexerState.objects.get().head_block == chain.block_number

    call_command("index_chain", "--reset", "--from-block", str(middle), stdout=io.StringIO(),
                 stderr=(err := io.StringIO()))
    assert "miss the earlier events" in err.getvalue()
    assert IndexerState.objects.get().start_block == middle


@pytest.mark.django_db
def test_an_index_started_after_the_deployment_fails_clearly_and_is_recorded(chain_settings, scenario):
    history = scenario(72)
    history.run(6)
    chain = chain_settings
    start = chain.block_number + 1
    history.transfer()  # moves tokens minted before `start`
    with pytest.raises(CommandError, match="misses earlier token history.*--reset"):
        call_command("index_chain", "--from-block", str(start), stdout=io.StringIO(), stderr=io.StringIO())
    state = IndexerState.objects.get()
    assert state.head_block == start - 1  # nothing half-written
    assert state.failures == 1 and "IndexIncomplete" in state.last_error


@pytest.mark.django_db
def test_the_beat_task_follows_the_chain_on_the_indexing_queue(chain_settings, scenario):
    from chain.tasks import follow_chain

    entries = [e for e in app.conf.beat_schedule.values() if e["task"] == "chain.tasks.follow_chain"]
    assert len(entries) == 1 and entries[0]["schedule"] <= 10
    route = app.amqp.router.route({}, "chain.tasks.follow_chain")
    assert route["queue"].name == "indexing"
    assert follow_chain.acks_late is True

    scenario(73).run(5)
    outcome = follow_chain.apply().get()
    assert outcome["status"] == "ok" and outcome["head"] == chain_settings.block_number and outcome["events"] > 0
    assert follow_chain.apply().get()["events"] == 0  # idempotent: a second tick finds nothing new


@pytest.mark.django_db
def test_healthz_and_the_page_footer_show_the_indexer(client, chain_settings, scenario, index):
    assert "indexed to block" not in client.get("/").content.decode()  # nothing indexed yet: no footer figure
    scenario(74).run(4)
    result = index()
    chain_settings.mine(2)
    call_command("index_chain", "--to-block", str(result.head), stdout=io.StringIO())  # polls: chain head seen
    report = client.get("/healthz").json()
    indexer = report["checks"]["indexer"]
    assert indexer["head_block"] == result.head and indexer["lag"] == 2 and indexer["ok"] is True
    page = client.get("/").content.decode()
    assert f"indexed to block {result.head} · lag 2 blocks" in page


def test_the_index_works_on_sqlite_too(chain_settings, scenario, tmp_path, check):
    """The embedded dev default: the same command and selectors on a SQLite file (text-stored uint256)."""
    history = scenario(75)
    history.run(8)
    chain = chain_settings
    env = dict(os.environ, DATABASE_URL=f"sqlite:///{tmp_path / 'dev.sqlite3'}", GOVAPP_VAR_DIR=str(tmp_path),
               CHAIN_RPC_URL=django_settings.CHAIN_RPC_URL,
               CHAIN_DEPLOYMENT_FILE=str(django_settings.CHAIN_DEPLOYMENT_FILE))
    head = chain.block_number
    chain.mine()
    voter = max(history.addresses, key=lambda a: chain.token.functions.getPastVotes(a, head).call())
    code = ("from django.core.management import call_command as c; from chain import selectors as s; "
            "c('migrate', 'chain', verbosity=0); c('index_chain', verbosity=0); "
            f"print(s.voting_power('{voter}', {head}), s.total_voting_power({head}), s.balance('{voter}', {head}), "
            f"len(s.delegators_of('{voter}', {head})), s.voting_power_many(['{voter}', '{voter.lower()}'], {head})"
            f"['{voter.lower()}']); from chain.models import LatestVotes as L, VotesCheckpoint as V; import json; "
            "print(json.dumps([[list(r) for r in V.objects.values_list('account', 'block', 'votes')], "
            "[list(r) for r in L.objects.values_list('account', 'block', 'votes', 'prev_block', 'prev_votes')]]))")
    done = subprocess.run([sys.executable, os.path.join(django_settings.BASE_DIR, "manage.py"), "shell", "-v", "0",
                           "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    figures, tables = done.stdout.strip().split("\n")
    votes, total, balance, delegators, many = (int(x) for x in figures.split())
    checkpoints, latest = json.loads(tables)
    # LatestVotes, kept by the SQLite write path too, is what the checkpoints say
    assert len(latest) >= 3 and any(r[3] is not None for r in latest)
    assert sorted(tuple(r) for r in latest) == check.latest_votes_from([tuple(r) for r in checkpoints])
    token = chain.token.functions
    assert votes == many == token.getPastVotes(voter, head).call() > 2**64  # past SQLite's integers: exact
    assert total == token.getPastTotalSupply(head).call()
    assert balance == token.balanceOf(voter).call(block_identifier=head)
    assert delegators >= 1


# --- the pieces -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("error", "kind"), [
    ({"code": -32005, "message": "query returned more than 10000 results"}, RangeTooLarge),
    ({"code": -32000, "message": "block range is too large"}, RangeTooLarge),
    ({"code": -32602, "message": "Log response size exceeded. You can make eth_getLogs requests with up to a 2K "
                                 "block range"}, RangeTooLarge),
    ({"code": -32000, "message": "query timeout exceeded"}, RangeTooLarge),
    ({"code": -32000, "message": "header not found"}, RpcError),
])
def test_node_errors_are_classified_for_range_shrinking(error, kind):
    assert type(_classify("eth_getLogs", error)) is kind
    assert type(_classify("eth_blockNumber", error)) is RpcError  # only getLogs ranges can shrink


def test_the_range_adapts_to_speed_and_result_size():
    indexer = Indexer(rpc=None, registry=None, range_size=100, max_range=1000, target_seconds=2.0, max_logs=1000)
    indexer._adapt(0.2, 10)
    assert indexer.range_size == 200  # fast and small: grow
    indexer._adapt(0.2, 2000)
    assert indexer.range_size == 100  # too many logs: shrink
    indexer._adapt(5.0, 10)
    assert indexer.range_size == 50  # slow: shrink
    indexer._adapt(2.0, 10)
    assert indexer.range_size == 50  # on target: keep
    for _ in range(20):
        indexer._adapt(0.1, 1)
    assert indexer.range_size == 1000  # capped


def test_a_node_that_does_not_answer_is_an_rpc_timeout():
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        client = RpcClient(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)
        with pytest.raises(RpcTimeout, match="within 0.3 s"):
            client.block_number()


@pytest.mark.django_db
def test_selectors_validate_addresses_and_blocks(chain_settings, scenario, index):
    scenario(76).run(3)
    head = index().head
    address = chain_settings.address(0)
    for bad in ("", "0x12", address.upper().replace("0X", "0x")[:-1] + "G", None, 12):
        with pytest.raises(selectors.InvalidAddress):
            selectors.voting_power(bad, head)
    for bad in (-1, "x", 1.5, True):
        with pytest.raises(selectors.InvalidBlock):
            selectors.balance(address, bad)
    with pytest.raises(selectors.BlockNotIndexed) as info:
        selectors.delegators_of(address, head + 1)
    assert info.value.status == 409 and info.value.details == {"indexed_head": head}
    assert selectors.voting_power(address.lower(), head) == selectors.voting_power(address, head)
    assert selectors.voting_power_many([], head) == {}
    assert selectors.voting_power_many([address, address.lower()], head) == {
        address: selectors.voting_power(address, head), address.lower(): selectors.voting_power(address, head)}
    # the bulk read: same validation, keys as given, at a block or at the head
    assert selectors.account_states_at([], head) == {}
    for bad in ("0x12", None, 12):
        with pytest.raises(selectors.InvalidAddress):
            selectors.account_states_at([address, bad], head)
    with pytest.raises(selectors.InvalidBlock):
        selectors.account_states_at([address], -1)
    with pytest.raises(selectors.BlockNotIndexed) as info:
        selectors.account_states_at([address], head + 1)
    assert info.value.details == {"indexed_head": head}
    states = selectors.account_states_at([address, address.lower()], head)
    assert states[address] == states[address.lower()] == selectors.account_states_at([address])[address]
    assert states[address].votes == selectors.voting_power(address, head)
    assert states[address].balance == selectors.balance(address, head)


@pytest.mark.django_db
def test_an_index_of_other_contracts_is_refused(chain_settings, index):
    index()
    IndexerState.objects.update(contracts={"GovernanceToken": "0x" + "11" * 20})
    with pytest.raises(services.IndexMismatch):
        index()
