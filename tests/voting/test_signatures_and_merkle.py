"""The fast vote-verification path agrees with chain.signing.verify_signed; the Merkle root of the vote set."""

from __future__ import annotations

import pytest
from eth_account import Account
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chain import eip712
from chain.signing import SignatureError, typed_data_for, verify_signed
from voting import merkle, signatures

pytestmark = pytest.mark.django_db

KEYS = [Account.from_key(f"0x{i:064x}") for i in range(0xB0B, 0xB0B + 4)]

messages = st.fixed_dictionaries({
    "proposalId": st.integers(min_value=0, max_value=2**256 - 1),
    "support": st.integers(min_value=0, max_value=255),
    "reason": st.text(max_size=300),
    "timestamp": st.integers(min_value=0, max_value=2**64 - 1),
})


def _outcome(fn, typed, signature):
    try:
        verified = fn(typed, signature)
    except SignatureError as exc:
        return ("refused", exc.code)
    return ("ok", verified.signer, verified.digest, verified.contract_wallet)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages, key_index=st.integers(0, 3), checksummed=st.booleans(), flip=st.integers(-1, 64))
def test_fast_path_agrees_with_the_reference(chain_settings, message, key_index, checksummed, flip):
    account = KEYS[key_index]
    voter = account.address if checksummed else account.address.lower()
    typed = typed_data_for("Vote", {**message, "voter": voter})
    signature = Account.sign_typed_data(account.key, full_message=typed).signature.to_0x_hex()
    if flip >= 0:  # corrupt one byte of the signature
        raw = bytearray.fromhex(signature[2:])
        raw[flip] ^= 0x01
        signature = "0x" + raw.hex()
    fast = _outcome(signatures.verify_vote, typed, signature)
    reference = _outcome(lambda t, s: verify_signed("Vote", t, s, "voter"), typed, signature)
    assert fast == reference
    if flip < 0:
        assert fast[0] == "ok" and fast[2] == "0x" + eip712.digest(typed).hex()
        assert signatures._fast_verify(typed, signature) is not None  # the fast path itself answered


def test_fast_path_declines_what_it_does_not_handle(chain_settings):
    account = KEYS[0]
    typed = typed_data_for("Vote", {"proposalId": 1, "voter": account.address, "support": 1, "reason": "",
                                    "timestamp": 1})
    signature = Account.sign_typed_data(account.key, full_message=typed).signature.to_0x_hex()
    assert signatures._fast_verify(typed, signature) is not None
    for mutate in (lambda t: t["message"].update(proposalId="1"), lambda t: t["message"].update(support=True),
                   lambda t: t["domain"].update(chainId=31337.0), lambda t: t.update(extra=1),
                   lambda t: t["domain"].update(verifyingContract=t["domain"]["verifyingContract"].lower())):
        changed = typed_data_for("Vote", dict(typed["message"]))
        mutate(changed)
        assert signatures._fast_verify(changed, signature) is None


def test_merkle_root_definition():
    ids = ["0x" + (bytes([i]) * 32).hex() for i in (3, 1, 2)]
    hashed = [merkle.keccak256(bytes([i]) * 32) for i in (1, 2, 3)]  # keccak(id), ids in ascending order
    assert merkle.leaves(ids) == hashed

    def pair(a, b):
        return merkle.keccak256(min(a, b) + max(a, b))

    assert merkle.vote_set_root(ids) == "0x" + pair(pair(hashed[0], hashed[1]), hashed[2]).hex()
    assert merkle.vote_set_root(list(reversed(ids)) + ids) == merkle.vote_set_root(ids)  # a set: order, repeats
    assert merkle.vote_set_root([]) == merkle.EMPTY_ROOT
    assert merkle.vote_set_root([ids[1]]) == "0x" + hashed[0].hex()
    assert merkle.vote_set_root(ids) != merkle.vote_set_root(ids[:2])


