"""Fixtures of the proposal tests: real token holders on anvil, the chain index, real signatures."""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account

from accounts.models import User
from archive.models import ArchiveEntry
from archive.testing import archive_flushable  # noqa: F401 - autouse: lets flushes empty the archive
from chain.deploy import TOKEN_UNIT
from chain.testing import index_chain, sign_typed  # noqa: F401 - shared test helpers, imported from here too
from proposals import services
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Endorsement, Proposal, Revision, StatusChange, TechnicalReview

#: Tokens minted (and self-delegated) per dev account index. Total supply: 1,000 tokens.
#: Accounts 5 and 6 are the dev core developers (settings.GOVERNANCE["CORE_DEVELOPERS"]).
HOLDINGS = {3: 100, 4: 300, 5: 200, 6: 400}
#: Holds no tokens: no voting power.
NO_POWER = 8
OS_PAYLOAD = {"program_hash": "0x" + "ab" * 32, "config_hash": "0x" + "cd" * 32, "os_version": "0.14.0",
              "snips": ["SNIP-12", "snip-15"]}
GRANT_RECIPIENT = "0x" + "12" * 20


@dataclass
class Holders:
    chain: Any
    head: int

    def key(self, index: int) -> str:
        return self.chain.key(index)

    def address(self, index: int) -> str:
        return self.chain.address(index)

    def user(self, index: int) -> User:
        return User.objects.for_address(self.address(index))


@pytest.fixture
def holders(chain_settings, db) -> Holders:
    """Mint HOLDINGS to dev accounts, each self-delegates; the chain is indexed to its head."""
    chain = chain_settings
    token = chain.token
    accounts = sorted(HOLDINGS)
    chain.send(token.functions.mintBatch([chain.address(i) for i in accounts],
                                         [HOLDINGS[i] * TOKEN_UNIT for i in accounts]), 0)
    for i in accounts:
        chain.send(token.functions.delegate(chain.address(i)), i)
    return Holders(chain=chain, head=index_chain())


@pytest.fixture
def governance(settings):
    """Set GOVERNANCE keys for one test: governance(ENDORSEMENT_THRESHOLD={...}, ...)."""
    def apply(**overrides: Any) -> dict[str, Any]:
        value = copy.deepcopy(settings.GOVERNANCE)
        value.update(overrides)
        settings.GOVERNANCE = value
        return value

    return apply


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count()
            for model in (Proposal, Revision, Endorsement, TechnicalReview, StatusChange, ArchiveEntry)}


@contextlib.contextmanager
def unchanged(*proposals: Proposal) -> Iterator[None]:
    """Assert the block changes no row count and none of the proposals' state (a refused request)."""
    before = counts()
    states = [(p.pk, Proposal.objects.filter(pk=p.pk).values().get()) for p in proposals]
    yield
    assert counts() == before
    for pk, state in states:
        assert Proposal.objects.filter(pk=pk).values().get() == state


def author_user(address: str | None = None) -> User:
    return User.objects.for_address(address or Account.create().address)


def new_proposal(author: User, kind: str = ProposalKind.PROCESS, **fields: Any) -> Proposal:
    defaults: dict[str, Any] = {"title": f"A {kind} proposal", "body": "Why and how.\n\n* one\n* two",
                                "payload": {}}
    if kind == ProposalKind.OS_UPGRADE:
        defaults["payload"] = OS_PAYLOAD
    elif kind == ProposalKind.PARAMETER_CHANGE:
        defaults["payload"] = {"changes": [{"name": "fee.min_gas_price", "value": "1000"}]}
    elif kind == ProposalKind.TREASURY_GRANT:
        defaults["payload"] = {"recipient": GRANT_RECIPIENT, "amount": "250.5"}
    defaults.update(fields)
    return services.create_proposal(author, kind=kind, **defaults)


def staff_user() -> User:
    user = User.objects.for_address(Account.create().address)
    user.is_staff = True
    user.save()
    return user


def to_endorsement(proposal: Proposal) -> Proposal:
    """Draft → Discussion (author) → Endorsement (staff, early): needs the chain index."""
    services.user_transition(proposal.number, ProposalStatus.DISCUSSION, proposal.author)
    return services.user_transition(proposal.number, ProposalStatus.ENDORSEMENT, staff_user())


def endorse_as(key: str, proposal: Proposal, **message: Any):
    """Fetch the template for `key`'s address, sign it with `key` and submit it."""
    from proposals import selectors

    proposal.refresh_from_db()
    typed = selectors.endorsement_template(proposal, Account.from_key(key).address)
    typed["message"].update(message)
    return services.endorse(proposal.number, typed, sign_typed(key, typed))


def review_as(key: str, proposal: Proposal, approve: bool, comment: str = "Checked the program hash."):
    from proposals import selectors

    proposal.refresh_from_db()
    typed = selectors.review_template(proposal, Account.from_key(key).address, approve, comment)
    return services.review(proposal.number, typed, sign_typed(key, typed))
