"""The GovernanceToken's side of delegation: its EIP-712 `Delegation` type and a few chain reads.

`delegateBySig(delegatee, nonce, expiry, v, r, s)` (OpenZeppelin ERC20Votes) verifies a signature
over the TOKEN's own EIP-712 domain — name = the token's name, version "1", the chain id and the
token's address — not the portal's domain of chain.eip712. This module builds that typed data and
checks submitted copies of it field by field (each problem its own error code).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from django.conf import settings
from eth_utils import is_address, to_checksum_address

from chain import eip712
from chain.signing import SignatureError
from delegation import constants as C

DELEGATION_TYPE = [
    {"name": "delegatee", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
]
TOKEN_DOMAIN_VERSION = "1"


def token_contract():
    from chain.client import get_contract

    return get_contract("GovernanceToken")


@lru_cache(maxsize=16)
def _token_name(rpc_url: str, address: str) -> str:
    return token_contract().functions.name().call()


def token_domain() -> dict[str, Any]:
    """The token's EIP-712 domain (its name is read from the chain once per address)."""
    token = token_contract()
    return eip712.domain(settings.CHAIN_ID, token.address, name=_token_name(settings.CHAIN_RPC_URL, token.address),
                         version=TOKEN_DOMAIN_VERSION)


def delegation_typed_data(delegatee: str, nonce: int, expiry: int, domain: Mapping[str, Any] | None = None,
                          ) -> dict[str, Any]:
    """What the holder passes to eth_signTypedData_v4 (numbers as integers, addresses checksummed)."""
    return {
        "types": {"EIP712Domain": [dict(f) for f in eip712.EIP712_DOMAIN_FIELDS],
                  "Delegation": [dict(f) for f in DELEGATION_TYPE]},
        "primaryType": "Delegation",
        "domain": dict(domain or token_domain()),
        "message": {"delegatee": to_checksum_address(delegatee), "nonce": int(nonce), "expiry": int(expiry)},
    }


def chain_now() -> int:
    """The latest block's timestamp: the clock delegateBySig's expiry is compared with."""
    from chain.client import get_web3

    try:
        return int(get_web3().eth.get_block("latest")["timestamp"])
    except Exception:  # noqa: BLE001 - the chain's clock if we can read it, else the wall clock
        return int(time.time())


def nonce_of(holder: str) -> int:
    return int(token_contract().functions.nonces(to_checksum_address(holder)).call())


def balance_of(holder: str) -> int:
    return int(token_contract().functions.balanceOf(to_checksum_address(holder)).call())


def delegates_of(holder: str) -> str:
    return to_checksum_address(token_contract().functions.delegates(to_checksum_address(holder)).call())


def delegation_template(holder: str, delegatee: str) -> dict[str, Any]:
    """Typed data for `holder` to delegate to `delegatee` gaslessly: current nonce, expiry in an hour."""
    expiry = chain_now() + C.RELAY_EXPIRY_SECONDS
    return delegation_typed_data(delegatee, nonce_of(holder), expiry)


def _uint(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise SignatureError(f"{field} must be an integer.", code="malformed_typed_data")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and value.strip():
        try:
            number = int(value, 16) if value.startswith("0x") else int(value, 10)
        except ValueError:
            raise SignatureError(f"{field} must be an integer.", code="malformed_typed_data") from None
    else:
        raise SignatureError(f"{field} must be an integer.", code="malformed_typed_data")
    if not 0 <= number < 2**256:
        raise SignatureError(f"{field} does not fit uint256.", code="malformed_typed_data")
    return number


def check_delegation_typed_data(typed_data: Any) -> tuple[str, int, int]:
    """Check the typed data is the token's Delegation on this chain; returns (delegatee, nonce, expiry).

    Error codes (400): malformed_typed_data, wrong_primary_type, wrong_types, wrong_chain,
    wrong_domain, wrong_contract, invalid_address.
    """
    if not isinstance(typed_data, Mapping):
        raise SignatureError("The typed data must be a JSON object.", code="malformed_typed_data")
    if typed_data.get("primaryType") != "Delegation":
        raise SignatureError("Expected the token's Delegation typed data.", code="wrong_primary_type")
    types = typed_data.get("types")
    if not isinstance(types, Mapping) or dict(types) != {"EIP712Domain": eip712.EIP712_DOMAIN_FIELDS,
                                                          "Delegation": DELEGATION_TYPE}:
        raise SignatureError("The types are not the token's Delegation types; fetch the template.",
                             code="wrong_types")
    domain, message = typed_data.get("domain"), typed_data.get("message")
    if not isinstance(domain, Mapping) or not isinstance(message, Mapping):
        raise SignatureError("The typed data needs a domain and a message object.", code="malformed_typed_data")
    expected = token_domain()
    chain_id = domain.get("chainId")
    try:
        chain_id = _uint(chain_id, "chainId")
    except SignatureError:
        raise SignatureError(f"Signed for chain {chain_id!r}; the portal is on chain {expected['chainId']}.",
                             code="wrong_chain") from None
    if chain_id != expected["chainId"]:
        raise SignatureError(f"Signed for chain {chain_id}; the portal is on chain {expected['chainId']}.",
                             code="wrong_chain")
    if set(domain) != set(expected) or domain.get("name") != expected["name"] \
            or domain.get("version") != expected["version"]:
        raise SignatureError("The domain is not the token's (name or version differ).", code="wrong_domain")
    contract = domain.get("verifyingContract")
    if not isinstance(contract, str) or contract.lower() != expected["verifyingContract"].lower():
        raise SignatureError("Signed for another token (verifying contract differs).", code="wrong_contract")
    if set(message) != {"delegatee", "nonce", "expiry"}:
        raise SignatureError("The message must have exactly delegatee, nonce and expiry.",
                             code="malformed_typed_data")
    delegatee = message.get("delegatee")
    if not isinstance(delegatee, str) or not is_address(delegatee):
        raise SignatureError("delegatee is not an address.", code="invalid_address")
    return to_checksum_address(delegatee), _uint(message["nonce"], "nonce"), _uint(message["expiry"], "expiry")


def recover_holder(typed_data: Mapping[str, Any], signature: Any) -> str:
    """The address that signed the Delegation typed data (what delegateBySig will recover)."""
    if not isinstance(signature, str) or not signature.startswith("0x"):
        raise SignatureError("The signature must be 0x-prefixed hex.", code="bad_signature")
    try:
        return eip712.recover_typed(typed_data, signature)
    except eip712.TypedDataError as exc:
        raise SignatureError(exc.message, code=exc.code) from exc


def delegate_calldata(delegatee: str) -> str:
    """Calldata of GovernanceToken.delegate(delegatee): the selector and the address padded to 32 bytes."""
    return C.DELEGATE_SELECTOR + to_checksum_address(delegatee)[2:].lower().rjust(64, "0")
