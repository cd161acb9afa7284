"""The chain index API: voting power at a block, account history, indexer status — and every error code."""

from __future__ import annotations

import pytest
from web3 import Web3

from chain import selectors

pytestmark = pytest.mark.django_db


@pytest.fixture
def indexed(index, scenario, chain_settings):
    history = scenario(61)
    history.run(15)
    result = index()
    chain_settings.mine()
    return history, result


def _past_votes(chain, address: str, block: int) -> int:
    return chain.token.functions.getPastVotes(address, block).call()


def test_voting_power_at_a_block_and_at_the_head(client, indexed, chain_settings):
    history, result = indexed
    chain = chain_settings
    voters = [a for a in history.addresses if _past_votes(chain, a, result.head) > 0]
    assert voters
    address = voters[0]
    for block in (chain.deployment.start_block, result.head // 2, result.head):
        response = client.get("/api/voting-power", {"address": address.lower(), "block": block})
        assert response.status_code == 200, response.content
        body = response.json()
        assert body == {"address": address, "block": block, "voting_power": str(_past_votes(chain, address, block)),
                        "indexed_head": result.head}
    at_head = client.get("/api/voting-power", {"address": address}).json()
    assert at_head["block"] == result.head and at_head["voting_power"] == str(_past_votes(chain, address, result.head))
    assert int(at_head["voting_power"]) > 0


@pytest.mark.parametrize(("params", "status", "code"), [
    ({}, 400, "invalid_address"),
    ({"address": "0x1234"}, 400, "invalid_address"),
    ({"address": "not an address"}, 400, "invalid_address"),
    ({"address": "0x52908400098527886E0F7030069857D2E4169eE7"}, 400, "invalid_address"),  # bad EIP-55 checksum
    ({"address": "0x52908400098527886e0f7030069857d2e4169ee7", "block": "abc"}, 400, "invalid_block"),
    ({"address": "0x52908400098527886e0f7030069857d2e4169ee7", "block": "-1"}, 400, "invalid_block"),
    ({"address": "0x52908400098527886e0f7030069857d2e4169ee7", "block": "1.5"}, 400, "invalid_block"),
    ({"address": "0x52908400098527886e0f7030069857d2e4169ee7", "block": "10000000"}, 409, "block_not_indexed"),
])
def test_voting_power_errors(client, indexed, params, status, code):
    _, result = indexed
    response = client.get("/api/voting-power", params)
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code and error["message"]
    if code == "block_not_indexed":
        assert error["details"] == {"indexed_head": result.head}


def test_nothing_indexed_yet_is_block_not_indexed(client, chain_settings):
    response = client.get("/api/voting-power", {"address": chain_settings.address(0)})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "block_not_indexed"
    assert client.get("/api/indexer/status").json()["state"] == "not_started"


def test_account_history_is_paginated_newest_first(client, indexed, chain_settings):
    history, _ = indexed
    # the account with the most checkpoints
    counts = {a: selectors.account_history_count(a) for a in history.addresses}
    address = max(counts, key=counts.get)
    total = counts[address]
    assert total > 5
    first = client.get(f"/api/accounts/{address.lower()}/history", {"limit": 4})
    assert first.status_code == 200
    page = first.json()
    assert page["count"] == total and len(page["results"]) == 4 and page["next"] and page["previous"] is None
    rest = client.get(f"/api/accounts/{address}/history", {"limit": 500, "offset": 4}).json()["results"]
    entries = page["results"] + rest
    assert len(entries) == total
    blocks = [e["block"] for e in entries]
    assert blocks == sorted(blocks, reverse=True)
    assert {e["kind"] for e in entries} <= {"balance", "delegate", "votes"}
    token = chain_settings.token
    for entry in entries:  # each value is the chain's value at the end of that block
        if entry["kind"] == "balance":
            assert int(entry["value"]) == token.functions.balanceOf(address).call(block_identifier=entry["block"])
        elif entry["kind"] == "votes":
            assert int(entry["value"]) == _past_votes(chain_settings, address, entry["block"])
        else:
            delegate = token.functions.delegates(address).call(block_identifier=entry["block"])
            assert entry["value"] == (None if int(delegate, 16) == 0 else Web3.to_checksum_address(delegate))
    unknown = client.get("/api/accounts/0x000000000000000000000000000000000000dEaD/history").json()
    assert unknown["count"] == 0 and unknown["results"] == []
    bad = client.get("/api/accounts/0xnothex/history")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_address"


def test_indexer_status_endpoint(client, indexed, chain_settings):
    _, result = indexed
    body = client.get("/api/indexer/status").json()
    assert body["head_block"] == result.head and body["state"] == "following" and body["ok"] is True
    assert body["lag"] == 0 and body["stalled"] is False and body["failures"] == 0
    assert set(body) >= {"chain_block", "last_advanced_at", "checked_at", "last_error", "reorgs", "confirmations"}


def test_the_schema_documents_the_endpoints_and_their_errors(client, db):
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    paths = schema["paths"]
    assert {"/api/voting-power", "/api/accounts/{address}/history", "/api/indexer/status"} <= set(paths)
    voting = paths["/api/voting-power"]["get"]
    assert {"200", "400", "409"} <= set(voting["responses"])
    assert "block_not_indexed" in voting["description"]
