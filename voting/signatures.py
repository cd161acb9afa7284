"""Signature checks of votes: the portal's EIP-712 `Vote` (fast path) and Snapshot envelopes.

Portal votes
    `verify_vote(typed_data, signature)` accepts exactly what `chain.signing.verify_signed("Vote", ...,
    "voter")` accepts, faster: when the typed data is the plain, well-formed case (the portal's types
    and domain, integer fields, a checksummed or one-case voter, a 65-byte low-s signature by that
    voter) it hashes the message with the cached type hash and domain separator and recovers the
    signer with coincurve directly. Anything else — a contract wallet (EIP-1271), a refusal — takes
    `verify_signed`, which gives the error code and asks contract wallets on chain. The fast path
    never accepts what the reference path refuses (tests compare both on many inputs).

Snapshot envelopes
    `verify_snapshot(envelope)` checks the `{address, sig, data: {domain, types, message}}` that
    snapshot.js `Client712.vote` posts: domain {name: "snapshot", version: "0.1.4"} (no chain id),
    the `Vote` type in one of the forms snapshot.js has used (from: string | address, proposal:
    string | bytes32), and the signature over the EIP-712 digest computed by eth-account's
    `encode_typed_data` (the types vary); EOAs by ecrecover (low-s), contract wallets by EIP-1271.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from eth_utils import is_address, to_checksum_address

from chain import eip712
from chain.signing import SignatureError, VerifiedMessage, eip1271_valid, verify_signed

keccak256 = eip712.keccak256

VOTE_FIELDS = eip712.TYPES["Vote"]
VOTE_TYPES = {"EIP712Domain": eip712.EIP712_DOMAIN_FIELDS, "Vote": VOTE_FIELDS}
_VOTE_KEYS = frozenset(f["name"] for f in VOTE_FIELDS)
_HASH_VOTE = eip712.struct_hasher("Vote")  # generated from chain.eip712.TYPES["Vote"]
_HALF_N = eip712.SECP256K1_N // 2
_N = eip712.SECP256K1_N


# --------------------------------------------------------------------------- the portal's domain
@lru_cache(maxsize=8)
def _domain_for(chain_id: int, deployment_file: str, _mtime: float) -> tuple[dict[str, Any], bytes]:
    from chain.signing import portal_domain

    domain = portal_domain()
    separator = eip712.hash_struct("EIP712Domain", eip712.EIP712_DOMAIN_FIELDS, domain)
    return domain, separator


_config: tuple[int, str] | None = None  # (CHAIN_ID, CHAIN_DEPLOYMENT_FILE), forgotten when a test changes them


@receiver(setting_changed)
def _forget_config(setting: str, **kwargs: Any) -> None:
    global _config
    if setting in ("CHAIN_ID", "CHAIN_DEPLOYMENT_FILE"):
        _config = None


def portal_domain_cached() -> tuple[dict[str, Any], bytes]:
    """(the portal's EIP-712 domain, its domain separator), re-read when the deployment file changes."""
    global _config
    config = _config
    if config is None:
        config = _config = (int(settings.CHAIN_ID), str(settings.CHAIN_DEPLOYMENT_FILE))
    try:
        mtime = os.stat(config[1]).st_mtime
    except OSError:
        mtime = 0.0
    return _domain_for(config[0], config[1], mtime)


# --------------------------------------------------------------------------- fast path
def _signature_bytes(signature: Any) -> bytes | None:
    """r ‖ s ‖ recid of a plain 65-byte low-s signature, else None (the reference path decides)."""
    if type(signature) is not str or len(signature) != 132 or signature[:2] != "0x":
        return None
    try:
        raw = bytes.fromhex(signature[2:])
    except ValueError:
        return None
    if len(raw) != 65:  # fromhex skips whitespace between bytes
        return None
    v = raw[64]
    if v >= 27:
        v -= 27
    if v > 1:
        return None
    r = int.from_bytes(raw[:32], "big")
    s = int.from_bytes(raw[32:64], "big")
    if not (0 < r < _N and 0 < s <= _HALF_N):
        return None
    return raw[:64] + (b"\x01" if v else b"\x00")


def checksummed(lower_hex: str) -> str:
    """EIP-55 form of 40 hex digits (chain.eip712.to_checksum)."""
    return eip712.to_checksum("0x" + lower_hex)


def vote_struct_hash(message: Mapping[str, Any]) -> bytes | None:
    """hashStruct(Vote) for a well-typed message, else None."""
    hashed = _HASH_VOTE(message)
    return None if hashed is None else hashed[0]


recover_address_bytes = eip712.recover_address_bytes


def _fast_verify(typed_data: Any, signature: Any) -> VerifiedMessage | None:
    if type(typed_data) is not dict or len(typed_data) != 4 or typed_data.get("primaryType") != "Vote":
        return None
    domain, separator = portal_domain_cached()
    given_domain = typed_data.get("domain")
    if type(given_domain) is not dict or given_domain != domain or type(given_domain["chainId"]) is not int:
        return None
    if typed_data.get("types") != VOTE_TYPES:
        return None
    message = typed_data.get("message")
    hashed = _HASH_VOTE(message)
    if hashed is None:
        return None
    rsv = _signature_bytes(signature)
    if rsv is None:
        return None
    struct_hash, (signer,) = hashed
    digest = keccak256(b"\x19\x01" + separator + struct_hash)
    recovered = recover_address_bytes(digest, rsv)
    if recovered is None or recovered.hex() != signer[2:].lower():
        return None
    return VerifiedMessage(signer=signer, digest="0x" + digest.hex(),
                           typed_data=dict(typed_data), signature=signature.lower(), contract_wallet=False)


def verify_vote(typed_data: Any, signature: Any) -> VerifiedMessage:
    """The verified portal Vote (EOA by ecrecover, contract wallet by EIP-1271); SignatureError otherwise."""
    return _fast_verify(typed_data, signature) or verify_signed("Vote", typed_data, signature, "voter")


# --------------------------------------------------------------------------- Snapshot envelopes
SNAPSHOT_DOMAIN = {"name": "snapshot", "version": "0.1.4"}
SNAPSHOT_DOMAIN_FIELDS = [{"name": "name", "type": "string"}, {"name": "version", "type": "string"}]


def snapshot_vote_fields(from_type: str = "string", proposal_type: str = "string") -> list[dict[str, str]]:
    """snapshot.js's `Vote` type (single choice). Newer clients: from string, proposal string."""
    return [
        {"name": "from", "type": from_type},
        {"name": "space", "type": "string"},
        {"name": "timestamp", "type": "uint64"},
        {"name": "proposal", "type": proposal_type},
        {"name": "choice", "type": "uint32"},
        {"name": "reason", "type": "string"},
        {"name": "app", "type": "string"},
        {"name": "metadata", "type": "string"},
    ]


#: Every accepted form of the Snapshot Vote type.
SNAPSHOT_VOTE_TYPES = tuple(snapshot_vote_fields(f, p) for f in ("string", "address") for p in ("string", "bytes32"))
SNAPSHOT_MESSAGE_KEYS = frozenset(f["name"] for f in SNAPSHOT_VOTE_TYPES[0])


@dataclass(frozen=True)
class SnapshotVote:
    verified: VerifiedMessage
    message: dict[str, Any]


def snapshot_digest(typed_data: Mapping[str, Any]) -> bytes:
    """The EIP-712 digest of Snapshot typed data (eth-account's encoder: the types vary)."""
    from eth_account.messages import _hash_eip191_message, encode_typed_data

    return bytes(_hash_eip191_message(encode_typed_data(full_message=dict(typed_data))))


def verify_snapshot(envelope: Any) -> SnapshotVote:
    """Check a snapshot.js vote envelope; returns the verified message (full typed data, as the archive keeps it)."""
    if not isinstance(envelope, Mapping):
        raise SignatureError("The body must be a JSON object {address, sig, data}.", code="malformed_envelope")
    address, sig, data = envelope.get("address"), envelope.get("sig"), envelope.get("data")
    if not isinstance(data, Mapping) or not isinstance(data.get("message"), Mapping):
        raise SignatureError("data must be an object {domain, types, message}.", code="malformed_envelope")
    if data.get("domain") != SNAPSHOT_DOMAIN:
        raise SignatureError('The domain must be {"name": "snapshot", "version": "0.1.4"}.', code="wrong_domain")
    types = data.get("types")
    if not isinstance(types, Mapping):
        raise SignatureError("data.types must be an object.", code="wrong_types")
    types = dict(types)
    if "EIP712Domain" in types and types.pop("EIP712Domain") != SNAPSHOT_DOMAIN_FIELDS:
        raise SignatureError("data.types.EIP712Domain must be (string name, string version).", code="wrong_types")
    if set(types) != {"Vote"} or types["Vote"] not in SNAPSHOT_VOTE_TYPES:
        raise SignatureError("data.types must be snapshot.js's single-choice Vote type.", code="wrong_types")
    message = dict(data["message"])
    if set(message) != SNAPSHOT_MESSAGE_KEYS:
        raise SignatureError(f"The message needs exactly the fields {sorted(SNAPSHOT_MESSAGE_KEYS)}.",
                             code="invalid_message")
    if not isinstance(address, str) or not is_address(address):
        raise SignatureError("address is not an address.", code="invalid_address")
    sender = message["from"]
    if not isinstance(sender, str) or not is_address(sender):
        raise SignatureError("message.from is not an address.", code="invalid_address")
    if sender.lower() != address.lower():
        raise SignatureError("message.from differs from the envelope's address.", code="address_mismatch")
    for name in ("space", "reason", "app", "metadata"):
        if not isinstance(message[name], str):
            raise SignatureError(f"message.{name} must be a string.", code="invalid_field")
    for name in ("timestamp", "choice"):
        if isinstance(message[name], bool) or not isinstance(message[name], int):
            raise SignatureError(f"message.{name} must be an integer.", code="invalid_field")
    if not isinstance(message["proposal"], str):
        raise SignatureError("message.proposal must be a string.", code="invalid_field")
    if not isinstance(sig, str) or not sig.startswith("0x"):
        raise SignatureError("sig must be 0x-prefixed hex.", code="bad_signature")
    typed_data = {"types": {"EIP712Domain": [dict(f) for f in SNAPSHOT_DOMAIN_FIELDS],
                            "Vote": [dict(f) for f in types["Vote"]]},
                  "primaryType": "Vote", "domain": dict(SNAPSHOT_DOMAIN), "message": message}
    try:
        digest = snapshot_digest(typed_data)
    except Exception as exc:  # noqa: BLE001 - eth-account raises many types for values that do not fit
        raise SignatureError(f"The message does not encode as its types ({exc}).", code="invalid_field") from exc
    claimed = to_checksum_address(address)
    contract_wallet = False
    try:
        signer = eip712.recover(digest, sig)
    except eip712.TypedDataError as exc:
        if exc.code == "high_s_signature" or not eip1271_valid(claimed, digest, sig):
            raise SignatureError(exc.message, code=exc.code) from exc
        signer, contract_wallet = claimed, True
    if signer != claimed:
        if not eip1271_valid(claimed, digest, sig):
            raise SignatureError(f"The signature is by {signer}, not by {claimed}.", code="signer_mismatch")
        signer, contract_wallet = claimed, True
    verified = VerifiedMessage(signer=signer, digest="0x" + digest.hex(), typed_data=typed_data,
                               signature=sig.lower(), contract_wallet=contract_wallet)
    return SnapshotVote(verified=verified, message=message)
