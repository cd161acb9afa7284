"""Verification of the portal's signed messages (Django side of chain.eip712).

`verify_signed(primary_type, typed_data, signature, signer_field)` is the one check every app uses
for endorsements, reviews, votes, vetoes and statements: the typed data must be exactly the portal's
type under the portal's domain (name, version, chain id, verifying contract), and the signature must
come from the address the message names — an EOA by ecrecover (low-s enforced), or a contract wallet
by EIP-1271 `isValidSignature` on the chain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from eth_utils import is_address, to_checksum_address

from chain import eip712
from govapp.errors import DomainError

EIP1271_MAGIC_VALUE = bytes.fromhex("1626ba7e")
EIP1271_ABI = [{
    "name": "isValidSignature", "type": "function", "stateMutability": "view",
    "inputs": [{"name": "hash", "type": "bytes32"}, {"name": "signature", "type": "bytes"}],
    "outputs": [{"name": "magicValue", "type": "bytes4"}],
}]


class SignatureError(DomainError):
    code = "bad_signature"
    status = 400


@dataclass(frozen=True)
class VerifiedMessage:
    signer: str  # checksummed
    digest: str  # 0x-hex EIP-712 digest: the message id
    typed_data: dict[str, Any]
    signature: str
    contract_wallet: bool

    def archive_artifact(self) -> dict[str, Any]:
        """The signed artifact as the archive keeps it (archive.services.record's `signed`)."""
        return archive_artifact(self.typed_data, self.signature, self.signer, contract_wallet=self.contract_wallet)


def archive_artifact(typed_data: dict[str, Any], signature: str, signer: str, *,
                     contract_wallet: bool = False) -> dict[str, Any]:
    """Verbatim typed data, signature and signer; contract-wallet signatures (checked on chain by
    EIP-1271 when accepted) are marked so the offline verifier counts them apart."""
    artifact = {"typed_data": typed_data, "signature": signature, "signer": signer}
    if contract_wallet:
        artifact["scheme"] = "eip1271"
    return artifact


def portal_domain() -> dict[str, Any]:
    """The EIP-712 domain of this portal's deployment."""
    from chain.client import get_deployment

    return eip712.domain(settings.CHAIN_ID, get_deployment().executor_address)


def typed_data_for(primary_type: str, message: Mapping[str, Any]) -> dict[str, Any]:
    """What a client passes to eth_signTypedData_v4 for this message."""
    return eip712.build(primary_type, message, portal_domain())


def _check_shape(primary_type: str, typed_data: Any) -> None:
    if not isinstance(typed_data, Mapping):
        raise SignatureError("The typed data must be a JSON object.", code="malformed_typed_data")
    if typed_data.get("primaryType") != primary_type:
        raise SignatureError(f"Expected typed data of type {primary_type}.", code="wrong_primary_type")
    types = typed_data.get("types")
    expected = {"EIP712Domain": eip712.EIP712_DOMAIN_FIELDS, primary_type: eip712.TYPES[primary_type]}
    if not isinstance(types, Mapping) or dict(types) != expected:
        raise SignatureError(f"The types are not the portal's {primary_type} types; fetch the template.",
                             code="wrong_types")
    domain = typed_data.get("domain")
    if not isinstance(domain, Mapping) or not isinstance(typed_data.get("message"), Mapping):
        raise SignatureError("The typed data needs a domain and a message object.", code="malformed_typed_data")
    expected_domain = portal_domain()
    if domain.get("chainId") != expected_domain["chainId"]:
        raise SignatureError(f"Signed for chain {domain.get('chainId')!r}; this portal is on chain "
                             f"{expected_domain['chainId']}.", code="wrong_chain")
    if domain.get("name") != expected_domain["name"] or domain.get("version") != expected_domain["version"]:
        raise SignatureError("Signed for another portal (domain name or version differ).", code="wrong_domain")
    contract = domain.get("verifyingContract")
    if not isinstance(contract, str) or contract.lower() != expected_domain["verifyingContract"].lower():
        raise SignatureError("Signed for another deployment (verifying contract differs).", code="wrong_contract")
    if set(domain) != set(expected_domain):
        raise SignatureError("The domain has unexpected fields.", code="wrong_domain")


def eip1271_valid(address: str, digest: bytes, signature: str) -> bool:
    """The wallet at `address` answers the EIP-1271 magic value for (digest, signature), read on chain."""
    from chain.client import get_web3

    w3 = get_web3()
    try:
        if not w3.eth.get_code(address):
            return False
        contract = w3.eth.contract(address=address, abi=EIP1271_ABI)
        result = contract.functions.isValidSignature(digest, bytes.fromhex(signature[2:])).call()
    except Exception:  # a reverting or unreachable wallet does not vouch for the signature
        return False
    return bytes(result) == EIP1271_MAGIC_VALUE


def verify_signed(primary_type: str, typed_data: Any, signature: Any, signer_field: str) -> VerifiedMessage:
    """Check the typed data is the portal's and that `message[signer_field]` signed it."""
    _check_shape(primary_type, typed_data)
    claimed = typed_data["message"].get(signer_field)
    if not isinstance(claimed, str) or not is_address(claimed):
        raise SignatureError(f"{signer_field} is not an address.", code="invalid_address")
    claimed = to_checksum_address(claimed)
    if not isinstance(signature, str) or not signature.startswith("0x"):
        raise SignatureError("The signature must be 0x-prefixed hex.", code="bad_signature")
    try:
        digest = eip712.digest(typed_data)
    except eip712.TypedDataError as exc:
        raise SignatureError(exc.message, code=exc.code) from exc
    contract_wallet = False
    try:
        signer = eip712.recover(digest, signature)
    except eip712.TypedDataError as exc:
        # Contract wallets' signatures need not be 65-byte ECDSA signatures: ask the wallet.
        if exc.code == "high_s_signature" or not eip1271_valid(claimed, digest, signature):
            raise SignatureError(exc.message, code=exc.code) from exc
        signer, contract_wallet = claimed, True
    if signer != claimed:
        if eip1271_valid(claimed, digest, signature):
            signer, contract_wallet = claimed, True
        else:
            raise SignatureError(f"The signature is by {signer}, not by {claimed}.", code="signer_mismatch")
    return VerifiedMessage(signer=signer, digest="0x" + digest.hex(), typed_data=dict(typed_data),
                           signature=signature.lower(), contract_wallet=contract_wallet)
