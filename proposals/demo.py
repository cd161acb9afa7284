"""Demo proposals for the local dev portal (`make run`)."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from accounts.models import User
from proposals.models import Proposal, ProposalKind, ProposalStatus

DEMO_PROPOSALS = (
    ("Upgrade the network OS to v0.14.0", ProposalKind.OS_UPGRADE, ProposalStatus.DISCUSSION,
     "Bundles the improvement proposals of version 0.14.0: a faster block builder and cheaper storage proofs."),
    ("Lower the minimum gas price by 10 %", ProposalKind.PARAMETER_CHANGE, ProposalStatus.ENDORSEMENT,
     "Fees have fallen behind L1 costs; this lowers `fee.min_gas_price` within its bounds."),
    ("Fund the open-source Cairo debugger", ProposalKind.TREASURY_GRANT, ProposalStatus.DRAFT,
     "A public-goods grant of 50,000 tokens to the team maintaining the Cairo debugger."),
    ("Publish core developers' call notes in the archive", ProposalKind.PROCESS, ProposalStatus.DISCUSSION,
     "Every core developers' call gets minutes published as a Foundation document within a week."),
)


@transaction.atomic
def seed_demo_proposals(author_addresses: Sequence[str]) -> list[Proposal]:
    """Create the demo proposals once (idempotent: does nothing when any proposal exists)."""
    if Proposal.objects.exists():
        return list(Proposal.objects.all())
    created = []
    for number, (title, kind, status, body) in enumerate(DEMO_PROPOSALS, start=1):
        author = User.objects.for_address(author_addresses[(number - 1) % len(author_addresses)])
        created.append(Proposal.objects.create(number=number, title=title, kind=kind, status=status,
                                               author=author, body=body))
    return created
