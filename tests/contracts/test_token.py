"""GovernanceToken on a real anvil: minting, transfers, delegation, checkpoints, permit, delegateBySig, batches."""

from __future__ import annotations

import pytest
from eth_account import Account
from web3.exceptions import ContractCustomError
from web3.logs import DISCARD

from chain.deploy import DEFAULT_TOKEN_NAME
from chain.errors import describe_revert
from chain.tx import TransactionReverted

UNIT = 10**18
MAX_UINT = 2**256 - 1


def test_metadata_owner_and_clock(chain):
    token = chain.token
    assert token.functions.name().call() == "Governance Token"
    assert token.functions.symbol().call() == "GOV"
    assert token.functions.decimals().call() == 18
    assert token.functions.owner().call() == chain.address(0)
    assert token.functions.CLOCK_MODE().call() == "mode=blocknumber&from=default"
    assert token.functions.clock().call() == chain.block_number


def test_only_owner_mints(chain):
    token, alice = chain.token, chain.address(2)
    chain.send(token.functions.mint(alice, 5 * UNIT), 0)
    assert token.functions.balanceOf(alice).call() == 5 * UNIT
    assert token.functions.totalSupply().call() == 5 * UNIT
    with pytest.raises(TransactionReverted) as info:
        chain.send(token.functions.mint(alice, UNIT), 2)
    assert info.value.error_name == "OwnableUnauthorizedAccount"
    assert info.value.error.args == (alice,)
    assert "GovernanceToken.mint reverted: OwnableUnauthorizedAccount(" in str(info.value)
    assert token.functions.totalSupply().call() == 5 * UNIT


def test_transfer_delegation_and_past_votes(chain):
    token = chain.token
    alice, bob, carol = chain.address(2), chain.address(3), chain.address(4)

    b_empty = chain.block_number
    chain.send(token.functions.mint(alice, 100 * UNIT), 0)
    b_minted = chain.block_number
    # undelegated balance carries no votes
    assert token.functions.getVotes(alice).call() == 0
    assert token.functions.delegates(alice).call() == "0x" + "00" * 20

    chain.send(token.functions.delegate(alice), 2)  # self-delegation
    b_self = chain.block_number
    assert token.functions.getVotes(alice).call() == 100 * UNIT

    chain.send(token.functions.transfer(bob, 30 * UNIT), 2)
    b_transfer = chain.block_number
    assert token.functions.balanceOf(bob).call() == 30 * UNIT
    assert token.functions.getVotes(alice).call() == 70 * UNIT
    assert token.functions.getVotes(bob).call() == 0  # bob has not delegated

    chain.send(token.functions.delegate(carol), 3)  # bob delegates to carol
    b_bob_delegated = chain.block_number
    assert token.functions.getVotes(carol).call() == 30 * UNIT
    assert token.functions.getVotes(bob).call() == 0
    assert token.functions.delegates(bob).call() == carol
    chain.mine()

    past_votes = token.functions.getPastVotes
    assert past_votes(alice, b_empty).call() == 0
    assert past_votes(alice, b_minted).call() == 0  # minted but not yet delegated
    assert past_votes(alice, b_self).call() == 100 * UNIT
    assert past_votes(alice, b_transfer).call() == 70 * UNIT
    assert past_votes(carol, b_transfer).call() == 0
    assert past_votes(carol, b_bob_delegated).call() == 30 * UNIT
    assert token.functions.getPastTotalSupply(b_empty).call() == 0
    assert token.functions.getPastTotalSupply(b_minted).call() == 100 * UNIT

    # the current block is not a past block
    current = chain.block_number
    with pytest.raises(ContractCustomError) as info:
        past_votes(alice, current).call()
    assert describe_revert(info.value).startswith("ERC5805FutureLookup(")

    # redelegating moves votes
    chain.send(token.functions.delegate(carol), 2)
    assert token.functions.getVotes(alice).call() == 0
    assert token.functions.getVotes(carol).call() == 100 * UNIT


def _permit_message(chain, owner, spender, value, nonce, deadline):
    domain = {
        "name": DEFAULT_TOKEN_NAME,
        "version": "1",
        "chainId": chain.w3.eth.chain_id,
        "verifyingContract": chain.token.address,
    }
    types = {
        "Permit": [
            {"name": "owner", "type": "address"},
            {"name": "spender", "type": "address"},
            {"name": "value", "type": "uint256"},
            {"name": "nonce", "type": "uint256"},
            {"name": "deadline", "type": "uint256"},
        ]
    }
    message = {"owner": owner, "spender": spender, "value": value, "nonce": nonce, "deadline": deadline}
    return domain, types, message


