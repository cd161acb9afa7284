"""A corpus of bad votes, each refused over HTTP with its own error code, and nothing stored: no vote, no
archive entry, no change to any tally. Real signatures (eth-account), real chain index, real EIP-1271 wallet."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from eth_account import Account

from accounts.models import User
from chain import eip712
from proposals import services as proposal_services
from proposals.lifecycle import ProposalKind
from proposals.models import Proposal
from voting import services
from voting.models import Vote

from .conftest import WALLET_OWNER, World, nothing_stored, sign, vote_typed
from .test_snapshot import snapshot_envelope

pytestmark = pytest.mark.django_db

CAST = "/api/votes/"
SNAPSHOT = "/api/votes/snapshot"


@dataclass
class Bad:
    url: str
    body: Any  # JSON-able, or bytes sent as is
    code: str
    status: int


def _post(world: World, index: int = 4, proposal: int = 0, *, mutate: Callable[[dict], None] | None = None,
          resign: bool = True, url: str = CAST, signer: int | None = None) -> Bad:
    p = world.proposals[proposal]
    typed = vote_typed(p.number, world.address(index), 1, "")
    if mutate and resign:
        mutate(typed)
    signature = sign(world.key(signer if signer is not None else index), typed)
    if mutate and not resign:
        mutate(typed)
    return Bad(url, {"typed_data": typed, "signature": signature}, "", 0)


def _expect(bad: Bad, code: str, status: int = 400) -> Bad:
    bad.code, bad.status = code, status
    return bad


def _set(path: str, value: Any) -> Callable[[dict], None]:
    def mutate(typed: dict) -> None:
        target = typed
        *parents, last = path.split(".")
        for name in parents:
            target = target[name]
        target[last] = value
    return mutate


def _high_s(world: World) -> Bad:
    bad = _post(world)
    raw = bytes.fromhex(bad.body["signature"][2:])
    r, s, v = raw[:32], int.from_bytes(raw[32:64], "big"), raw[64]
    flipped = r + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    bad.body["signature"] = "0x" + flipped.hex()
    return _expect(bad, "high_s_signature")


def _replayed_to_other_proposal(world: World) -> Bad:
    bad = _post(world)
    bad.body["typed_data"]["message"]["proposalId"] = world.proposals[1].number
    return _expect(bad, "signer_mismatch")


def _signed_for_other_proposal(world: World) -> Bad:
    bad = _post(world, proposal=1)
    bad.url = f"/api/votes/proposals/{world.proposals[0].number}/"
    return _expect(bad, "proposal_mismatch")


def _timestamp(offset: int) -> Callable[[dict], None]:
    return _set("message.timestamp", int(time.time()) + offset)


def _before_start(world: World) -> Bad:
    p = world.proposals[0]
    Proposal.objects.filter(pk=p.pk).update(voting_starts_at=p.voting_starts_at + timedelta(hours=1))
    return _expect(_post(world), "voting_not_started", 409)


def _after_end(world: World) -> Bad:
    p = world.proposals[0]
    now = timezone.now()
    Proposal.objects.filter(pk=p.pk).update(voting_starts_at=now - timedelta(hours=1),
                                            voting_ends_at=now - timedelta(seconds=1))
    return _expect(_post(world), "voting_ended", 409)


def _signed_before_opening(world: World, settings: Any) -> Bad:
    p = world.proposals[0]
    early = int(p.voting_starts_at.timestamp()) - settings.GOVERNANCE["VOTE_TIMESTAMP_FUTURE_SECONDS"] - 60
    return _expect(_post(world, mutate=_set("message.timestamp", early)), "timestamp_before_start")


def _broken_wallet(world: World) -> Bad:
    world.chain.send(world.wallet.functions.setBroken(True), WALLET_OWNER)
    typed, signature = world.wallet_vote(world.proposals[0])
    return _expect(Bad(CAST, {"typed_data": typed, "signature": signature}, "", 0), "signer_mismatch")


def _wallet_signed_by_stranger(world: World) -> Bad:
    typed = vote_typed(world.proposals[0].number, world.wallet.address, 1, "")
    signature = Account.unsafe_sign_hash(eip712.digest(typed), world.key(5)).signature.to_0x_hex()
    return _expect(Bad(CAST, {"typed_data": typed, "signature": signature}, "", 0), "signer_mismatch")


def _not_in_voting(world: World) -> Bad:
    draft = proposal_services.create_proposal(User.objects.for_address(Account.create().address), title="Draft",
                                              body="Not yet.", kind=ProposalKind.INFORMATIONAL, payload={})
    typed = vote_typed(draft.number, world.address(4))
    return _expect(Bad(CAST, {"typed_data": typed, "signature": sign(world.key(4), typed)}, "", 0),
                   "voting_not_open", 409)


def _duplicate(world: World) -> Bad:
    bad = _post(world)
    services.cast_vote(bad.body["typed_data"], bad.body["signature"])
    return _expect(bad, "duplicate_vote", 409)


def _older_than_stored(world: World) -> Bad:
    newer = _post(world, mutate=_timestamp(-10))
    services.cast_vote(newer.body["typed_data"], newer.body["signature"])
    return _expect(_post(world, mutate=_timestamp(-20)), "stale_vote", 409)


def _snapshot(world: World, code: str, status: int = 400, **changes: Any) -> Bad:
    envelope = snapshot_envelope(world, 4, world.proposals[0], **changes)
    return _expect(Bad(SNAPSHOT, envelope, "", 0), code, status)


def _snapshot_list_choice(world: World) -> Bad:
    bad = _snapshot(world, "wrong_types", types_variant="approval")
    return bad


def _snapshot_from_other(world: World) -> Bad:
    envelope = snapshot_envelope(world, 4, world.proposals[0])
    envelope["address"] = world.address(3)
    return _expect(Bad(SNAPSHOT, envelope, "", 0), "address_mismatch")


CASES: dict[str, Callable[..., Bad]] = {
    "wrong chain id": lambda w, s: _expect(_post(w, mutate=_set("domain.chainId", 1)), "wrong_chain"),
    "wrong domain name": lambda w, s: _expect(_post(w, mutate=_set("domain.name", "other-portal")), "wrong_domain"),
    "wrong domain version": lambda w, s: _expect(_post(w, mutate=_set("domain.version", "2")), "wrong_domain"),
    "wrong verifying contract": lambda w, s: _expect(
        _post(w, mutate=_set("domain.verifyingContract", "0x" + "11" * 20)), "wrong_contract"),
    "extra domain field": lambda w, s: _expect(_post(w, mutate=_set("domain.salt", "0x" + "00" * 32), resign=False),
                                               "wrong_domain"),
    "wrong primary type": lambda w, s: _expect(_post(w, mutate=_set("primaryType", "Veto"), resign=False),
                                               "wrong_primary_type"),
    "reordered types": lambda w, s: _expect(
        _post(w, mutate=lambda t: t["types"]["Vote"].reverse()), "wrong_types"),
    "extra message field": lambda w, s: _expect(_post(w, mutate=_set("message.extra", "x")), "invalid_message"),
    "voter not an address": lambda w, s: _expect(_post(w, mutate=_set("message.voter", "0x1234"), resign=False),
                                                 "invalid_address"),
    "signature for another proposal": lambda w, s: _signed_for_other_proposal(w),
    "valid vote replayed to another proposal": lambda w, s: _replayed_to_other_proposal(w),
    "tampered message": lambda w, s: _expect(_post(w, mutate=_set("message.support", 0), resign=False),
                                             "signer_mismatch"),
    "signer is not the claimed voter": lambda w, s: _expect(_post(w, signer=5), "signer_mismatch"),
    "timestamp too old": lambda w, s: _expect(
        _post(w, mutate=_timestamp(-s.GOVERNANCE["VOTE_TIMESTAMP_PAST_SECONDS"] - 60)), "timestamp_too_old"),
    "timestamp in the future": lambda w, s: _expect(
        _post(w, mutate=_timestamp(s.GOVERNANCE["VOTE_TIMESTAMP_FUTURE_SECONDS"] + 60)), "timestamp_in_future"),
    "signed before the vote opened": lambda w, s: _signed_before_opening(w, s),
    "before start": lambda w, s: _before_start(w),
    "after end": lambda w, s: _after_end(w),
    "zero voting power (no tokens)": lambda w, s: _expect(_post(w, index=8), "zero_voting_power", 403),
    "zero voting power (never delegated)": lambda w, s: _expect(_post(w, index=9), "zero_voting_power", 403),
    "truncated signature": lambda w, s: _expect(
        (lambda b: (b.body.update(signature=b.body["signature"][:-2]), b)[1])(_post(w)), "bad_signature"),
    "garbage signature": lambda w, s: _expect(
        (lambda b: (b.body.update(signature="0x" + "zz" * 65), b)[1])(_post(w)), "bad_signature"),
    "signature not hex-prefixed": lambda w, s: _expect(
        (lambda b: (b.body.update(signature=b.body["signature"][2:]), b)[1])(_post(w)), "bad_signature"),
    "high-s signature": lambda w, s: _high_s(w),
    "EIP-1271 wallet answering a wrong value": lambda w, s: _broken_wallet(w),
    "EIP-1271 wallet, signature by a non-owner": lambda w, s: _wallet_signed_by_stranger(w),
    "oversized reason": lambda w, s: _expect(
        _post(w, mutate=_set("message.reason", "x" * (s.GOVERNANCE["VOTE_REASON_MAX_CHARS"] + 1))),
        "reason_too_long"),
    "reason with a lone surrogate (no UTF-8 form)": lambda w, s: _expect(
        _post(w, mutate=_set("message.reason", "\ud800"), resign=False), "invalid_field"),
    "unknown support value": lambda w, s: _expect(_post(w, mutate=_set("message.support", 3)), "invalid_support"),
    "unknown proposal": lambda w, s: _expect(_post(w, mutate=_set("message.proposalId", 99_999)),
                                             "unknown_proposal", 404),
    "proposal not in Voting": lambda w, s: _not_in_voting(w),
    "duplicate (same signature again)": lambda w, s: _duplicate(w),
    "older timestamp than the stored vote": lambda w, s: _older_than_stored(w),
    "malformed JSON": lambda w, s: Bad(CAST, b'{"typed_data": {', "malformed_request", 400),
    "body is not an object": lambda w, s: Bad(CAST, [1, 2], "malformed_request", 400),
    "no signature": lambda w, s: _expect((lambda b: (b.body.pop("signature"), b)[1])(_post(w)), "malformed_vote"),
    "Snapshot: wrong types (choice uint32[])": lambda w, s: _snapshot_list_choice(w),
    "Snapshot: wrong space": lambda w, s: _snapshot(w, "wrong_space", space="someone-else.eth"),
    "Snapshot: wrong domain version": lambda w, s: _snapshot(w, "wrong_domain", domain_version="0.1.3"),
    "Snapshot: from is not the sender": lambda w, s: _snapshot_from_other(w),
    "Snapshot: unknown choice": lambda w, s: _snapshot(w, "invalid_choice", choice=4),
    "Snapshot: unknown proposal": lambda w, s: _snapshot(w, "unknown_proposal", 404, proposal_field="not-a-proposal"),
    "Snapshot: signed by someone else": lambda w, s: _snapshot(w, "signer_mismatch", signer=5),
    "Snapshot: missing metadata field": lambda w, s: _snapshot(w, "invalid_message", drop="metadata"),
}


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_vote_is_refused_with_its_code_and_nothing_is_stored(world, settings, client, name):
    bad = CASES[name](world, settings)
    body = bad.body if isinstance(bad.body, bytes) else json.dumps(bad.body)
    with nothing_stored():
        response = client.post(bad.url, body, content_type="application/json")
    assert response.status_code == bad.status, response.content
    error = response.json()["error"]
    assert error["code"] == bad.code, error
    assert error["message"]
    assert bad.code in services.ERROR_CODES and services.ERROR_CODES[bad.code] == bad.status


def test_the_corpus_is_large_and_varied():
    assert len(CASES) >= 25


def test_the_unmodified_vote_of_the_corpus_is_accepted(world, client):
    bad = _post(world)
    before = Vote.objects.count()
    response = client.post(bad.url, json.dumps(bad.body), content_type="application/json")
    assert response.status_code == 201, response.content
    assert Vote.objects.count() == before + 1
