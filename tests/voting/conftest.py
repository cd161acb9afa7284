"""Fixtures of the voting tests: real holders and delegations on anvil, the chain index, proposals in Voting
reached through the real lifecycle, and real signatures (eth-account; EIP-1271 through a ContractWallet)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account

from accounts.models import User
from archive.models import ArchiveEntry
from archive.testing import archive_flushable  # noqa: F401 - autouse: lets flushes empty the archive
from chain import eip712
from chain.deploy import TOKEN_UNIT
from chain.signing import typed_data_for
from chain.testing import index_chain, sign_typed  # noqa: F401 - shared test helpers, imported from here too
from proposals import selectors as proposal_selectors
from proposals import services as proposal_services
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Proposal
from voting.models import Tally, Vote

#: Dev account index -> (tokens minted, delegate index: itself, another account, or None = never delegated).
#: Account 4 is the browser test wallet. 5 and 7 delegate to 6; 9 never delegates; 8 holds nothing.
HOLDINGS: dict[int, tuple[int, int | None]] = {3: (100, 3), 4: (300, 4), 5: (200, 6), 6: (400, 6), 7: (50, 6),
                                               9: (70, None)}
WALLET_TOKENS = 120  # the ContractWallet, owned by account 2, self-delegated through execute()
WALLET_OWNER = 2
NO_TOKENS = 8


def T(tokens: int | float) -> int:  # noqa: N802 - reads like a unit
    return int(tokens * TOKEN_UNIT)


sign = sign_typed  # the name these tests use


def vote_typed(number: int, voter: str, support: int = 1, reason: str = "", timestamp: int | None = None
               ) -> dict[str, Any]:
    return typed_data_for("Vote", {"proposalId": number, "voter": voter, "support": support, "reason": reason,
                                   "timestamp": int(time.time()) if timestamp is None else timestamp})


@dataclass
class World:
    chain: Any
    wallet: Any  # the ContractWallet contract
    proposals: list[Proposal] = field(default_factory=list)

    def key(self, index: int) -> str:
        return self.chain.key(index)

    def address(self, index: int) -> str:
        return self.chain.address(index)

    def vote(self, index: int, proposal: Proposal, support: int = 1, reason: str = "", **overrides: Any
             ) -> tuple[dict[str, Any], str]:
        """(typed data, signature) of a Vote by dev account `index`."""
        typed = vote_typed(proposal.number, self.address(index), support, reason)
        typed["message"].update(overrides)
        return typed, sign(self.key(index), typed)

    def wallet_vote(self, proposal: Proposal, support: int = 1, reason: str = "", timestamp: int | None = None
                    ) -> tuple[dict[str, Any], str]:
        """A Vote by the contract wallet: its owner signs the raw EIP-712 digest (EIP-1271)."""
        typed = vote_typed(proposal.number, self.wallet.address, support, reason, timestamp)
        signature = Account.unsafe_sign_hash(eip712.digest(typed), self.key(WALLET_OWNER)).signature.to_0x_hex()
        return typed, signature


def _to_voting(author: User, staff: User, endorser_key: str, title: str) -> Proposal:
    proposal = proposal_services.create_proposal(author, title=title, body="Why and how.", kind=ProposalKind.PROCESS,
                                                 payload={})
    proposal_services.user_transition(proposal.number, ProposalStatus.DISCUSSION, author)
    proposal_services.user_transition(proposal.number, ProposalStatus.ENDORSEMENT, staff)
    proposal.refresh_from_db()
    typed = proposal_selectors.endorsement_template(proposal, Account.from_key(endorser_key).address)
    proposal_services.endorse(proposal.number, typed, sign(endorser_key, typed))
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.VOTING, proposal.status
    return proposal


def build_world(chain: Any, proposals: int = 2) -> World:
    token = chain.token
    indices = sorted(HOLDINGS)
    chain.send(token.functions.mintBatch([chain.address(i) for i in indices],
                                         [T(HOLDINGS[i][0]) for i in indices]), 0)
    for i in indices:
        delegate = HOLDINGS[i][1]
        if delegate is not None:
            chain.send(token.functions.delegate(chain.address(delegate)), i)
    wallet = chain.deploy("ContractWallet", chain.address(WALLET_OWNER))
    chain.send(token.functions.mint(wallet.address, T(WALLET_TOKENS)), 0)
    delegate_call = token.encode_abi("delegate", args=[wallet.address])
    chain.send(wallet.functions.execute(token.address, 0, delegate_call), WALLET_OWNER)
    chain.mine(1)
    index_chain()
    world = World(chain=chain, wallet=wallet)
    author = User.objects.for_address(Account.create().address)
    staff = User.objects.for_address(Account.create().address)
    staff.is_staff = True
    staff.save()
    for n in range(proposals):
        world.proposals.append(_to_voting(author, staff, chain.key(3), f"Proposal {n} to vote on"))
    return world


@pytest.fixture
def world(chain_settings, db) -> World:
    """Holders, delegations and a contract wallet on anvil, indexed; two proposals in Voting."""
    return build_world(chain_settings)


def tally_state() -> list[tuple]:
    return list(Tally.objects.order_by("pk").values_list("for_power", "against_power", "abstain_power", "voters",
                                                          "votes_received", "overridden_power"))


@contextlib.contextmanager
def nothing_stored() -> Iterator[None]:
    """Assert the block stores no vote, no archive entry and changes no tally."""
    before = (Vote.objects.count(), ArchiveEntry.objects.count(), tally_state())
    yield
    assert (Vote.objects.count(), ArchiveEntry.objects.count(), tally_state()) == before
