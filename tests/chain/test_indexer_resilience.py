"""Crash, concurrency and node failures: the index is never lost, doubled or corrupted."""

from __future__ import annotations

import http.server
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone

from chain import selectors, services
from chain.anvil import free_port
from chain.client import get_deployment
from chain.decoding import EventRegistry, decode_logs
from chain.indexer import Indexer, RpcClient, RpcUnavailable, follow_once
from chain.models import ContractEvent, IndexerState

MANAGE = os.path.join(django_settings.BASE_DIR, "manage.py")


def _subprocess_env(chain) -> dict[str, str]:
    db = connection.settings_dict
    env = dict(os.environ)
    env.update({
        # the test database pytest-django created (test_<name>), not the configured one
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "CHAIN_RPC_URL": django_settings.CHAIN_RPC_URL,
        "CHAIN_ID": str(django_settings.CHAIN_ID),
        "CHAIN_DEPLOYMENT_FILE": str(django_settings.CHAIN_DEPLOYMENT_FILE),
        "CHAIN_CONFIRMATIONS": "0",
    })
    return env


def _head() -> int | None:
    return IndexerState.objects.values_list("head_block", flat=True).first()


@pytest.mark.django_db(transaction=True)
def test_a_killed_indexer_resumes_to_the_same_tables_as_an_uninterrupted_run(chain_settings, scenario, check):
    chain = chain_settings
    assert connection.settings_dict["NAME"].startswith("test_")
    history = scenario(31)
    history.run(12)
    chain.mine(120)  # with --max-range 1 every block is one range: a long run to kill in the middle
    history.run(10)
    target = chain.block_number
    start = chain.deployment.start_block
    command = [sys.executable, MANAGE, "index_chain", "--range", "1", "--max-range", "1", "--to-block", str(target)]
    env = _subprocess_env(chain)

    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while (_head() or 0) < start + 30:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the indexer did not get going"
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)  # no cleanup, no rollback by the process: mid-range, mid-transaction maybe
    proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    killed_at = _head()
    assert start + 30 <= killed_at < target - 20

    restarted = subprocess.run([sys.executable, MANAGE, "index_chain", "--to-block", str(target)], env=env,
                               capture_output=True, text=True, timeout=120)
    assert restarted.returncode == 0, restarted.stderr
    assert f"indexed to block {target}" in restarted.stdout
    resumed = check.dump()
    assert resumed["head"][0][0] == target

    services.reset_index()  # the reference: one uninterrupted run
    check.run_indexer(to_block=target)
    reference = check.dump()
    assert resumed == reference
    assert len(reference["events"]) > 100 and len(reference["balances"]) > 50


@pytest.mark.django_db(transaction=True)
def test_the_advisory_lock_is_exclusive_across_connections():
    seen = {}

    def other(key: str) -> None:
        try:
            with services.indexer_lock() as acquired:
                seen[key] = acquired
        finally:
            connection.close()

    with services.indexer_lock() as first:
        assert first
        thread = threading.Thread(target=other, args=("while held",))
        thread.start()
        thread.join()
    thread = threading.Thread(target=other, args=("after release",))
    thread.start()
    thread.join()
    assert seen == {"while held": False, "after release": True}


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_followers_index_every_range_once(chain_settings, scenario, check):
    chain = chain_settings
    history = scenario(41)
    history.run(10)
    chain.mine(80)
    history.run(5)
    target = chain.block_number
    start = chain.deployment.start_block
    results = {}

    def follow(name: str) -> None:
        try:
            results[name] = follow_once(range_size=1, max_range=1, respect_backoff=False)
        finally:
            connection.close()

    first = threading.Thread(target=follow, args=("first",))
    first.start()
    while (_head() or 0) < start + 10:
        assert first.is_alive() or results, "the first follower stopped early"
        time.sleep(0.005)
    second = threading.Thread(target=follow, args=("second",))
    second.start()
    second.join()
    first.join()
    assert results["second"] == {"status": "busy"}  # it found the first one holding the lock
    assert results["first"]["status"] == "ok" and results["first"]["head"] == target
    again = follow_once(respect_backoff=False)  # a later tick: nothing new, nothing doubled
    assert again["status"] == "ok" and again["events"] == 0
    after = check.dump()

    services.reset_index()
    check.run_indexer(to_block=target)
    assert check.dump() == after


@pytest.mark.django_db(transaction=True)
def test_without_the_lock_the_cursor_compare_and_set_still_prevents_double_indexing(chain_settings, scenario,
                                                                                      check):
    """Two indexers that both think they hold the lock (e.g. one lost it) race over the same ranges."""
    chain = chain_settings
    history = scenario(43)
    history.run(10)
    chain.mine(30)
    history.run(8)
    target = chain.block_number
    services.ensure_state(get_deployment())
    barrier = threading.Barrier(2)
    results = {}

    def run(name: str) -> None:
        try:
            indexer = Indexer.from_settings(range_size=1, max_range=2)
            barrier.wait()
            results[name] = indexer.run(to_block=target)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results["a"].head == results["b"].head == target
    # every range was committed by exactly one of them
    assert results["a"].blocks + results["b"].blocks == target - chain.deployment.start_block + 1
    raced = check.dump()

    services.reset_index()
    check.run_indexer(to_block=target)
    assert check.dump() == raced


