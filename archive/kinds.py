"""The archive entry kinds and their payload rules, defined once (plain Python, no Django).

Every app records with one of these constants, e.g.::

    from archive import kinds
    from archive.services import record
    record(kinds.VOTE_CAST, {...}, signed={...})

``archive.models.EntryKind`` is the Django TextChoices built from ``KINDS``; the standalone
verifier (``archive.verify``) uses the same table, so the portal and the verifier agree.
"""

from __future__ import annotations

PROPOSAL_CREATED = "proposal.created"
PROPOSAL_REVISED = "proposal.revised"
PROPOSAL_STATUS_CHANGED = "proposal.status_changed"
ENDORSEMENT = "endorsement"
TECHNICAL_REVIEW = "technical_review"
VOTE_CAST = "vote.cast"
VOTE_REPLACED = "vote.replaced"
TALLY_FINAL = "tally.final"
VETO_SIGNATURE = "veto.signature"
EXECUTION_SCHEDULED = "execution.scheduled"
EXECUTION_EXECUTED = "execution.executed"
EXECUTION_FAILED = "execution.failed"
EXECUTION_CANCELLED = "execution.cancelled"
COUNCIL_MEMBERSHIP_CHANGED = "council.membership_changed"
DELEGATE_STATEMENT = "delegate.statement"
DOCUMENT_PUBLISHED = "document.published"

#: (value, human label), in the order the issue lists them.
KINDS: tuple[tuple[str, str], ...] = (
    (PROPOSAL_CREATED, "Proposal created"),
    (PROPOSAL_REVISED, "Proposal revised"),
    (PROPOSAL_STATUS_CHANGED, "Proposal status changed"),
    (ENDORSEMENT, "Endorsement"),
    (TECHNICAL_REVIEW, "Technical review"),
    (VOTE_CAST, "Vote cast"),
    (VOTE_REPLACED, "Vote replaced"),
    (TALLY_FINAL, "Final tally"),
    (VETO_SIGNATURE, "Veto signature"),
    (EXECUTION_SCHEDULED, "Execution scheduled"),
    (EXECUTION_EXECUTED, "Execution executed"),
    (EXECUTION_FAILED, "Execution failed"),
    (EXECUTION_CANCELLED, "Execution cancelled"),
    (COUNCIL_MEMBERSHIP_CHANGED, "Council membership changed"),
    (DELEGATE_STATEMENT, "Delegate statement"),
    (DOCUMENT_PUBLISHED, "Foundation document published"),
)
ALL_KINDS: frozenset[str] = frozenset(value for value, _ in KINDS)
LABELS: dict[str, str] = dict(KINDS)

#: A vote entry: the later vote of a voter on a proposal replaces the earlier one.
VOTE_KINDS: frozenset[str] = frozenset({VOTE_CAST, VOTE_REPLACED})

#: Kinds whose entry must carry the signed artifact (EIP-712 typed data, signature, signer),
#: mapped to the payload field that names the signer (the signature must recover to it).
SIGNER_FIELD: dict[str, str] = {
    VOTE_CAST: "voter",
    VOTE_REPLACED: "voter",
    ENDORSEMENT: "endorser",
    TECHNICAL_REVIEW: "reviewer",
    VETO_SIGNATURE: "member",
    DELEGATE_STATEMENT: "delegate",
}
SIGNED_KINDS: frozenset[str] = frozenset(SIGNER_FIELD)

#: Payload fields every entry of a kind must have (more fields are allowed and kept).
REQUIRED_FIELDS: dict[str, tuple[str, ...]] = {
    PROPOSAL_CREATED: ("proposal", "title", "author"),
    PROPOSAL_REVISED: ("proposal", "revision"),
    PROPOSAL_STATUS_CHANGED: ("proposal", "from", "to"),
    ENDORSEMENT: ("proposal", "endorser"),
    TECHNICAL_REVIEW: ("proposal", "reviewer", "verdict"),
    VOTE_CAST: ("proposal", "voter", "support", "weight"),
    VOTE_REPLACED: ("proposal", "voter", "support", "weight"),
    TALLY_FINAL: ("proposal", "totals"),
    VETO_SIGNATURE: ("proposal", "member"),
    EXECUTION_SCHEDULED: ("proposal",),
    EXECUTION_EXECUTED: ("proposal",),
    EXECUTION_FAILED: ("proposal",),
    EXECUTION_CANCELLED: ("proposal",),
    COUNCIL_MEMBERSHIP_CHANGED: ("member", "change"),
    DELEGATE_STATEMENT: ("delegate",),
    DOCUMENT_PUBLISHED: ("title", "category", "date", "content_sha256", "size", "publisher"),
}

#: Fields holding an address (0x + 40 hex) when present.
ADDRESS_FIELDS: frozenset[str] = frozenset(
    {"voter", "endorser", "reviewer", "member", "delegate", "author", "publisher"}
)

#: The three ways to vote; the tally has one total for each.
SUPPORT_VALUES: tuple[str, ...] = ("for", "against", "abstain")
#: Council membership changes.
MEMBERSHIP_CHANGES: tuple[str, ...] = ("added", "removed")
