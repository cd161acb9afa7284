"""Gasless delegation: a holder's delegateBySig relayed by the portal on the real anvil chain.

Nothing is mocked: signatures are made with the dev keys, the relayer sends from RELAYER_PRIVATE_KEY,
the indexer (chain.indexer.follow_once) reads the chain, and the directory is rebuilt from its tables.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.urls import reverse

from delegation import directory, relayer
from delegation import token as T
from delegation.models import RelayedDelegation, RelayStatus
from delegation.testing import DELEGATE, HOLDER, OTHER, sign_typed
from govapp.celery import app as celery_app

TEMPLATE = reverse("delegation-api:relay-template")
RELAY = reverse("delegation-api:relay-list")


@pytest.fixture
def eager_celery():
    """Run tasks in-process, as a worker would (no broker round trip in tests)."""
    before = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


def index_chain() -> None:
    from chain.indexer import follow_once

    result = follow_once(respect_backoff=False)
    assert result["status"] == "ok", result
    directory.refresh_all()


def template_for(api, holder: str, delegatee: str) -> dict:
    response = api.get(TEMPLATE, holder=holder, delegatee=delegatee)
    assert response.status_code == 200, response.content
    return response.json()["typed_data"]


@pytest.mark.django_db
def test_relayed_delegation_lands_on_chain_and_the_directory_shows_it(
        api, onchain, relayer_address, eager_celery, django_capture_on_commit_callbacks):
    ctx = onchain.ctx
    holder, delegatee = ctx.address(HOLDER), ctx.address(DELEGATE)
    amount = onchain.mint(HOLDER, 1234)
    index_chain()
    listing = api.get(reverse("delegation-api:list")).json()
    assert delegatee not in [row["address"] for row in listing["results"]]

    typed = template_for(api, holder.lower(), delegatee)
    token = ctx.token
    assert typed["primaryType"] == "Delegation"
    assert typed["domain"] == {"name": token.functions.name().call(), "version": "1",
                               "chainId": ctx.w3.eth.chain_id, "verifyingContract": token.address}
    assert typed["message"]["delegatee"] == delegatee and typed["message"]["nonce"] == 0
    assert typed["message"]["expiry"] > ctx.timestamp
    holder_txs, relayer_txs = onchain.tx_count(holder), onchain.tx_count(relayer_address)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = api.post(RELAY, {"holder": holder, "typed_data": typed, "signature": sign_typed(ctx.key(HOLDER),
                                                                                                    typed)})
    assert response.status_code == 202, response.content
    body = response.json()
    assert body["status"] == "requested" and body["holder"] == holder and body["delegatee"] == delegatee
    assert onchain.tx_count(relayer_address) == relayer_txs  # accepting sends nothing
    assert len(callbacks) == 1

    callbacks[0]()  # the commit hook: enqueue -> (eager) relay_delegation -> submit -> track
    relay = RelayedDelegation.objects.get(pk=body["id"])
    assert relay.status == RelayStatus.CONFIRMED, (relay.failure_code, relay.failure_reason)
    assert relay.relayer == relayer_address and relay.relayer_nonce == relayer_txs
    receipt = ctx.w3.eth.get_transaction_receipt(relay.tx_hash)
    assert receipt["status"] == 1 and receipt["from"] == relayer_address
    assert receipt["blockNumber"] == relay.block_number
    assert onchain.tx_count(relayer_address) == relayer_txs + 1
    assert onchain.tx_count(holder) == holder_txs  # gasless for the holder
    assert onchain.delegates(holder) == delegatee and onchain.votes(delegatee) == amount
    assert onchain.nonce(holder) == 1

    status = api.get(body["status_url"]).json()
    assert status["status"] == "confirmed" and status["tx_hash"] == relay.tx_hash

    index_chain()
    listing = api.get(reverse("delegation-api:list")).json()
    row = next(r for r in listing["results"] if r["address"] == delegatee)
    assert row["voting_power"] == str(amount) and row["delegator_count"] == 1
    assert row["share_bps"] == 10_000  # the only votes there are
    page = api.get(reverse("delegation:directory"))
    assert delegatee.encode() in page.content and b"1,234.00" in page.content
    detail = api.get(reverse("delegation-api:detail", args=[delegatee])).json()
    assert detail["voting_power"] == str(amount) and detail["delegator_count"] == 1
    delegators = api.get(reverse("delegation-api:delegators", args=[delegatee])).json()["results"]
    assert delegators == [{"address": holder, "balance": str(amount)}]


# --- refusals: each its own code, nothing sent -----------------------------------------------------------

def _expired(ctx, typed):
    typed["message"]["expiry"] = ctx.timestamp - 1


def _wrong_nonce(ctx, typed):
    typed["message"]["nonce"] = typed["message"]["nonce"] + 1


def _wrong_chain(ctx, typed):
    typed["domain"]["chainId"] = 1


def _wrong_contract(ctx, typed):
    typed["domain"]["verifyingContract"] = ctx.deployment.executor_address


def _wrong_name(ctx, typed):
    typed["domain"]["name"] = "govapp"


@pytest.mark.django_db
@pytest.mark.parametrize(("mutate", "signer", "code", "status"), [
    (_expired, HOLDER, "signature_expired", 400),
    (_wrong_nonce, HOLDER, "wrong_nonce", 409),
    (_wrong_chain, HOLDER, "wrong_chain", 400),
    (_wrong_contract, HOLDER, "wrong_contract", 400),
    (_wrong_name, HOLDER, "wrong_domain", 400),
    (None, OTHER, "signer_mismatch", 400),
])
def test_bad_relay_requests_are_refused_and_nothing_is_sent(
        api, onchain, relayer_address, django_capture_on_commit_callbacks, mutate, signer, code, status):
    ctx = onchain.ctx
    holder, delegatee = ctx.address(HOLDER), ctx.address(DELEGATE)
    onchain.mint(HOLDER, 10)
    typed = template_for(api, holder, delegatee)
    if mutate:
        mutate(ctx, typed)
    nonce, relayer_txs = onchain.nonce(holder), onchain.tx_count(relayer_address)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api.post(RELAY, {"holder": holder, "typed_data": typed, "signature": sign_typed(ctx.key(signer),
                                                                                                    typed)})
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code
    assert callbacks == []
    assert not RelayedDelegation.objects.exists()
    assert onchain.nonce(holder) == nonce and onchain.tx_count(relayer_address) == relayer_txs
    assert onchain.delegates(holder) == "0x" + "0" * 40


@pytest.mark.django_db
def test_holder_without_tokens_and_duplicate_relays_are_refused(api, onchain, relayer_address):
    ctx = onchain.ctx
    holder, delegatee = ctx.address(HOLDER), ctx.address(DELEGATE)
    typed = template_for(api, holder, delegatee)
    body = {"holder": holder, "typed_data": typed, "signature": sign_typed(ctx.key(HOLDER), typed)}
    response = api.post(RELAY, body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "no_balance"
    onchain.mint(HOLDER, 5)
    first = api.post(RELAY, body)
    assert first.status_code == 202
    again = api.post(RELAY, body)
    assert again.status_code == 409 and again.json()["error"]["code"] == "relay_pending"
    assert RelayedDelegation.objects.count() == 1
    missing = api.get(reverse("delegation-api:relay-detail", args=["00000000-0000-0000-0000-000000000000"]))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "relay_not_found"


@pytest.mark.django_db
def test_malformed_relay_requests_are_refused(api, onchain):
    ctx = onchain.ctx
    onchain.mint(HOLDER, 5)
    typed = template_for(api, ctx.address(HOLDER), ctx.address(DELEGATE))
    signature = sign_typed(ctx.key(HOLDER), typed)
    cases = [
        ({"holder": "0x1234", "typed_data": typed, "signature": signature}, "invalid_address"),
        ({"holder": ctx.address(HOLDER), "typed_data": {**typed, "primaryType": "Permit"}, "signature": signature},
         "wrong_primary_type"),
        ({"holder": ctx.address(HOLDER), "typed_data": typed, "signature": "0x1234"}, "bad_signature"),
        ({"holder": ctx.address(HOLDER), "typed_data": typed}, "validation_error"),
    ]
    for body, code in cases:
        response = api.post(RELAY, body)
        assert response.status_code == 400 and response.json()["error"]["code"] == code, (code, response.content)
    assert api.get(TEMPLATE, holder="nope", delegatee=ctx.address(DELEGATE)).json()["error"]["code"] == \
        "invalid_address"
    assert not RelayedDelegation.objects.exists()


@pytest.mark.django_db
def test_the_relayer_checks_again_before_sending(api, onchain, relayer_address, django_capture_on_commit_callbacks):
    """A signature accepted earlier but no longer valid on chain (nonce used, or expired) is never sent."""
    ctx = onchain.ctx
    holder, delegatee = ctx.address(HOLDER), ctx.address(DELEGATE)
    onchain.mint(HOLDER, 5)
    typed = template_for(api, holder, delegatee)
    with django_capture_on_commit_callbacks(execute=False):
        accepted = api.post(RELAY, {"holder": holder, "typed_data": typed,
                                    "signature": sign_typed(ctx.key(HOLDER), typed)}).json()
    # Meanwhile the holder's nonce is used by another delegateBySig (sent by someone else).
    other = template_for(api, holder, ctx.address(OTHER))
    v, r, s = relayer._split(sign_typed(ctx.key(HOLDER), other))
    ctx.send(ctx.token.functions.delegateBySig(other["message"]["delegatee"], other["message"]["nonce"],
                                               other["message"]["expiry"], v, r, s), OTHER)
    relayer_txs = onchain.tx_count(relayer_address)
    relay = relayer.submit(accepted["id"])
    assert relay.status == RelayStatus.FAILED and relay.failure_code == "wrong_nonce" and relay.tx_hash == ""
    assert onchain.tx_count(relayer_address) == relayer_txs

    typed = template_for(api, holder, delegatee)
    with django_capture_on_commit_callbacks(execute=False):
        accepted = api.post(RELAY, {"holder": holder, "typed_data": typed,
                                    "signature": sign_typed(ctx.key(HOLDER), typed)}).json()
    ctx.increase_time(2 * 3600)
    relay = relayer.submit(accepted["id"])
    assert relay.status == RelayStatus.FAILED and relay.failure_code == "signature_expired"
    assert onchain.tx_count(relayer_address) == relayer_txs
    status = api.get(accepted["status_url"]).json()
    assert status["status"] == "failed" and "expired" in status["failure_reason"]
    assert onchain.delegates(holder) == ctx.address(OTHER)


@pytest.mark.django_db
def test_a_lost_broadcast_is_sent_again_from_the_persisted_transaction(
        api, onchain, relayer_address, django_capture_on_commit_callbacks):
    """Hash, nonce and raw tx are stored before the broadcast: if the node loses it, track() resends it."""
    ctx = onchain.ctx
    holder, delegatee = ctx.address(HOLDER), ctx.address(DELEGATE)
    onchain.mint(HOLDER, 7)
    typed = template_for(api, holder, delegatee)
    with django_capture_on_commit_callbacks(execute=False):
        accepted = api.post(RELAY, {"holder": holder, "typed_data": typed,
                                    "signature": sign_typed(ctx.key(HOLDER), typed)}).json()
    ctx.rpc("evm_setAutomine", False)
    try:
        relay = relayer.submit(accepted["id"])
        assert relay.status == RelayStatus.SUBMITTED and relay.tx_hash and relay.raw_tx
        assert relay.relayer_nonce == ctx.w3.eth.get_transaction_count(relayer_address, "latest")
        ctx.rpc("anvil_dropTransaction", relay.tx_hash)  # the node forgets it (a crash, a restart, ...)
        assert relayer.track(relay.pk).status == RelayStatus.SUBMITTED  # not found: sent again
        ctx.mine()
    finally:
        ctx.rpc("evm_setAutomine", True)
    relay = relayer.track(relay.pk)
    assert relay.status == RelayStatus.CONFIRMED
    assert onchain.delegates(holder) == delegatee


@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_get_consecutive_relayer_nonces(api, onchain, relayer_address,
                                                          django_capture_on_commit_callbacks):
    """Four workers send at once: the per-key lock gives each its own nonce, all four land."""
    ctx = onchain.ctx
    holders = [3, 5, 6, 8]
    ids = []
    for index in holders:
        onchain.mint(index, 3)
        typed = template_for(api, ctx.address(index), ctx.address(DELEGATE))
        with django_capture_on_commit_callbacks(execute=False):
            response = api.post(RELAY, {"holder": ctx.address(index), "typed_data": typed,
                                        "signature": sign_typed(ctx.key(index), typed)})
        assert response.status_code == 202, response.content
        ids.append(response.json()["id"])
    start = onchain.tx_count(relayer_address)
    barrier = threading.Barrier(len(ids))
    errors: list[BaseException] = []

    def work(relay_id: str) -> None:
        try:
            barrier.wait()
            relayer.submit(relay_id)
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(relay_id,)) for relay_id in ids]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors
    relays = [relayer.track(relay_id) for relay_id in ids]
    assert [r.status for r in relays] == [RelayStatus.CONFIRMED] * 4, [(r.failure_code, r.failure_reason)
                                                                         for r in relays]
    assert sorted(r.relayer_nonce for r in relays) == list(range(start, start + 4))
    assert onchain.tx_count(relayer_address) == start + 4
    for index in holders:
        assert onchain.delegates(ctx.address(index)) == ctx.address(DELEGATE)


@pytest.mark.django_db
def test_template_reads_the_token_domain_and_nonce(api, onchain):
    ctx = onchain.ctx
    holder = ctx.address(HOLDER)
    typed = template_for(api, holder, ctx.address(DELEGATE))
    assert typed["types"]["Delegation"] == T.DELEGATION_TYPE
    assert T.recover_holder(typed, sign_typed(ctx.key(HOLDER), typed)) == holder
    # The calldata of the direct flow, checked against web3's encoder.
    expected = ctx.token.functions.delegate(ctx.address(DELEGATE))._encode_transaction_data()
    assert T.delegate_calldata(ctx.address(DELEGATE)) == expected