def test_permit_with_real_signature(chain):
    token = chain.token
    owner_key, owner = chain.key(2), chain.address(2)
    spender, relayer = chain.address(3), 4
    chain.send(token.functions.mint(owner, 10 * UNIT), 0)

    # the EIP-712 domain we sign against is the one the contract reports (ERC-5267)
    _, name, version, chain_id, verifying, _, _ = token.functions.eip712Domain().call()
    assert (name, version, chain_id, verifying) == (DEFAULT_TOKEN_NAME, "1", 31337, token.address)

    deadline = chain.timestamp + 3600
    nonce = token.functions.nonces(owner).call()
    signed = Account.sign_typed_data(owner_key, *_permit_message(chain, owner, spender, 4 * UNIT, nonce, deadline))
    args = (owner, spender, 4 * UNIT, deadline, signed.v, signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big"))
    chain.send(token.functions.permit(*args), relayer)  # anyone can submit it
    assert token.functions.allowance(owner, spender).call() == 4 * UNIT
    assert token.functions.nonces(owner).call() == nonce + 1

    chain.send(token.functions.transferFrom(owner, spender, 4 * UNIT), 3)
    assert token.functions.balanceOf(spender).call() == 4 * UNIT

    # replaying the same signature fails (the nonce moved on): the recovered signer is not owner
    with pytest.raises(TransactionReverted) as info:
        chain.send(token.functions.permit(*args), relayer)
    assert info.value.error_name == "ERC2612InvalidSigner"

    # a signature by someone else than the owner is refused
    nonce = token.functions.nonces(owner).call()
    forged = Account.sign_typed_data(chain.key(5), *_permit_message(chain, owner, spender, UNIT, nonce, deadline))
    with pytest.raises(TransactionReverted) as info:
        chain.send(
            token.functions.permit(
                owner, spender, UNIT, deadline, forged.v, forged.r.to_bytes(32, "big"), forged.s.to_bytes(32, "big")
            ),
            relayer,
        )
    assert info.value.error_name == "ERC2612InvalidSigner"
    assert info.value.error.args[1] == owner

    # an expired permit is refused
    expired = chain.timestamp - 1
    old = Account.sign_typed_data(owner_key, *_permit_message(chain, owner, spender, UNIT, nonce, expired))
    with pytest.raises(TransactionReverted) as info:
        chain.send(
            token.functions.permit(
                owner, spender, UNIT, expired, old.v, old.r.to_bytes(32, "big"), old.s.to_bytes(32, "big")
            ),
            relayer,
        )
    assert info.value.error_name == "ERC2612ExpiredSignature"


def test_delegate_by_sig_with_real_signature(chain):
    token = chain.token
    holder_key, holder, delegatee = chain.key(2), chain.address(2), chain.address(3)
    chain.send(token.functions.mint(holder, 7 * UNIT), 0)

    nonce = token.functions.nonces(holder).call()
    expiry = chain.timestamp + 3600
    domain = {
        "name": DEFAULT_TOKEN_NAME,
        "version": "1",
        "chainId": chain.w3.eth.chain_id,
        "verifyingContract": token.address,
    }
    types = {
        "Delegation": [
            {"name": "delegatee", "type": "address"},
            {"name": "nonce", "type": "uint256"},
            {"name": "expiry", "type": "uint256"},
        ]
    }
    signed = Account.sign_typed_data(
        holder_key, domain, types, {"delegatee": delegatee, "nonce": nonce, "expiry": expiry}
    )
    r, s = signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")
    receipt = chain.send(token.functions.delegateBySig(delegatee, nonce, expiry, signed.v, r, s), 5)
    (event,) = token.events.DelegateChanged().process_receipt(receipt, errors=DISCARD)
    assert event["args"]["delegator"] == holder
    assert event["args"]["toDelegate"] == delegatee
    assert token.functions.delegates(holder).call() == delegatee
    assert token.functions.getVotes(delegatee).call() == 7 * UNIT
    assert token.functions.nonces(holder).call() == nonce + 1  # shared with permit

    with pytest.raises(TransactionReverted) as info:  # replay
        chain.send(token.functions.delegateBySig(delegatee, nonce, expiry, signed.v, r, s), 5)
    assert info.value.error_name == "InvalidAccountNonce"


def test_mint_batch_and_transfer_batch_emit_one_transfer_each(chain):
    token = chain.token
    sender = chain.address(2)
    recipients = [chain.address(i) for i in (3, 4, 5, 6, 7)]
    amounts = [1 * UNIT, 2 * UNIT, 3 * UNIT, 4 * UNIT, 5 * UNIT]

    receipt = chain.send(token.functions.mintBatch([sender, recipients[0]], [100 * UNIT, UNIT]), 0)
    minted = token.events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert [(e["args"]["from"], e["args"]["to"], e["args"]["value"]) for e in minted] == [
        ("0x" + "00" * 20, sender, 100 * UNIT),
        ("0x" + "00" * 20, recipients[0], UNIT),
    ]
    with pytest.raises(TransactionReverted) as info:
        chain.send(token.functions.mintBatch([sender], [UNIT]), 2)
    assert info.value.error_name == "OwnableUnauthorizedAccount"

    receipt = chain.send(token.functions.transferBatch(recipients, amounts), 2)
    transfers = token.events.Transfer().process_receipt(receipt, errors=DISCARD)
    assert len(transfers) == len(recipients)
    assert [(e["args"]["from"], e["args"]["to"], e["args"]["value"]) for e in transfers] == [
        (sender, to, value) for to, value in zip(recipients, amounts, strict=True)
    ]
    assert token.functions.balanceOf(sender).call() == 85 * UNIT
    assert token.functions.balanceOf(recipients[0]).call() == 2 * UNIT
    assert token.functions.balanceOf(recipients[4]).call() == 5 * UNIT

    with pytest.raises(TransactionReverted) as info:
        chain.send(token.functions.transferBatch(recipients, amounts[:-1]), 2)
    assert info.value.error_name == "BatchLengthMismatch"
    assert info.value.error.args == (5, 4)

    # one leg too large: the whole batch reverts, nothing moves
    with pytest.raises(TransactionReverted) as info:
        chain.send(token.functions.transferBatch(recipients[:2], [UNIT, MAX_UINT]), 2)
    assert info.value.error_name == "ERC20InsufficientBalance"
    assert token.functions.balanceOf(sender).call() == 85 * UNIT


def test_snapshot_isolation_part_1(chain):
    """Together with part 2: state made in one test is gone in the next (chain fixture reverts)."""
    chain.send(chain.token.functions.mint(chain.address(6), 123), 0)
    assert chain.token.functions.balanceOf(chain.address(6)).call() == 123


def test_snapshot_isolation_part_2(chain):
    assert chain.token.functions.balanceOf(chain.address(6)).call() == 0
    assert chain.token.functions.totalSupply().call() == 0
