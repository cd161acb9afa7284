"""accounts.siwe on its own: exact EIP-4361 text, strict parsing, no Django."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.siwe import MAX_MESSAGE_LENGTH, SiweMessage, SiweParseError, build_message, parse_message

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"  # anvil account 0, EIP-55
ISSUED = datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)

# The example of EIP-4361 itself (scheme-less, with statement and resources).
SPEC_EXAMPLE = (
    "example.com wants you to sign in with your Ethereum account:\n"
    "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2\n"
    "\n"
    "I accept the ExampleOrg Terms of Service: https://example.com/tos\n"
    "\n"
    "URI: https://example.com/login\n"
    "Version: 1\n"
    "Chain ID: 1\n"
    "Nonce: 32891756\n"
    "Issued At: 2021-09-30T16:25:24Z\n"
    "Resources:\n"
    "- ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/\n"
    "- https://example.com/my-web2-claim.json"
)

OURS = (
    "127.0.0.1:8000 wants you to sign in with your Ethereum account:\n"
    f"{ADDRESS}\n"
    "\n"
    "Sign in to the governance portal. This request costs no gas.\n"
    "\n"
    "URI: http://127.0.0.1:8000\n"
    "Version: 1\n"
    "Chain ID: 31337\n"
    "Nonce: abcDEF0123456789xyzXYZ99\n"
    "Issued At: 2025-03-04T05:06:07Z\n"
    "Expiration Time: 2025-03-04T05:16:07Z"
)


def build_ours(**overrides) -> str:
    fields = dict(
        domain="127.0.0.1:8000",
        address=ADDRESS,
        statement="Sign in to the governance portal. This request costs no gas.",
        uri="http://127.0.0.1:8000",
        chain_id=31337,
        nonce="abcDEF0123456789xyzXYZ99",
        issued_at=ISSUED,
        expiration_time=ISSUED + timedelta(minutes=10),
    )
    fields.update(overrides)
    return build_message(**fields)


def test_build_produces_the_exact_eip4361_text():
    assert build_ours() == OURS


def test_parse_reads_every_field_and_renders_back_the_same_text():
    parsed = parse_message(OURS)
    assert parsed == SiweMessage(
        domain="127.0.0.1:8000",
        address=ADDRESS,
        statement="Sign in to the governance portal. This request costs no gas.",
        uri="http://127.0.0.1:8000",
        version="1",
        chain_id=31337,
        nonce="abcDEF0123456789xyzXYZ99",
        issued_at=ISSUED,
        expiration_time=ISSUED + timedelta(minutes=10),
    )
    assert parsed.to_text() == OURS


def test_parses_the_spec_example_with_resources():
    parsed = parse_message(SPEC_EXAMPLE)
    assert parsed.domain == "example.com"
    assert parsed.address == "0xC02aaA39b223FE8D0A0e5C4F27eAD9083C756Cc2"
    assert parsed.statement == "I accept the ExampleOrg Terms of Service: https://example.com/tos"
    assert parsed.chain_id == 1
    assert parsed.nonce == "32891756"
    assert parsed.issued_at == datetime(2021, 9, 30, 16, 25, 24, tzinfo=UTC)
    assert parsed.expiration_time is None
    assert parsed.resources == (
        "ipfs://bafybeiemxf5abjwjbikoz4mc3a3dla6ual3jsgpdr4cjr3oz3evfyavhwq/",
        "https://example.com/my-web2-claim.json",
    )
    assert parsed.to_text() == SPEC_EXAMPLE


def test_all_optional_fields_and_no_statement_round_trip():
    message = SiweMessage(
        scheme="https",
        domain="gov.example.org",
        address=ADDRESS,
        uri="https://gov.example.org/accounts/login",
        chain_id=1,
        nonce="Nonce1234",
        issued_at=ISSUED,
        expiration_time=ISSUED + timedelta(hours=1),
        not_before=ISSUED + timedelta(minutes=1),
        request_id="req-42",
        resources=("https://gov.example.org/terms",),
    )
    text = message.to_text()
    lines = text.split("\n")
    assert lines[0] == "https://gov.example.org wants you to sign in with your Ethereum account:"
    assert lines[2:5] == ["", "", "URI: https://gov.example.org/accounts/login"]  # no statement
    assert lines[-4:] == ["Not Before: 2025-03-04T05:07:07Z", "Request ID: req-42", "Resources:",
                          "- https://gov.example.org/terms"]
    assert parse_message(text) == message


def test_timestamps_with_offsets_parse_to_the_same_instant():
    text = OURS.replace("Issued At: 2025-03-04T05:06:07Z", "Issued At: 2025-03-04T07:06:07.250+02:00")
    assert parse_message(text).issued_at == ISSUED + timedelta(milliseconds=250)
    # Canonical rendering is UTC with whole seconds.
    assert parse_message(text).to_text() == OURS


@given(
    nonce=st.from_regex(r"[A-Za-z0-9]{8,40}", fullmatch=True),
    chain_id=st.integers(min_value=1, max_value=2**63),
    issued=st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1),
                        timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0)),
    ttl=st.integers(min_value=1, max_value=10**7),
    statement=st.none() | st.from_regex(r"[A-Za-z0-9 .,:/?#@!$&'()*+;=~_-]*[A-Za-z0-9.]", fullmatch=True),
)
def test_build_parse_round_trip_property(nonce, chain_id, issued, ttl, statement):
    text = build_ours(nonce=nonce, chain_id=chain_id, issued_at=issued,
                      expiration_time=issued + timedelta(seconds=ttl), statement=statement)
    parsed = parse_message(text)
    assert (parsed.nonce, parsed.chain_id, parsed.issued_at, parsed.statement) == (nonce, chain_id, issued,
                                                                                     statement)
    assert parsed.expiration_time - parsed.issued_at == timedelta(seconds=ttl)
    assert parsed.to_text() == text


def _swap(old: str, new: str):
    def edit(text: str) -> str:
        assert old in text, f"test bug: {old!r} is not in the base message"
        return text.replace(old, new, 1)
    return edit


MALFORMED = {
    "empty": lambda t: "",
    "plain text": lambda t: "please let me in",
    "CRLF line breaks": lambda t: t.replace("\n", "\r\n"),
    "trailing newline": lambda t: t + "\n",
    "trailing space": lambda t: t + " ",
    "leading space": lambda t: " " + t,
    "truncated": lambda t: t[: t.index("\nIssued At")],
    "header wording": _swap("wants you to sign in", "wants you to log in"),
    "domain with a path": _swap("127.0.0.1:8000 wants", "127.0.0.1:8000/evil wants"),
    "domain with space": _swap("127.0.0.1:8000 wants", "127.0.0.1 8000 wants"),
    "empty domain": _swap("127.0.0.1:8000 wants", " wants"),
    "lowercase address": _swap(ADDRESS, ADDRESS.lower()),
    "bad checksum": _swap(ADDRESS, ADDRESS[:-1] + "7"),
    "short address": _swap(ADDRESS, ADDRESS[:-2]),
    "no 0x": _swap(ADDRESS, ADDRESS[2:] + "00"),
    "no blank line after address": _swap(f"{ADDRESS}\n\n", f"{ADDRESS}\n"),
    "no blank line after statement": _swap("no gas.\n\n", "no gas.\n"),
    "two-line statement": _swap("portal. This", "portal.\nThis"),
    "tab in statement": _swap("portal. This", "portal.\tThis"),
    "non-ASCII statement": _swap("costs no gas", "costs no gás"),
    "URI label": _swap("URI: ", "Uri: "),
    "URI with space": _swap("URI: http://127.0.0.1:8000", "URI: http://127.0.0.1:8000/a b"),
    "relative URI": _swap("URI: http://127.0.0.1:8000", "URI: /login"),
    "version 2": _swap("Version: 1", "Version: 2"),
    "missing version": _swap("Version: 1\n", ""),
    "chain id leading zero": _swap("Chain ID: 31337", "Chain ID: 031337"),
    "chain id zero": _swap("Chain ID: 31337", "Chain ID: 0"),
    "chain id hex": _swap("Chain ID: 31337", "Chain ID: 0x7a69"),
    "chain id negative": _swap("Chain ID: 31337", "Chain ID: -1"),
    "short nonce": _swap("Nonce: abcDEF0123456789xyzXYZ99", "Nonce: abc123"),
    "nonce with symbols": _swap("Nonce: abcDEF0123456789xyzXYZ99", "Nonce: abcDEF01-3456789"),
    "double space after label": _swap("Nonce: ", "Nonce:  "),
    "fields out of order": _swap("Chain ID: 31337\nNonce: abcDEF0123456789xyzXYZ99",
                                 "Nonce: abcDEF0123456789xyzXYZ99\nChain ID: 31337"),
    "duplicate field": _swap("Version: 1\n", "Version: 1\nVersion: 1\n"),
    "date without offset": _swap("Issued At: 2025-03-04T05:06:07Z", "Issued At: 2025-03-04T05:06:07"),
    "date with space": _swap("Issued At: 2025-03-04T05:06:07Z", "Issued At: 2025-03-04 05:06:07Z"),
    "date lowercase z": _swap("Issued At: 2025-03-04T05:06:07Z", "Issued At: 2025-03-04T05:06:07z"),
    "month 13": _swap("Issued At: 2025-03-04T05:06:07Z", "Issued At: 2025-13-04T05:06:07Z"),
    "bad expiration": _swap("Expiration Time: 2025-03-04T05:16:07Z", "Expiration Time: tomorrow"),
    "unknown trailing field": lambda t: t + "\nFavourite Colour: blue",
    "optional fields out of order": lambda t: t.replace("\nExpiration Time: 2025-03-04T05:16:07Z", "")
    + "\nRequest ID: 1\nExpiration Time: 2025-03-04T05:16:07Z",
    "empty resources": lambda t: t + "\nResources:",
    "resource without dash": lambda t: t + "\nResources:\nhttps://example.com",
    "too long": lambda t: t.replace("costs no gas.", "costs no gas." + " x" * MAX_MESSAGE_LENGTH),
}


def test_the_base_of_the_malformed_cases_is_valid():
    assert parse_message(OURS).nonce == "abcDEF0123456789xyzXYZ99"


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_text_is_rejected(case):
    text = MALFORMED[case](OURS)
    assert text != OURS
    with pytest.raises(SiweParseError):
        parse_message(text)


@pytest.mark.parametrize("value", [None, b"bytes", 42])
def test_non_text_is_rejected(value):
    with pytest.raises(SiweParseError):
        parse_message(value)


@pytest.mark.parametrize(
    "override",
    [
        {"domain": "https://127.0.0.1:8000"},
        {"domain": "evil.example/path"},
        {"address": ADDRESS.lower()},
        {"statement": "two\nlines"},
        {"statement": ""},
        {"uri": "not a uri"},
        {"chain_id": 0},
        {"chain_id": True},
        {"nonce": "short"},
        {"issued_at": datetime(2025, 1, 1)},  # naive
        {"expiration_time": datetime(2025, 1, 1)},
        {"resources": ("has space://x",)},
    ],
    ids=lambda o: next(iter(o)),
)
def test_build_refuses_fields_outside_the_grammar(override):
    with pytest.raises(ValueError):
        build_ours(**override)


def test_build_renders_any_offset_as_utc():
    plus_two = timezone(timedelta(hours=2))
    assert build_ours(issued_at=ISSUED.astimezone(plus_two).replace(microsecond=999)) == OURS


def test_module_does_not_import_django():
    code = "import sys, accounts.siwe; print(sorted(m for m in sys.modules if m.split('.')[0] == 'django'))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
