"""Fixtures of the security tests: one governance world per module, with a proposal in every status.

Roles (each identity plays exactly one role, so a matrix cell tests one role and nothing else):

    anonymous  no session; for signed actions a fresh key that holds nothing and is nobody
    holder     dev account 3: 100 tokens, self-delegated (the only voting power there is)
    author     the author of every proposal of the world (no tokens, not staff)
    core_dev   dev account 5, GOVERNANCE["CORE_DEVELOPERS"] (no tokens)
    council    dev account 7, GOVERNANCE["SECURITY_COUNCIL"] (no tokens)
    staff      a User with is_staff (no tokens)

The world is built once per module inside an outer transaction (like TestCase.setUpTestData): every
test runs in a savepoint that is rolled back, and the module's transaction is rolled back at its end.
The chain is reverted to its state before the module (evm_snapshot / evm_revert).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.test import Client
from django.test.utils import override_settings
from eth_account import Account

from accounts.models import SignInNonce, User
from archive.models import ArchiveEntry, Document
from chain.deploy import TOKEN_UNIT, write_deployment_file
from chain.signing import typed_data_for
from chain.testing import ChainContext, index_chain, rpc, sign_typed  # noqa: F401 - shared test helpers, imported from here too
from delegation.models import DelegateStatement, RelayedDelegation
from execution.models import Execution, VetoSignature
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Endorsement, Proposal, Revision, StatusChange, TechnicalReview
from voting.models import Tally, Vote

ROLES = ("anonymous", "holder", "author", "core_dev", "council", "staff")
HOLDER_INDEX, CORE_DEV_INDICES, COUNCIL_INDICES = 3, (5, 6), (7, 8, 9)
HOLDER_TOKENS = 100
OS_PAYLOAD = {"program_hash": "0x" + "ab" * 32, "config_hash": "0x" + "cd" * 32, "os_version": "0.14.0",
              "snips": ["SNIP-12"]}
EMPTY_ROOT = "0x" + "00" * 32
#: The rate limiter stays in the path of every request, with limits these tests never reach.
GENEROUS_RATE_LIMITS = {"address": "100000/minute", "ip": "100000/minute"}
#: Models whose row counts make up the observable state of the portal.
COUNTED = (Proposal, Revision, StatusChange, Endorsement, TechnicalReview, Vote, Tally, Execution, VetoSignature,
           DelegateStatement, RelayedDelegation, Document, ArchiveEntry, SignInNonce, User)


@dataclass
class World:
    chain: ChainContext
    keys: dict[str, str]
    users: dict[str, User | None]
    proposals: dict[str, Proposal] = field(default_factory=dict)

    def address(self, role: str) -> str:
        return Account.from_key(self.keys[role]).address

    def number(self, name: str) -> int:
        return self.proposals[name].number

    def client(self, role: str, **kwargs: Any) -> Client:
        """A test client signed in as `role` (session), or anonymous."""
        client = Client(**kwargs)
        user = self.users.get(role)
        if user is not None:
            client.force_login(user)
        return client


def portal_state() -> dict[str, Any]:
    """Everything a refused request must leave exactly as it was."""
    state: dict[str, Any] = {model.__name__: model.objects.count() for model in COUNTED}
    state["proposals"] = sorted(Proposal.objects.values_list("number", "status", "revision_number", "title", "body"))
    state["nonces_used"] = SignInNonce.objects.filter(used_at__isnull=False).count()
    state["users"] = sorted(User.objects.values_list("address", "is_staff", "is_active", "display_name"))
    state["executions"] = sorted(Execution.objects.values_list("pk", "state"))
    return state


def _governance_override() -> dict[str, Any]:
    from chain.anvil import dev_address

    value = copy.deepcopy(django_settings.GOVERNANCE)
    value["CORE_DEVELOPERS"] = [dev_address(i) for i in CORE_DEV_INDICES]
    value["SECURITY_COUNCIL"] = [dev_address(i) for i in COUNCIL_INDICES]
    value["SECURITY_COUNCIL_THRESHOLD"] = 2
    return value


def _build(chain: ChainContext) -> World:
    from archive.services import record_final_tally
    from execution.engine import create_execution
    from proposals import selectors as proposal_selectors
    from proposals import services

    holder_key = chain.key(HOLDER_INDEX)
    token = chain.token
    chain.send(token.functions.mint(chain.address(HOLDER_INDEX), HOLDER_TOKENS * TOKEN_UNIT), 0)
    chain.send(token.functions.delegate(chain.address(HOLDER_INDEX)), HOLDER_INDEX)
    chain.mine(1)
    index_chain()

    keys = {"anonymous": Account.create().key.to_0x_hex(), "holder": holder_key,
            "author": Account.create().key.to_0x_hex(), "core_dev": chain.key(CORE_DEV_INDICES[0]),
            "council": chain.key(COUNCIL_INDICES[0]), "staff": Account.create().key.to_0x_hex()}
    users: dict[str, User | None] = {"anonymous": None}
    for role in ROLES[1:]:
        users[role] = User.objects.for_address(Account.from_key(keys[role]).address)
    users["staff"].is_staff = True
    users["staff"].save()
    world = World(chain=chain, keys=keys, users=users)
    author, staff = users["author"], users["staff"]

    def create(name: str, kind: str = ProposalKind.PROCESS) -> Proposal:
        payload = OS_PAYLOAD if kind == ProposalKind.OS_UPGRADE else {}
        return services.create_proposal(author, title=f"The {name} proposal", body="Why and how.", kind=kind,
                                        payload=copy.deepcopy(payload))

    def endorse_by_holder(proposal: Proposal) -> None:
        proposal.refresh_from_db()
        typed = proposal_selectors.endorsement_template(proposal, world.address("holder"))
        services.endorse(proposal.number, typed, sign_typed(holder_key, typed))

    def forward(proposal: Proposal, *targets: str) -> Proposal:
        for target in targets:
            if target == ProposalStatus.DISCUSSION:
                services.user_transition(proposal.number, target, author)
            elif target == ProposalStatus.ENDORSEMENT:
                services.user_transition(proposal.number, target, staff)
            else:
                endorse_by_holder(proposal)
        proposal.refresh_from_db()
        return proposal

    S = ProposalStatus
    world.proposals["draft"] = create("draft")
    world.proposals["discussion"] = forward(create("discussion"), S.DISCUSSION)
    world.proposals["endorsement"] = forward(create("endorsement"), S.DISCUSSION, S.ENDORSEMENT)
    world.proposals["review"] = forward(create("review", ProposalKind.OS_UPGRADE), S.DISCUSSION, S.ENDORSEMENT,
                                        "endorsed")
    world.proposals["voting"] = forward(create("voting"), S.DISCUSSION, S.ENDORSEMENT, "endorsed")
    queued = create("queued", ProposalKind.OS_UPGRADE)
    Proposal.objects.filter(pk=queued.pk).update(status=S.PASSED)
    record_final_tally(queued.ref, {"outcome": "passed", "merkle_root": EMPTY_ROOT})
    queued.refresh_from_db()
    create_execution(queued)
    world.proposals["queued"] = queued
    expected = {"draft": S.DRAFT, "discussion": S.DISCUSSION, "endorsement": S.ENDORSEMENT,
                "review": S.TECHNICAL_REVIEW, "voting": S.VOTING, "queued": S.PASSED}
    assert {k: p.status for k, p in world.proposals.items()} == expected
    return world


@pytest.fixture(scope="module")
def world(django_db_setup: Any, django_db_blocker: Any, w3: Any, deployment: Any, dev_keys: list[str],
          anvil: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    """The module's governance world (see the module docstring); settings point at the test anvil."""
    chain_id = w3.eth.chain_id
    deployment_file = write_deployment_file(tmp_path_factory.mktemp("deployment") / "deployment.json", deployment,
                                            chain_id)
    overrides = override_settings(CHAIN_RPC_URL=anvil.rpc_url, CHAIN_ID=chain_id,
                                  CHAIN_DEPLOYMENT_FILE=deployment_file, GOVERNANCE=_governance_override(),
                                  RATE_LIMITS=GENEROUS_RATE_LIMITS)
    snapshot = rpc(w3, "evm_snapshot")
    chain = ChainContext(w3=w3, deployment=deployment, keys=list(dev_keys), snapshot_id=snapshot)
    with django_db_blocker.unblock(), overrides:
        outer = transaction.atomic()
        outer.__enter__()
        try:
            yield _build(chain)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)
            if not rpc(w3, "evm_revert", snapshot):
                raise RuntimeError("evm_revert failed: later tests would see this module's chain state")


def now_plus(seconds: int = 1) -> int:
    return int(time.time()) + seconds


def vote_typed(world: World, signer_role: str, voter_role: str | None = None, reason: str = "") -> dict[str, Any]:
    """A Vote on the world's voting proposal naming `voter_role` (default: the signer)."""
    return typed_data_for("Vote", {"proposalId": world.number("voting"),
                                   "voter": world.address(voter_role or signer_role), "support": 1,
                                   "reason": reason, "timestamp": now_plus()})
