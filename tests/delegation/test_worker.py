"""The queue path: the relay request is enqueued on Redis (default queue) and a real Celery worker process
sends and tracks it on the test chain, from the test database."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from delegation.models import RelayedDelegation, RelayStatus
from delegation.testing import DELEGATE, HOLDER, sign_typed
from govapp.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker(chain_settings, settings, tmp_path):
    """`celery worker -Q default` on the test database, broker and chain (stopped afterwards)."""
    assert settings.CELERY_BROKER_URL.startswith("redis://"), "the queue path needs the Redis broker"
    db = connection.settings_dict
    env = {**os.environ,
           "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
           "CELERY_BROKER_URL": settings.CELERY_BROKER_URL, "CHAIN_RPC_URL": settings.CHAIN_RPC_URL,
           "CHAIN_ID": str(settings.CHAIN_ID), "CHAIN_DEPLOYMENT_FILE": str(settings.CHAIN_DEPLOYMENT_FILE),
           "RELAYER_PRIVATE_KEY": settings.RELAYER_PRIVATE_KEY, "CELERY_TASK_ALWAYS_EAGER": "false"}
    log = tmp_path / "worker.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "govapp", "worker", "-Q", "default", "--pool=solo",
             "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"relay-{uuid.uuid4().hex[:8]}@%h",
             "-l", "INFO"], cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield log
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="a Celery worker process on the test database: the SQLite test database is in memory, "
                           "visible to this process only")
def test_a_worker_relays_from_the_default_queue(client, onchain, worker):
    assert not celery_app.conf.task_always_eager
    ctx = onchain.ctx
    holder, delegatee = ctx.address(HOLDER), ctx.address(DELEGATE)
    onchain.mint(HOLDER, 12)
    typed = client.get(reverse("delegation-api:relay-template"), {"holder": holder, "delegatee": delegatee}).json()
    typed = typed["typed_data"]
    response = client.post(reverse("delegation-api:relay-list"),
                           {"holder": holder, "typed_data": typed, "signature": sign_typed(ctx.key(HOLDER), typed)},
                           content_type="application/json")
    assert response.status_code == 202, response.content
    relay_id = response.json()["id"]
    deadline = time.monotonic() + 60
    relay = RelayedDelegation.objects.get(pk=relay_id)
    while relay.status != RelayStatus.CONFIRMED and time.monotonic() < deadline:
        assert relay.status != RelayStatus.FAILED, relay.failure_reason
        time.sleep(0.3)
        relay = RelayedDelegation.objects.get(pk=relay_id)  # no GET /status: only the worker moves it
    assert relay.status == RelayStatus.CONFIRMED, worker.read_text()[-3000:]
    assert onchain.delegates(holder) == delegatee
    log = worker.read_text()
    assert "delegation.tasks.relay_delegation" in log and "delegation.tasks.track_relay" in log
    assert settings.CELERY_TASK_DEFAULT_QUEUE == "default"
