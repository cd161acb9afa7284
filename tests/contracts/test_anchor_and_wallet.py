"""ArchiveAnchor and the EIP-1271 ContractWallet on a real anvil."""

from __future__ import annotations

import pytest
from eth_account import Account
from hexbytes import HexBytes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from web3 import Web3
from web3.logs import DISCARD

from chain.errors import decode_revert
from chain.tx import TransactionReverted

MAGIC = bytes.fromhex("1626ba7e")
INVALID = bytes.fromhex("ffffffff")
ANCHORER, OUTSIDER, WALLET_OWNER, OTHER = 0, 2, 3, 4


def head(n: int) -> bytes:
    return Web3.keccak(text=f"archive head {n}")


def reverts(chain, fn, key, error_name: str) -> TransactionReverted:
    with pytest.raises(TransactionReverted) as info:
        chain.send(fn, key)
    assert info.value.error_name == error_name, str(info.value)
    return info.value


# -- ArchiveAnchor ----------------------------------------------------------------------------


def test_anchor_sequences_strictly_increase(chain):
    anchor = chain.anchor
    assert anchor.functions.owner().call() == chain.address(ANCHORER)
    assert anchor.functions.latest().call() == [0, b"\0" * 32, 0]

    receipt = chain.send(anchor.functions.anchor(1, head(1)), ANCHORER)
    (event,) = anchor.events.Anchored().process_receipt(receipt, errors=DISCARD)
    block_ts = chain.w3.eth.get_block(receipt["blockNumber"])["timestamp"]
    assert (event["args"]["sequence"], event["args"]["headHash"], event["args"]["timestamp"]) == (1, head(1), block_ts)

    chain.send(anchor.functions.anchor(7, head(7)), ANCHORER)
    assert anchor.functions.latest().call() == [7, head(7), 2]
    assert anchor.functions.latestSequence().call() == 7
    assert anchor.functions.headHashAt(1).call() == head(1)
    assert anchor.functions.headHashAt(7).call() == head(7)
    assert anchor.functions.headHashAt(4).call() == b"\0" * 32

    for sequence in (7, 6, 0):
        err = reverts(chain, anchor.functions.anchor(sequence, head(99)), ANCHORER, "SequenceNotIncreasing")
        assert err.error.args == (sequence, 7)
    reverts(chain, anchor.functions.anchor(8, b"\0" * 32), ANCHORER, "ZeroHeadHash")
    err = reverts(chain, anchor.functions.anchor(8, head(8)), OUTSIDER, "OwnableUnauthorizedAccount")
    assert err.error.args == (chain.address(OUTSIDER),)
    assert anchor.functions.latest().call() == [7, head(7), 2]


def test_first_anchor_may_use_sequence_zero_and_a_separate_anchorer(chain):
    anchor = chain.deploy("ArchiveAnchor", chain.address(5))
    reverts(chain, anchor.functions.anchor(0, head(0)), ANCHORER, "OwnableUnauthorizedAccount")
    chain.send(anchor.functions.anchor(0, head(0)), 5)
    assert anchor.functions.latest().call() == [0, head(0), 1]
    reverts(chain, anchor.functions.anchor(0, head(1)), 5, "SequenceNotIncreasing")
    chain.send(anchor.functions.anchor(1, head(1)), 5)


# -- ContractWallet ---------------------------------------------------------------------------


@pytest.fixture
def wallet(chain):
    return chain.deploy("ContractWallet", chain.address(WALLET_OWNER))


def sign(key: str, digest: bytes) -> bytes:
    """Raw ECDSA signature (r || s || v) of a 32-byte digest, as the wallet expects."""
    return bytes(Account.unsafe_sign_hash(digest, key).signature)


def test_wallet_accepts_only_the_owners_signature(chain, wallet):
    digest = Web3.keccak(text="vote: proposal 12, support=for")
    is_valid = wallet.functions.isValidSignature
    assert wallet.functions.owner().call() == chain.address(WALLET_OWNER)
    assert is_valid(digest, sign(chain.key(WALLET_OWNER), digest)).call() == MAGIC
    assert is_valid(digest, sign(chain.key(OTHER), digest)).call() == INVALID
    # owner's signature of a different digest
    assert is_valid(Web3.keccak(text="other"), sign(chain.key(WALLET_OWNER), digest)).call() == INVALID
    # malformed signatures are answered, not reverted
    assert is_valid(digest, b"").call() == INVALID
    assert is_valid(digest, sign(chain.key(WALLET_OWNER), digest)[:64]).call() == INVALID
    assert is_valid(digest, b"\x01" * 65).call() == INVALID


def test_broken_wallet_never_returns_the_magic_value(chain, wallet):
    digest = Web3.keccak(text="vote")
    good = sign(chain.key(WALLET_OWNER), digest)
    reverts(chain, wallet.functions.setBroken(True), OTHER, "NotOwner")
    assert wallet.functions.isValidSignature(digest, good).call() == MAGIC

    chain.send(wallet.functions.setBroken(True), WALLET_OWNER)
    assert wallet.functions.broken().call() is True
    answer = wallet.functions.isValidSignature(digest, good).call()
    assert answer != MAGIC
    assert answer not in (MAGIC, INVALID)  # a genuinely wrong value, not the conventional "invalid"

    chain.send(wallet.functions.setBroken(False), WALLET_OWNER)
    assert wallet.functions.isValidSignature(digest, good).call() == MAGIC


def test_wallet_executes_calls_for_its_owner_e_g_delegation(chain, wallet):
    token = chain.token
    delegatee = chain.address(6)
    chain.send(token.functions.mint(wallet.address, 42 * 10**18), 0)

    delegate_call = bytes(HexBytes(token.encode_abi("delegate", args=[delegatee])))
    reverts(chain, wallet.functions.execute(token.address, 0, delegate_call), OTHER, "NotOwner")
    chain.send(wallet.functions.execute(token.address, 0, delegate_call), WALLET_OWNER)
    assert token.functions.delegates(wallet.address).call() == delegatee
    assert token.functions.getVotes(delegatee).call() == 42 * 10**18

    # a failing inner call surfaces as CallFailed with the target's revert data
    too_much = bytes(HexBytes(token.encode_abi("transfer", args=[delegatee, 10**30])))
    err = reverts(chain, wallet.functions.execute(token.address, 0, too_much), WALLET_OWNER, "CallFailed")
    assert decode_revert(err.error.args[1]).name == "ERC20InsufficientBalance"


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(digest=st.binary(min_size=32, max_size=32), signer=st.sampled_from([WALLET_OWNER, OTHER, 0, 9]))
def test_wallet_signature_property(chain, wallet, digest, signer):
    """For any digest: magic value iff the signer is the owner (read-only calls, shared wallet is fine)."""
    answer = wallet.functions.isValidSignature(digest, sign(chain.key(signer), digest)).call()
    assert answer == (MAGIC if signer == WALLET_OWNER else INVALID)
