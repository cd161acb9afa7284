"""The two values that tie an on-chain operation to the portal's records, each defined ONCE.

proposal_onchain_id(number)
    The bytes32 proposal id given to UpgradeExecutor.schedule / execute / cancel:
        keccak256(utf8("govapp:proposal:" + decimal number))
    e.g. proposal 12 -> keccak256("govapp:proposal:12"). A prefixed hash rather than the bare number, so
    the portal's ids cannot collide with ids another client of the same executor might use; anyone can
    recompute it from the proposal number.

tally_digest(merkle_root, for, against, abstain)
    The bytes32 tallyDigest given to schedule (stored in the operation hash and emitted in
    ProposalScheduled), binding the change to the vote that authorized it:
        keccak256(abi.encode(bytes32 merkleRoot, uint256 forVotes, uint256 againstVotes, uint256 abstainVotes))
    with the values of the proposal's final tally as archived in its TALLY_FINAL entry (merkle_root of
    the counted vote set per voting.merkle, totals in token base units). Solidity:
        keccak256(abi.encode(root, forVotes, againstVotes, abstainVotes))

veto_bundle_digest(digests)
    What the council relay's cancel reason carries: keccak256 of the concatenated 32-byte EIP-712 digests
    of the counted Veto signatures, sorted ascending. Each digest is the id of an archived VETO_SIGNATURE.

Plain Python (no Django): the archive's standalone verifier may import or copy these.
"""

from __future__ import annotations

from collections.abc import Iterable

from eth_abi import encode as abi_encode
from eth_utils import keccak

PROPOSAL_ID_PREFIX = "govapp:proposal:"


def _hex(raw: bytes) -> str:
    return "0x" + bytes(raw).hex()


def _bytes32(value: str | bytes) -> bytes:
    raw = bytes.fromhex(value[2:] if value.startswith("0x") else value) if isinstance(value, str) else bytes(value)
    if len(raw) != 32:
        raise ValueError(f"expected 32 bytes, got {len(raw)}")
    return raw


def proposal_onchain_id(number: int) -> str:
    """0x-hex bytes32 id of proposal `number` on the executor (see the module docstring)."""
    number = int(number)
    if number < 0:
        raise ValueError("a proposal number is not negative")
    return _hex(keccak(text=f"{PROPOSAL_ID_PREFIX}{number}"))


def tally_digest(merkle_root: str | bytes, for_votes: int, against_votes: int, abstain_votes: int) -> str:
    """0x-hex bytes32 digest of a final tally (see the module docstring)."""
    encoded = abi_encode(["bytes32", "uint256", "uint256", "uint256"],
                         [_bytes32(merkle_root), int(for_votes), int(against_votes), int(abstain_votes)])
    return _hex(keccak(encoded))


def veto_bundle_digest(digests: Iterable[str | bytes]) -> str:
    """0x-hex keccak256 of the sorted, concatenated EIP-712 digests of the counted veto signatures."""
    return _hex(keccak(b"".join(sorted({_bytes32(d) for d in digests}))))


def cancel_reason(bundle_digest: str, count: int, threshold: int) -> str:
    """The `reason` string of the relay's UpgradeExecutor.cancel call (readable, parseable, auditable)."""
    return f"govapp council veto: {count} of {threshold} signatures; vetoes digest {bundle_digest}"