@settings(max_examples=30, deadline=None)
@given(st.sets(st.binary(min_size=32, max_size=32), min_size=1, max_size=40))
def test_every_vote_has_a_proof(ids):
    root = merkle.vote_set_root(ids)
    for vote_id in ids:
        proof = merkle.merkle_proof(ids, vote_id)
        assert merkle.verify_proof(root, vote_id, proof)
        assert not merkle.verify_proof(root, bytes(32) if vote_id != bytes(32) else b"\x01" * 32, proof)


def _eth_account_signer(typed, signature):
    """The plain eth-account path: encode_typed_data + Account.recover_message (None when it fails)."""
    from eth_account.messages import encode_typed_data

    try:
        return Account.recover_message(encode_typed_data(full_message=typed), signature=signature)
    except Exception:  # noqa: BLE001 - any refusal
        return None


def _high_s(signature: str) -> str:
    """The malleable twin of a signature: s -> N - s, v flipped (the same signer, were high-s accepted)."""
    raw = bytes.fromhex(signature[2:])
    s = eip712.SECP256K1_N - int.from_bytes(raw[32:64], "big")
    return "0x" + (raw[:32] + s.to_bytes(32, "big") + bytes([55 - raw[64]])).hex()  # v: 27 <-> 28


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(message=messages, key_index=st.integers(0, 3), case=st.sampled_from(["checksum", "lower", "upper"]),
       mangle=st.sampled_from(["none", "high_s", "flip", "v", "short", "long", "not_hex", "other_key",
                               "no_prefix"]), position=st.integers(0, 64))
def test_fast_path_agrees_with_eth_account(chain_settings, message, key_index, case, mangle, position):
    """verify_vote accepts exactly the votes eth-account recovers to their voter with a low-s signature, with
    eth-account's digest; everything else is refused (malformed, high-s, another signer)."""
    account = KEYS[key_index]
    voter = {"checksum": account.address, "lower": account.address.lower(),
             "upper": "0x" + account.address[2:].upper()}[case]
    typed = typed_data_for("Vote", {**message, "voter": voter})
    signature = Account.sign_typed_data(account.key, full_message=typed).signature.to_0x_hex()
    raw = bytearray.fromhex(signature[2:])
    if mangle == "high_s":
        signature = _high_s(signature)
    elif mangle == "flip":
        raw[position] ^= 0x80
        signature = "0x" + raw.hex()
    elif mangle == "v":
        raw[64] = position % 5 + 26
        signature = "0x" + raw.hex()
    elif mangle == "short":
        signature = signature[: 2 + 2 * (position % 65)]
    elif mangle == "long":
        signature = signature + "00"
    elif mangle == "not_hex":
        signature = signature[:-2] + "zz"
    elif mangle == "other_key":
        signature = Account.sign_typed_data(KEYS[(key_index + 1) % 4].key, full_message=typed).signature.to_0x_hex()
    elif mangle == "no_prefix":
        signature = signature[2:]
    outcome = _outcome(signatures.verify_vote, typed, signature)
    recovered = _eth_account_signer(typed, signature)
    low_s = (len(signature) == 132 and signature.startswith("0x") and all(c in "0123456789abcdefABCDEF"
                                                                           for c in signature[2:])
             and int(signature[66:130], 16) <= eip712.SECP256K1_N // 2)
    # v is 27/28 (or 0/1): eth-account also reads a transaction-style EIP-155 v (e.g. 27 ^ 0x80 = 155 as chain
    # id 60), which a typed-data signature never carries — the portal refuses it (one encoding per signature)
    plain_v = low_s and int(signature[130:132], 16) in (0, 1, 27, 28)
    if recovered == account.address and plain_v:
        from eth_account.messages import _hash_eip191_message, encode_typed_data

        digest = "0x" + bytes(_hash_eip191_message(encode_typed_data(full_message=typed))).hex()
        assert outcome == ("ok", account.address, digest, False)
    else:
        assert outcome[0] == "refused", (mangle, outcome)
        if mangle == "high_s":  # eth-account refuses it too; ours names why
            assert outcome[1] == "high_s_signature"
