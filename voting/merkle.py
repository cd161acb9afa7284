"""The Merkle root of a proposal's counted vote set (plain Python: the archive verifier may import or copy it).

Definition (recorded in the TALLY_FINAL archive entry as ``merkle_root``):

* the set: the ids of the counted votes — the current (latest) vote of each voter; a vote id is the
  32-byte EIP-712 digest of the signed message (0x-hex in the API and the archive);
* leaves: ``keccak256(id)`` for each id, the ids sorted ascending as bytes (= as lower-case hex) and
  de-duplicated; hashing the id once more keeps a leaf from ever being read as an inner node;
* inner nodes: ``keccak256(min(a, b) ‖ max(a, b))`` — the pair sorted, as OpenZeppelin's
  ``MerkleProof.verify`` expects, so a proof of inclusion is just the list of siblings;
* levels are built left to right; an odd node at the end of a level is carried up unchanged;
* the root of one leaf is that leaf; the root of the empty set is 32 zero bytes.

``merkle_proof(ids, id)`` gives the siblings of one vote and ``verify_proof`` checks them.
"""

from __future__ import annotations

from collections.abc import Iterable

try:
    from Crypto.Hash import keccak as _keccak_module

    def keccak256(data: bytes) -> bytes:
        return _keccak_module.new(digest_bits=256, data=data).digest()
except ImportError:  # pragma: no cover
    from eth_utils import keccak as _eth_keccak

    def keccak256(data: bytes) -> bytes:
        return bytes(_eth_keccak(data))

EMPTY_ROOT = "0x" + "00" * 32


def _id_bytes(vote_id: str | bytes) -> bytes:
    raw = bytes.fromhex(vote_id[2:] if vote_id.startswith("0x") else vote_id) if isinstance(vote_id, str) \
        else bytes(vote_id)
    if len(raw) != 32:
        raise ValueError(f"a vote id has 32 bytes, {vote_id!r} has {len(raw)}")
    return raw


def _pair(a: bytes, b: bytes) -> bytes:
    return keccak256(a + b if a <= b else b + a)


def leaves(vote_ids: Iterable[str | bytes]) -> list[bytes]:
    return [keccak256(raw) for raw in sorted({_id_bytes(v) for v in vote_ids})]


def _next_level(level: list[bytes]) -> list[bytes]:
    nxt = [_pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        nxt.append(level[-1])
    return nxt


def vote_set_root(vote_ids: Iterable[str | bytes]) -> str:
    """0x-hex Merkle root of the vote ids (see the module docstring)."""
    level = leaves(vote_ids)
    if not level:
        return EMPTY_ROOT
    while len(level) > 1:
        level = _next_level(level)
    return "0x" + level[0].hex()


def merkle_proof(vote_ids: Iterable[str | bytes], vote_id: str | bytes) -> list[str]:
    """The siblings (0x-hex, leaf to root) proving that `vote_id` is in the set."""
    level = leaves(vote_ids)
    target = keccak256(_id_bytes(vote_id))
    try:
        index = level.index(target)
    except ValueError:
        raise ValueError(f"{vote_id!r} is not in the vote set") from None
    proof: list[str] = []
    while len(level) > 1:
        sibling = index ^ 1
        if sibling < len(level):
            proof.append("0x" + level[sibling].hex())
        level = _next_level(level)
        index //= 2
    return proof


def verify_proof(root: str, vote_id: str | bytes, proof: Iterable[str]) -> bool:
    node = keccak256(_id_bytes(vote_id))
    for sibling in proof:
        node = _pair(node, _id_bytes(sibling))
    return "0x" + node.hex() == root.lower()
