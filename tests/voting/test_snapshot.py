"""Snapshot-format votes built exactly as snapshot.js `Client712.vote` builds them, accepted and counted."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from eth_account import Account

from archive.models import ArchiveEntry
from archive.verify import signed_problem
from voting import services
from voting.models import Support, Tally, Vote, VoteFormat
from voting.signatures import snapshot_digest

from .conftest import T

pytestmark = pytest.mark.django_db

SNAPSHOT_DOMAIN = {"name": "snapshot", "version": "0.1.4"}


def snapshot_types(from_type: str = "string", proposal_type: str = "string", choice_type: str = "uint32"
                   ) -> dict[str, list[dict[str, str]]]:
    """snapshot.js voteTypes / vote2Types (and the array form used for approval votes)."""
    return {"Vote": [{"name": "from", "type": from_type}, {"name": "space", "type": "string"},
                     {"name": "timestamp", "type": "uint64"}, {"name": "proposal", "type": proposal_type},
                     {"name": "choice", "type": choice_type}, {"name": "reason", "type": "string"},
                     {"name": "app", "type": "string"}, {"name": "metadata", "type": "string"}]}


def snapshot_envelope(world: Any, index: int, proposal: Any, *, space: str | None = None, choice: Any = 1,
                      proposal_field: str | None = None, from_type: str = "string", reason: str = "",
                      types_variant: str = "single-choice", domain_version: str = "0.1.4", signer: int | None = None,
                      drop: str | None = None, timestamp: int | None = None) -> dict[str, Any]:
    """What Client712.vote(web3, address, {space, proposal, type, choice, reason, app}) POSTs.

    Like snapshot.js: from = address, timestamp = now (seconds), reason/app default "", metadata "{}";
    a proposal starting with 0x uses the bytes32 type (vote2Types); the wallet signs with
    ethers' _signTypedData(domain, types, message) — the EIP712Domain type is derived from the domain.
    """
    address = world.address(index)
    message = {"space": space or services.snapshot_space(),
               "proposal": proposal_field if proposal_field is not None else str(proposal.number),
               "choice": choice, "reason": reason, "app": "snapshot", "metadata": "{}",
               "from": address, "timestamp": int(time.time()) if timestamp is None else timestamp}
    proposal_type = "bytes32" if message["proposal"].startswith("0x") else "string"
    if types_variant == "approval":
        types = snapshot_types(from_type, proposal_type, "uint32[]")
        message["choice"] = [1, 2]
    else:
        types = snapshot_types(from_type, proposal_type)
    domain = {"name": "snapshot", "version": domain_version}
    key = world.key(signer if signer is not None else index)
    sig = Account.sign_typed_data(key, domain, types, message).signature.to_0x_hex()
    if drop:
        message.pop(drop)  # after signing: a client that lost a field on the way
    return {"address": address, "sig": sig, "data": {"domain": domain, "types": types, "message": message}}


def test_a_snapshot_js_vote_is_accepted_and_counted(world, client):
    p = world.proposals[0]
    envelope = snapshot_envelope(world, 4, p, choice=2, reason="Against, via Snapshot")
    response = client.post("/api/votes/snapshot", json.dumps(envelope), content_type="application/json")
    assert response.status_code == 200, response.content
    body = response.json()
    vote = Vote.objects.get(pk=body["id"])
    full = {"types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}],
                      **envelope["data"]["types"]},
            "primaryType": "Vote", "domain": SNAPSHOT_DOMAIN, "message": envelope["data"]["message"]}
    assert body["id"] == "0x" + snapshot_digest(full).hex()
    assert (vote.format, vote.support, vote.weight, vote.voter) == (VoteFormat.SNAPSHOT, Support.AGAINST, T(300),
                                                                     world.address(4))
    assert int(Tally.objects.get(pk=p.pk).against_power) == T(300)
    entry = ArchiveEntry.objects.get(sequence=vote.archive_sequence)
    assert entry.payload["format"] == "snapshot" and entry.payload["support"] == "against"
    assert signed_problem(entry.signed) is None  # the standalone verifier re-checks it


@pytest.mark.parametrize("from_type, bytes32", [("string", False), ("address", False), ("address", True),
                                                ("string", True)])
def test_older_snapshot_type_forms_are_accepted(world, from_type, bytes32):
    p = world.proposals[1]
    field = "0x" + p.number.to_bytes(32, "big").hex() if bytes32 else None
    envelope = snapshot_envelope(world, 3, p, choice=3, from_type=from_type, proposal_field=field)
    receipt = services.cast_snapshot_vote(envelope)
    assert receipt.vote.support == Support.ABSTAIN and receipt.vote.proposal_id == p.pk


def test_a_snapshot_vote_and_a_portal_vote_replace_each_other_by_timestamp(world):
    p = world.proposals[0]
    now = int(time.time())
    services.cast_snapshot_vote(snapshot_envelope(world, 3, p, choice=1, timestamp=now - 20))
    typed, sig = world.vote(3, p, support=0)
    receipt = services.cast_vote(typed, sig)
    assert receipt.replaced is not None and receipt.replaced.format == VoteFormat.SNAPSHOT
    assert int(Tally.objects.get(pk=p.pk).against_power) == T(100)
    assert int(Tally.objects.get(pk=p.pk).for_power) == 0
