"""The fast EIP-712 path agrees with eth-account and refuses what it must."""

import random

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import eip712

DOMAIN = eip712.domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3")
KEY = Account.create("eip712 tests")


def vote(**overrides):
    message = {"proposalId": 7, "voter": KEY.address, "support": 1, "reason": "ship it", "timestamp": 1_700_000_000}
    message.update(overrides)
    return eip712.build("Vote", message, DOMAIN)


@settings(max_examples=60, deadline=None)
@given(proposal=st.integers(0, 2**256 - 1), support=st.integers(0, 2), reason=st.text(max_size=200),
       ts=st.integers(0, 2**64 - 1))
def test_digest_equals_eth_account_for_any_vote(proposal, support, reason, ts):
    data = vote(proposalId=proposal, support=support, reason=reason, timestamp=ts)
    signable = encode_typed_data(full_message=data)
    assert eip712.digest(data) == keccak(b"\x19" + signable.version + signable.header + signable.body)


@pytest.mark.parametrize("primary_type", sorted(eip712.TYPES))
def test_every_portal_type_recovers_the_signer(primary_type):
    rng = random.Random(primary_type)
    sample = {"uint256": rng.randrange(2**200), "uint64": rng.randrange(2**60), "uint8": 2, "bool": True,
              "string": "text ✓ <b>", "bytes32": "0x" + bytes(rng.randrange(256) for _ in range(32)).hex(),
              "address": KEY.address}
    message = {f["name"]: sample[f["type"]] for f in eip712.TYPES[primary_type]}
    data = eip712.build(primary_type, message, DOMAIN)
    signed = Account.sign_typed_data(KEY.key, full_message=data)
    assert eip712.recover_typed(data, signed.signature.to_0x_hex()) == KEY.address
    assert eip712.recover_typed(data, bytes(signed.signature)) == KEY.address


def test_high_s_copy_of_a_valid_signature_is_refused():
    data = vote()
    sig = Account.sign_typed_data(KEY.key, full_message=data).signature
    r, s, v = sig[:32], int.from_bytes(sig[32:64], "big"), sig[64]
    malleable = r + (eip712.SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27<->28
    with pytest.raises(eip712.TypedDataError) as err:
        eip712.recover_typed(data, malleable)
    assert err.value.code == "high_s_signature"


@pytest.mark.parametrize("signature", ["0x", "0x1234", "0x" + "00" * 65, "0x" + "zz" * 65, "0x" + "ff" * 65])
def test_garbage_signatures_are_refused(signature):
    with pytest.raises(eip712.TypedDataError) as err:
        eip712.recover_typed(vote(), signature)
    assert err.value.code == "bad_signature"


def test_changing_any_field_changes_the_recovered_signer():
    data = vote()
    sig = Account.sign_typed_data(KEY.key, full_message=data).signature.to_0x_hex()
    for field, value in [("proposalId", 8), ("support", 0), ("reason", "ship it!"), ("timestamp", 1)]:
        assert eip712.recover_typed(vote(**{field: value}), sig) != KEY.address
    other_chain = eip712.build("Vote", data["message"], eip712.domain(1, DOMAIN["verifyingContract"]))
    assert eip712.recover_typed(other_chain, sig) != KEY.address


@pytest.mark.parametrize("bad", [{"support": 256}, {"support": -1}, {"proposalId": "seven"}, {"voter": "0x12"},
                                 {"reason": 5}, {"timestamp": True}])
def test_out_of_type_values_are_refused(bad):
    with pytest.raises(eip712.TypedDataError) as err:
        eip712.digest(vote(**bad))
    assert err.value.code == "invalid_field"


def test_missing_or_extra_fields_are_refused():
    data = vote()
    del data["message"]["reason"]
    with pytest.raises(eip712.TypedDataError) as err:
        eip712.digest(data)
    assert err.value.code == "invalid_message"
