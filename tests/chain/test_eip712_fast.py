"""chain.eip712's fast pieces against their references: the generated struct hashers (one per type of the
one definition, TYPES) against hash_struct and eth-account, the ctypes keccak against pycryptodome's, the
EIP-55 checksum against eth_utils, the direct libsecp256k1 recovery against coincurve's."""

from __future__ import annotations

import coincurve
from eth_account.messages import encode_typed_data
from eth_utils import is_address, is_checksum_address, keccak, to_checksum_address
from hypothesis import given, settings
from hypothesis import strategies as st

from chain import eip712

ADDRESS = st.binary(min_size=20, max_size=20).map(lambda b: "0x" + b.hex())
CASED = st.tuples(ADDRESS, st.sampled_from(["checksum", "lower", "upper", "random"]), st.randoms()).map(
    lambda t: {"checksum": to_checksum_address(t[0]), "lower": t[0], "upper": "0x" + t[0][2:].upper(),
               "random": "0x" + "".join(c.upper() if t[2].random() < 0.5 else c for c in t[0][2:])}[t[1]])


def _value(kind: str) -> st.SearchStrategy:
    if kind == "address":
        return CASED
    if kind == "string":
        return st.text(max_size=80)
    if kind == "bool":
        return st.booleans()
    if kind.startswith("uint"):
        bits = int(kind[4:])
        return st.one_of(st.integers(0, 2**bits - 1), st.integers(2**bits, 2**bits + 5), st.integers(-3, -1))
    if kind.startswith("bytes"):
        size = int(kind[5:])
        return st.binary(min_size=size, max_size=size).map(lambda b: "0x" + b.hex())
    raise AssertionError(kind)


def _plain_address(value: str) -> bool:
    """0x + 40 hex digits, one case or a valid EIP-55 checksum (what checksum_address accepts)."""
    digits = value[2:]
    return (is_address(value) and value.startswith("0x") and len(value) == 42
            and (digits.lower() == digits or digits.upper() == digits or is_checksum_address(value)))


def _reference(primary_type: str, message: dict) -> bytes | None:
    try:
        return eip712.hash_struct(primary_type, eip712.TYPES[primary_type], message)
    except Exception:  # noqa: BLE001 - refused by the reference
        return None


@settings(max_examples=300, deadline=None)
@given(data=st.data(), primary_type=st.sampled_from(sorted(eip712.TYPES)))
def test_generated_hashers_equal_hash_struct_and_eth_account(data, primary_type):
    fields = eip712.TYPES[primary_type]
    message = {f["name"]: data.draw(_value(f["type"]), label=f["name"]) for f in fields}
    fast = eip712.struct_hasher(primary_type)(message)
    reference = _reference(primary_type, message)
    if fast is None:  # declined: only what the reference refuses or what is not the plain, valid case
        addresses_ok = all(_plain_address(message[f["name"]]) for f in fields if f["type"] == "address")
        assert reference is None or not addresses_ok, message
        return
    struct_hash, addresses = fast
    assert struct_hash == reference
    assert addresses == tuple(to_checksum_address(message[f["name"]]) for f in fields if f["type"] == "address")
    typed = eip712.build(primary_type, message, eip712.domain(31337, "0x" + "11" * 20))
    assert keccak(b"\x19\x01" + eip712.hash_struct("EIP712Domain", eip712.EIP712_DOMAIN_FIELDS, typed["domain"])
                  + struct_hash) == bytes(keccak(b"\x19" + b"".join(encode_typed_data(full_message=typed))))


def test_hashers_decline_what_is_not_the_plain_case():
    hasher = eip712.struct_hasher("Vote")
    plain = {"proposalId": 1, "voter": "0x" + "ab" * 20, "support": 1, "reason": "", "timestamp": 1}
    assert hasher(plain) is not None
    for change in ({"proposalId": "1"}, {"support": True}, {"support": 256}, {"timestamp": 2**64},
                   {"reason": b""}, {"voter": "0x" + "aB" * 20}, {"voter": "ab" * 21}, {"extra": 1}):
        assert hasher({**plain, **change}) is None, change
    assert hasher({k: v for k, v in plain.items() if k != "reason"}) is None
    assert hasher([plain]) is None


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600))
def test_keccak_and_checksum(data):
    assert eip712.keccak256(data) == eip712.keccak256_reference(data) == bytes(keccak(data))
    address = "0x" + keccak(data)[-20:].hex()
    assert eip712.to_checksum(address) == to_checksum_address(address)
    for form in (address, address.upper().replace("0X", "0x"), to_checksum_address(address), address[2:],
                 address[:-1] + "g", address + "0"):
        expected = to_checksum_address(form) if _plain_address(form) else None
        assert eip712.checksum_address(form) == expected, form


@settings(max_examples=100, deadline=None)
@given(secret=st.integers(1, eip712.SECP256K1_N - 1), digest=st.binary(min_size=32, max_size=32),
       noise=st.binary(min_size=65, max_size=65))
def test_direct_recovery_equals_coincurve(secret, digest, noise):
    key = coincurve.PrivateKey(secret.to_bytes(32, "big"))
    signature = key.sign_recoverable(digest, hasher=None)
    expected = keccak(key.public_key.format(compressed=False)[1:])[-20:]
    assert eip712.recover_address_bytes(digest, signature) == expected
    for rsv in (noise[:64] + bytes([noise[64] % 4]), signature[:64] + b"\x07", signature[:10]):
        try:
            reference = eip712._coincurve_address_bytes(digest, rsv)
        except Exception:  # noqa: BLE001
            reference = None
        assert eip712.recover_address_bytes(digest, rsv) == reference
