"""Demo proposals for the local dev portal (`make run`), created through the services (so archived)."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import transaction
from web3 import Web3

from accounts.models import User
from govapp.errors import DomainError
from proposals import services
from proposals.lifecycle import Actor, ProposalKind, ProposalStatus
from proposals.models import Proposal

log = logging.getLogger(__name__)

DEMO_PROPOSALS = (
    ("Upgrade the network OS to v0.14.0", ProposalKind.OS_UPGRADE, ProposalStatus.DISCUSSION,
     "Bundles the improvement proposals of version 0.14.0: a faster block builder and cheaper storage proofs.",
     {"program_hash": "0x" + Web3.keccak(text="govapp/starknet-os/0.14.0/program").hex().removeprefix("0x"),
      "config_hash": "0x" + Web3.keccak(text="govapp/starknet-os/0.14.0/config").hex().removeprefix("0x"),
      "os_version": "0.14.0", "snips": ["SNIP-12", "SNIP-15"]}),
    ("Lower the minimum gas price by 10 %", ProposalKind.PARAMETER_CHANGE, ProposalStatus.ENDORSEMENT,
     "Fees have fallen behind L1 costs; this lowers `fee.min_gas_price` within its bounds.",
     {"changes": [{"name": "fee.min_gas_price", "value": "900000000"}]}),
    ("Fund the open-source Cairo debugger", ProposalKind.TREASURY_GRANT, ProposalStatus.DRAFT,
     "A public-goods grant of 50,000 tokens to the team maintaining the Cairo debugger.",
     {"recipient": None, "amount": "50000"}),
    ("Publish core developers' call notes in the archive", ProposalKind.PROCESS, ProposalStatus.DISCUSSION,
     "Every core developers' call gets minutes published as a Foundation document within a week.", {}),
)


def seed_demo_proposals(author_addresses: Sequence[str]) -> list[Proposal]:
    """Create the demo proposals once (idempotent: does nothing when any proposal exists).

    Proposals meant to be in Endorsement stay in Discussion when the chain index is not ready.
    """
    if Proposal.objects.exists():
        return list(Proposal.objects.all())
    created = []
    for index, (title, kind, status, body, payload) in enumerate(DEMO_PROPOSALS):
        author = User.objects.for_address(author_addresses[index % len(author_addresses)])
        if kind == ProposalKind.TREASURY_GRANT:
            payload = {**payload, "recipient": author.address}
        proposal = services.create_proposal(author, title=title, body=body, kind=kind, payload=payload)
        if status in (ProposalStatus.DISCUSSION, ProposalStatus.ENDORSEMENT):
            proposal = services.user_transition(proposal.number, ProposalStatus.DISCUSSION, author)
        if status == ProposalStatus.ENDORSEMENT:
            try:
                with transaction.atomic():
                    locked = services._locked(proposal.number)
                    proposal = services._apply(locked, ProposalStatus.ENDORSEMENT, actor=Actor.STAFF,
                                               reason="Demo data: endorsement opened early.")
            except DomainError as exc:
                log.info("demo proposal %s stays in discussion: %s", proposal.number, exc.message)
        created.append(proposal)
    return created
