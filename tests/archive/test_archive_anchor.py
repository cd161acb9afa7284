"""Anchoring on anvil: the head goes on chain, the verifier checks an export against it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from archive.anchoring import AnchorMismatch, anchor_head
from archive.models import Anchor
from archive.testing import export_bytes, failure_of, rewrite_export
from archive.verify import read_anchors

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


def verifier(path: Path, rpc_url: str, address: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
    return subprocess.run([sys.executable, "-m", "archive.verify", str(path), "--anchor-rpc", rpc_url,
                           "--anchor-address", address], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)


def test_anchor_head_and_verify_against_the_chain(chain, builder, accounts, tmp_path):
    contract = chain.anchor
    rpc_url = chain.w3.provider.endpoint_uri
    assert anchor_head(w3=chain.w3, contract=contract, key=chain.deployer_key) is None  # empty archive

    builder.story("7")
    first = anchor_head(w3=chain.w3, contract=contract, key=chain.deployer_key)
    head = builder.recorded[-1]
    assert (first.sequence, first.head_hash) == (head.sequence, head.hash)
    assert first.tx_hash.startswith("0x") and first.block_number > 0 and first.chain_id == 31337
    sequence, head_hash, count = contract.functions.latest().call()
    assert (sequence, bytes(head_hash).hex(), count) == (head.sequence, head.hash, 1)
    assert anchor_head(w3=chain.w3, contract=contract, key=chain.deployer_key) is None  # nothing new
    Anchor.objects.all().delete()  # even without our own record, the chain says: nothing new
    assert anchor_head(w3=chain.w3, contract=contract, key=chain.deployer_key) is None

    builder.vote(accounts[1], "9", "for", 1)
    builder.statement(accounts[2])
    second = anchor_head(w3=chain.w3, contract=contract, key=chain.deployer_key)
    assert second.sequence == head.sequence + 2 and Anchor.objects.count() == 1

    anchors, latest, latest_hash = read_anchors(rpc_url, contract.address)
    assert anchors == {first.sequence: first.head_hash, second.sequence: second.head_hash}
    assert (latest, latest_hash) == (second.sequence, second.head_hash)

    data = export_bytes()
    path = tmp_path / "export.jsonl"
    path.write_bytes(data)
    result = verifier(path, rpc_url, contract.address)
    assert result.returncode == 0, result.stderr
    assert "2 on-chain anchors matched" in result.stdout

    # a rewritten past (consistent hash chain, valid signatures) fails at the first anchored entry
    def retitle(body):
        body["payload"]["title"] = "A different proposal"

    forged = rewrite_export(data, 1, retitle)
    assert failure_of(forged) is None  # offline, the rewrite is self-consistent ...
    path.write_bytes(forged)
    result = verifier(path, rpc_url, contract.address)
    assert result.returncode == 1  # ... but not with the chain
    assert f"entry {first.sequence}" in result.stderr and "differs from the on-chain anchor" in result.stderr

    # an export cut before the latest anchor (with a matching trailer) is stale
    stale = rewrite_export(b"\n".join(data.splitlines()[: first.sequence]), first.sequence + 99, lambda b: None)
    assert failure_of(stale) is None
    path.write_bytes(stale)
    result = verifier(path, rpc_url, contract.address)
    assert result.returncode == 1 and "stale or truncated" in result.stderr


def test_anchoring_refuses_a_chain_that_disagrees(chain, builder):
    contract = chain.anchor
    builder.created("1")
    chain.send(contract.functions.anchor(1, b"\x11" * 32), chain.deployer_key)  # someone else's archive
    with pytest.raises(AnchorMismatch):
        anchor_head(w3=chain.w3, contract=contract, key=chain.deployer_key)
    assert not Anchor.objects.exists()


def test_celery_task_uses_the_portal_settings(chain, builder, settings, tmp_path):
    from archive.tasks import anchor_head as task
    from chain.deploy import write_deployment_file

    settings.CHAIN_RPC_URL = chain.w3.provider.endpoint_uri
    settings.CHAIN_DEPLOYMENT_FILE = write_deployment_file(tmp_path / "deployment.json", chain.deployment, 31337)
    settings.DEPLOYER_PRIVATE_KEY = chain.deployer_key
    builder.created("1")
    result = task.apply().get()
    assert result["sequence"] == 1 and result["head_hash"] == builder.recorded[-1].hash
    assert task.apply().get() is None
    assert task.name == "archive.tasks.anchor_head"