@pytest.mark.django_db
def test_commit_range_is_a_compare_and_set_and_rerunning_a_range_changes_nothing(chain_settings, scenario, check):
    chain = chain_settings
    scenario(47).run(10)
    deployment = get_deployment()
    state = services.ensure_state(deployment)
    rpc, registry = RpcClient.from_settings(), EventRegistry.from_deployment(deployment)
    head, end = state.head_block, chain.block_number
    events = decode_logs(rpc.get_logs(registry.log_filter(head + 1, end)), registry)
    headers = rpc.headers({e.block_number for e in events} | {end})
    blocks = [headers[n] for n in sorted(headers)]
    args = {"new_head": end, "head_hash": headers[end].hash, "events": events, "blocks": blocks,
            "log_blocks": {e.block_number for e in events}}
    services.commit_range(old_head=head, **args)
    once = check.dump()
    with pytest.raises(services.CursorMoved):
        services.commit_range(old_head=head, **args)  # a second writer with the same range
    assert check.dump() == once
    # an operator puts the cursor back by hand: re-running the range leaves one copy of everything
    IndexerState.objects.update(head_block=head, head_hash="")
    services.commit_range(old_head=head, **args)
    assert check.dump() == once
    assert ContractEvent.objects.count() == len(events) > 20


class FlakyNode:
    """An HTTP proxy in front of anvil that answers 503 to everything after `healthy` requests."""

    def __init__(self, upstream: str, healthy: int) -> None:
        self.upstream, self.healthy, self.requests = upstream, healthy, 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                proxy.requests += 1
                if proxy.requests > proxy.healthy:
                    self.send_error(503, "node down")
                    return
                request = urllib.request.Request(proxy.upstream, data=body,
                                                 headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - local anvil
                    payload = answer.read()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args) -> None:  # noqa: ANN002
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.django_db
def test_the_node_dying_mid_run_leaves_a_consistent_cursor(chain_settings, scenario, check):
    chain = chain_settings
    history = scenario(53)
    history.run(15)
    chain.mine(30)
    history.run(10)
    target = chain.block_number
    deployment = get_deployment()
    services.ensure_state(deployment)
    node = FlakyNode(django_settings.CHAIN_RPC_URL, healthy=60)
    try:
        indexer = Indexer(RpcClient(node.url, 2), EventRegistry.from_deployment(deployment), range_size=1,
                          max_range=1)
        with pytest.raises(RpcUnavailable, match="HTTP 503"):
            indexer.run(to_block=target)
    finally:
        node.close()
    stopped_at = _head()
    assert chain.deployment.start_block < stopped_at < target
    partial = check.dump()
    services.reset_index()
    check.run_indexer(to_block=stopped_at)
    assert check.dump() == partial  # what was committed is exactly an uninterrupted run to that block

    check.run_indexer(to_block=target)
    completed = check.dump()
    services.reset_index()
    check.run_indexer(to_block=target)
    assert check.dump() == completed


@pytest.mark.django_db
def test_a_dead_node_marks_the_indexer_stalled_and_backs_off_without_touching_the_cursor(
        chain_settings, scenario, settings, check, client):
    chain = chain_settings
    history = scenario(51)
    history.run(8)
    assert follow_once()["status"] == "ok"
    healthy = check.dump()
    history.run(4)

    settings.CHAIN_RPC_URL = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    settings.CHAIN_RPC_TIMEOUT = 1
    outcome = follow_once()
    assert outcome["status"] == "error" and "cannot reach" in outcome["error"] and outcome["failures"] == 1
    state = IndexerState.objects.get()
    assert state.failures == 1 and "RpcUnavailable" in state.last_error and state.last_error_at is not None
    assert timezone.now() < state.retry_at <= timezone.now() + timedelta(seconds=2)
    status = selectors.indexer_status()
    assert status["stalled"] is True and status["ok"] is False and status["state"] == "stalled"
    assert "cannot reach" in status["last_error"]
    report = client.get("/healthz")
    assert report.status_code == 503
    assert report.json()["checks"]["indexer"]["stalled"] is True

    assert follow_once() == {"status": "backoff"}  # the next beat ticks wait
    assert IndexerState.objects.get().failures == 1
    assert follow_once(respect_backoff=False)["failures"] == 2  # then the wait doubles
    assert IndexerState.objects.get().retry_at > timezone.now() + timedelta(seconds=3)
    with pytest.raises(CommandError, match="indexing failed"):
        call_command("index_chain", verbosity=0)
    assert check.dump() == healthy  # the cursor and the data did not move

    settings.CHAIN_RPC_URL = chain_settings.w3.provider.endpoint_uri  # the node is back
    outcome = follow_once(respect_backoff=False)
    assert outcome["status"] == "ok" and outcome["head"] == chain.block_number
    status = selectors.indexer_status()
    assert status["stalled"] is False and status["failures"] == 0 and status["lag"] == 0
    assert "cannot reach" in status["last_error"]  # kept for the record, with its time
    check.matches_chain(chain, history.addresses, range(chain.deployment.start_block, outcome["head"] + 1), 10)
