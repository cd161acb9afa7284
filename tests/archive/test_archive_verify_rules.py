"""The verifier's rules without a database: canonical JSON, the tally rule, fast EIP-712 = eth-account."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import _hash_eip191_message, encode_typed_data
from eth_utils import to_checksum_address
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive import verify as V
from archive.testing import TEST_KEYS, sign, typed_data


def test_canonical_json_is_sorted_compact_utf8_and_refuses_floats():
    assert V.canonical_json({"b": [1, True, None], "a": "é✓", "c": {"z": 1, "y": -2}}) == \
        '{"a":"é✓","b":[1,true,null],"c":{"y":-2,"z":1}}'
    for bad in (1.0, {"x": [0.1]}, {1: "x"}, {"x": b"bytes"}, {"x": "\x00"}, {"x": "\ud800"}, {"x": {1, 2}}):
        with pytest.raises(V.CanonicalError):
            V.canonical_json(bad)
    assert V.canonical_json({"big": 2**300}) == '{"big":' + str(2**300) + "}"


def test_tally_rule_last_vote_per_voter_wins():
    a, b, c = "0x" + "a" * 40, "0x" + "b" * 40, "0x" + "C" * 40
    votes = [
        {"voter": a, "support": "for", "weight": "10"},
        {"voter": b, "support": "against", "weight": "3"},
        {"voter": c, "support": "abstain", "weight": "5"},
        {"voter": a.upper().replace("0X", "0x"), "support": "against", "weight": "10"},  # same voter
        {"voter": c.lower(), "support": "for", "weight": "6"},  # same voter, new weight
    ]
    assert V.tally_votes(votes) == {"for": "6", "against": "13", "abstain": "0"}
    assert V.tally_votes([]) == {"for": "0", "against": "0", "abstain": "0"}
    tally = V.VoteTally()
    tally.add({"voter": a, "support": "for", "weight": str(10**30)})
    assert tally.totals()["for"] == str(10**30) and tally.voters == 1


def test_the_portal_uses_the_verifiers_tally_function():
    import archive.services

    assert archive.services.tally_votes is V.tally_votes


# --- EIP-712: the fast path agrees with eth-account on every type it handles -------------------
uint_sizes = st.sampled_from([8, 16, 64, 128, 256])


@st.composite
def field_and_value(draw):
    kind = draw(st.sampled_from(["uint", "int", "bool", "string", "bytes", "bytesN", "address", "array", "struct"]))
    if kind == "uint":
        bits = draw(uint_sizes)
        value = draw(st.integers(0, 2**bits - 1))
        return f"uint{bits}", draw(st.sampled_from([value, str(value), hex(value)]))
    if kind == "int":
        bits = draw(uint_sizes)
        return f"int{bits}", draw(st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1))
    if kind == "bool":
        return "bool", draw(st.booleans())
    if kind == "string":
        return "string", draw(st.text(max_size=40))
    if kind == "bytes":
        return "bytes", "0x" + draw(st.binary(max_size=70)).hex()
    if kind == "bytesN":
        size = draw(st.integers(1, 32))
        return f"bytes{size}", "0x" + draw(st.binary(min_size=size, max_size=size)).hex()
    if kind == "address":
        raw = draw(st.binary(min_size=20, max_size=20)).hex()
        return "address", draw(st.sampled_from(["0x" + raw, to_checksum_address("0x" + raw)]))
    if kind == "array":
        bits = draw(uint_sizes)
        return f"uint{bits}[]", draw(st.lists(st.integers(0, 2**bits - 1), max_size=4))
    return "Inner", {"note": draw(st.text(max_size=10)), "amounts": draw(st.lists(st.integers(0, 99), max_size=3))}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fields=st.lists(field_and_value(), min_size=1, max_size=6), chain_id=st.integers(1, 2**64),
       name=st.text(max_size=12))
def test_fast_eip712_digest_equals_eth_account(fields, chain_id, name):
    types = {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "chainId", "type": "uint256"}],
             "Msg": [{"name": f"f{i}", "type": t} for i, (t, _) in enumerate(fields)]}
    if any(t == "Inner" for t, _ in fields):
        types["Inner"] = [{"name": "note", "type": "string"}, {"name": "amounts", "type": "uint8[]"}]
    data = {"types": types, "primaryType": "Msg", "domain": {"name": name, "chainId": chain_id},
            "message": {f"f{i}": v for i, (_, v) in enumerate(fields)}}
    expected = bytes(_hash_eip191_message(encode_typed_data(full_message=data)))
    assert V._fast_digest(data) == expected
    assert V.typed_data_digest(data) == expected


def test_unusual_typed_data_falls_back_to_eth_account():
    data = typed_data("Msg", [("flag", "bool"), ("blob", "bytes4")], {"flag": "false", "blob": "text"})
    with pytest.raises(V._Unsupported):
        V._fast_digest(data)
    assert V.typed_data_digest(data) == bytes(_hash_eip191_message(encode_typed_data(full_message=data)))


def test_signature_checks():
    account = Account.from_key(TEST_KEYS[0])
    other = Account.from_key(TEST_KEYS[1])
    data = typed_data("Vote", [("voter", "address"), ("support", "uint8")], {"voter": account.address, "support": 1})
    good = sign(account, data)
    assert V.signed_problem(good) is None
    assert "recovers" in V.signed_problem({**good, "signer": other.address})
    assert "recovers" in V.signed_problem({**good, "typed_data": {**data, "message": {**data["message"],
                                                                                     "support": 2}}})
    assert "65-byte" in V.signed_problem({**good, "signature": good["signature"][:-2]})
    assert "fields" in V.signed_problem({**good, "extra": 1})
    assert "full EIP-712" in V.signed_problem({**good, "typed_data": {"message": {}}})
    assert "not valid EIP-712" in V.signed_problem({**good, "typed_data": {**data, "primaryType": "Nope"}})
    assert V.signed_problem({**good, "signature": "0x1234", "scheme": "eip1271"}) is None
    assert "scheme" in V.signed_problem({**good, "scheme": "magic"})


def test_fast_digest_matches_the_portals_signing_module():
    eip712 = pytest.importorskip("chain.eip712")
    data = eip712.build("Vote", {"proposalId": 12, "voter": "0x" + "ab" * 20, "support": 1, "reason": "yes ✓",
                                 "timestamp": 1_750_000_000},
                        eip712.domain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"))
    assert V.typed_data_digest(data) == bytes(eip712.digest(data))


def test_cli_exit_codes(tmp_path, capsys):
    assert V.main([str(tmp_path / "none.jsonl")]) == 2
    path = tmp_path / "empty.jsonl"
    path.write_text(V.trailer_line(0, V.GENESIS_HASH, 0) + "\n")
    assert V.main([str(path)]) == 0
    path.write_text('{"entry":{},"hash":"' + "0" * 64 + '"}\n')
    assert V.main([str(path)]) == 1
    assert "FAIL: entry 1 (line 1)" in capsys.readouterr().err
    assert V.main([str(path), "--anchor-rpc", "http://127.0.0.1:9", "--anchor-address", "0x" + "1" * 40]) == 2
    assert "anchor" in capsys.readouterr().err


@pytest.mark.parametrize("body_change", [
    {"kind": ["vote.cast"]}, {"kind": None}, {"signed": ["x"]}, {"signed": "0x"}, {"payload": []},
    {"payload": {"proposal": 7, "title": "t", "author": "0x" + "1" * 40}}, {"sequence": "1"}, {"sequence": True},
    {"time": 5}, {"address": None}, {"proposal_ref": 1},
])
def test_malformed_bodies_are_reported_not_crashed_on(body_change):
    """A forger may write any JSON (with a correct hash): the verifier names the entry, it never crashes."""
    import hashlib

    body = {"address": "", "kind": "proposal.created", "payload": {"proposal": "1", "title": "t",
            "author": "0x" + "1" * 40}, "prev_hash": V.GENESIS_HASH, "proposal_ref": "1", "sequence": 1,
            "signed": None, "time": "2025-01-01T00:00:00.000000Z"}
    good = V.dumps_body(body)
    assert V.verify_lines([V.export_line(good, hashlib.sha256(good.encode()).hexdigest()).encode(),
                           V.trailer_line(1, hashlib.sha256(good.encode()).hexdigest(), 1).encode()]).entries == 1
    text = V.dumps_body({**body, **body_change})
    digest = hashlib.sha256(text.encode()).hexdigest()
    lines = [V.export_line(text, digest).encode(), V.trailer_line(1, digest, 1).encode()]
    for jobs in (1, 2):
        with pytest.raises(V.VerificationFailed) as info:
            V.verify_lines(lines, jobs=jobs)
        assert info.value.sequence == 1
