"""Typed payloads: validation codes, normalization, decoding, and the executor actions they compile into."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from web3 import Web3

from chain.artifacts import load_abi
from chain.deploy import TOKEN_UNIT, DeployedContract, Deployment, bytes32_name
from proposals.content import clean_discussion_url, render_markdown, revision_hash
from proposals.parameters import PARAMETERS
from proposals.payloads import (
    PayloadError,
    compile_actions,
    describe_payload,
    parse_tokens,
    tokens_text,
    validate_payload,
)

from .conftest import OS_PAYLOAD

CORE = "0x" + "c0" * 20
TOKEN = "0x" + "70" * 20
DEPLOYMENT = Deployment(contracts={"StarknetCoreState": DeployedContract(Web3.to_checksum_address(CORE), 1),
                                   "GovernanceToken": DeployedContract(Web3.to_checksum_address(TOKEN), 1)})


def code_of(kind: str, payload) -> str:
    with pytest.raises(PayloadError) as info:
        validate_payload(kind, payload)
    return info.value.code


def test_os_upgrade_is_normalized_and_compiles_to_upgrade_os():
    payload = validate_payload("os_upgrade", {**OS_PAYLOAD, "program_hash": OS_PAYLOAD["program_hash"].upper()
                                              .replace("0X", "0x")})
    assert payload == {"program_hash": "0x" + "ab" * 32, "config_hash": "0x" + "cd" * 32, "os_version": "0.14.0",
                       "snips": ["SNIP-12", "SNIP-15"]}
    (action,) = compile_actions("os_upgrade", payload, DEPLOYMENT)
    assert action.target == Web3.to_checksum_address(CORE) and action.value == 0
    core = Web3().eth.contract(abi=load_abi("StarknetCoreState"))
    fn, args = core.decode_function_input(action.data)
    assert fn.fn_name == "upgradeOs"
    assert args == {"newProgramHash": bytes.fromhex("ab" * 32), "newConfigHash": bytes.fromhex("cd" * 32),
                    "newOsVersion": "0.14.0"}
    assert dict(action.arguments)["newOsVersion"] == "0.14.0"
    assert ("OS version", "0.14.0") in describe_payload("os_upgrade", payload)


@pytest.mark.parametrize(("change", "code"), [
    ({"program_hash": "0x1234"}, "invalid_program_hash"),
    ({"program_hash": "ab" * 32}, "invalid_program_hash"),
    ({"program_hash": "0x" + "zz" * 32}, "invalid_program_hash"),
    ({"program_hash": "0x" + "00" * 32}, "invalid_program_hash"),
    ({"config_hash": "0x" + "ab" * 31}, "invalid_config_hash"),
    ({"os_version": "0.14"}, "invalid_os_version"),
    ({"os_version": "v0.14.0"}, "invalid_os_version"),
    ({"os_version": "0.14.0.1"}, "invalid_os_version"),
    ({"os_version": "01.2.3"}, "invalid_os_version"),
    ({"os_version": 14}, "invalid_os_version"),
    ({"snips": ["EIP-1"]}, "invalid_snip_reference"),
    ({"snips": ["SNIP-3", "snip-3"]}, "duplicate_snip_reference"),
    ({"extra": 1}, "unexpected_payload_field"),
])
def test_os_upgrade_refusals_have_their_own_codes(change, code):
    assert code_of("os_upgrade", {**OS_PAYLOAD, **change}) == code


@pytest.mark.parametrize("version", ["0.14.0", "1.0.0-rc.1", "0.13.2+build.7", "10.20.30"])
def test_semver_versions_are_accepted(version):
    assert validate_payload("os_upgrade", {**OS_PAYLOAD, "os_version": version})["os_version"] == version


def test_parameter_change_compiles_one_set_parameter_per_change():
    payload = validate_payload("parameter_change", {"changes": [
        {"name": "fee.min_gas_price", "value": 5000}, {"name": "staking.min_stake", "value": "1500.5"},
        {"name": "staking.unbonding_period_seconds", "value": "172800"}]})
    assert payload["changes"][0] == {"name": "fee.min_gas_price", "value": "5000"}
    assert payload["changes"][1] == {"name": "staking.min_stake", "value": "1500.5"}
    actions = compile_actions("parameter_change", payload, DEPLOYMENT)
    core = Web3().eth.contract(abi=load_abi("StarknetCoreState"))
    decoded = [core.decode_function_input(a.data)[1] for a in actions]
    assert decoded == [
        {"name": bytes32_name("fee.min_gas_price"), "value": 5000},
        {"name": bytes32_name("staking.min_stake"), "value": 1500 * TOKEN_UNIT + TOKEN_UNIT // 2},
        {"name": bytes32_name("staking.unbonding_period_seconds"), "value": 172800},
    ]
    rows = dict(describe_payload("parameter_change", payload))
    assert "2 d" in rows["staking.unbonding_period_seconds (Delay before unstaked tokens can be withdrawn)"]


@pytest.mark.parametrize(("changes", "code"), [
    ([{"name": "fee.unknown", "value": "1"}], "unknown_parameter"),
    ([{"name": "fee.min_gas_price", "value": "0"}], "parameter_out_of_bounds"),
    ([{"name": "fee.min_gas_price", "value": str(10**13 + 1)}], "parameter_out_of_bounds"),
    ([{"name": "staking.unbonding_period_seconds", "value": 3600}], "parameter_out_of_bounds"),
    ([{"name": "staking.min_stake", "value": "0.5"}], "parameter_out_of_bounds"),
    ([{"name": "fee.min_gas_price", "value": 1.5}], "invalid_parameter_value"),
    ([{"name": "fee.min_gas_price", "value": "12abc"}], "invalid_parameter_value"),
    ([{"name": "fee.min_gas_price", "value": True}], "invalid_parameter_value"),
    ([{"name": "fee.min_gas_price", "value": "5"}, {"name": "fee.min_gas_price", "value": "6"}],
     "duplicate_parameter"),
    ([], "invalid_payload"),
    (["fee.min_gas_price 5"], "invalid_payload"),
])
def test_parameter_change_refusals(changes, code):
    assert code_of("parameter_change", {"changes": changes}) == code


def test_parameter_bounds_are_inclusive():
    for parameter in PARAMETERS.values():
        for value in (parameter.minimum, parameter.maximum):
            text = tokens_text(value) if parameter.type == "tokens" else str(value)
            validate_payload("parameter_change", {"changes": [{"name": parameter.name, "value": text}]})


def test_treasury_grant_transfers_base_units_from_the_executor():
    payload = validate_payload("treasury_grant", {"recipient": "0x" + "ab" * 20, "amount": "50,000.25"})
    assert payload == {"recipient": Web3.to_checksum_address("0x" + "ab" * 20), "amount": "50000.25"}
    (action,) = compile_actions("treasury_grant", payload, DEPLOYMENT)
    token = Web3().eth.contract(abi=load_abi("GovernanceToken"))
    fn, args = token.decode_function_input(action.data)
    assert fn.fn_name == "transfer" and action.target == Web3.to_checksum_address(TOKEN)
    assert args == {"to": payload["recipient"], "value": 50000 * TOKEN_UNIT + TOKEN_UNIT // 4}


@pytest.mark.parametrize(("payload", "code"), [
    ({"recipient": "0x1234", "amount": "1"}, "invalid_recipient"),
    ({"recipient": "0x" + "00" * 20, "amount": "1"}, "invalid_recipient"),
    ({"recipient": "0x" + "ab" * 20, "amount": "0"}, "invalid_amount"),
    ({"recipient": "0x" + "ab" * 20, "amount": "-5"}, "invalid_amount"),
    ({"recipient": "0x" + "ab" * 20, "amount": "1." + "1" * 19}, "invalid_amount"),
    ({"recipient": "0x" + "ab" * 20, "amount": 2.5}, "invalid_amount"),
])
def test_treasury_grant_refusals(payload, code):
    assert code_of("treasury_grant", payload) == code


@pytest.mark.parametrize("kind", ["process", "informational"])
def test_process_and_informational_proposals_have_no_payload_and_no_action(kind):
    assert validate_payload(kind, {}) == {} and validate_payload(kind, None) == {}
    assert compile_actions(kind, {}, DEPLOYMENT) == []
    assert code_of(kind, {"recipient": "0x" + "ab" * 20}) == "unexpected_payload"
    assert code_of("no_such_kind", {}) == "invalid_kind"


@given(st.integers(min_value=0, max_value=10**30 * TOKEN_UNIT - 1))
def test_token_amounts_round_trip_exactly(base_units):
    assert parse_tokens(tokens_text(base_units), "amount", "invalid_amount") == base_units


def test_markdown_is_rendered_and_sanitized():
    html = render_markdown("# Title\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1)) "
                           "<img src=x onerror=alert(1)> **bold**")
    assert "<h1>Title</h1>" in html and "<strong>bold</strong>" in html
    assert "<script" not in html and "alert(1)</script>" not in html
    assert "javascript:" not in html and "onerror" not in html


@pytest.mark.parametrize("url", ["javascript:alert(1)", "ftp://example.org/x", "http://", "example.org",
                                 "data:text/html,hi", "https://exa mple.org"])
def test_discussion_links_are_http_only(url):
    from proposals.content import ContentError

    with pytest.raises(ContentError) as info:
        clean_discussion_url(url)
    assert info.value.code == "invalid_discussion_url"
    assert clean_discussion_url(" https://forum.example.org/t/1 ") == "https://forum.example.org/t/1"


def test_revision_hash_covers_title_body_kind_and_payload():
    base = ("T", "B", "process", {})
    h = revision_hash(*base)
    assert h.startswith("0x") and len(h) == 66 and h == revision_hash(*base)
    assert len({h, revision_hash("T2", "B", "process", {}), revision_hash("T", "B2", "process", {}),
                revision_hash("T", "B", "informational", {}),
                revision_hash("T", "B", "process", {"x": "1"})}) == 5
