"""Reads of proposals: lists and search, the pieces of the detail page, templates to sign, diffs.

    recent_proposals(limit=10) -> QuerySet[Proposal]                     (the home page)
    proposal_queryset() / search(qs, text) / filter_proposals(qs, ...) / sort_proposals(qs, sort)
    get_proposal(number) -> Proposal                                    (NotFoundError proposal_not_found)
    revisions(proposal) / get_revision(proposal, number) / revision_diff(old, new) -> list[DiffLine]
    endorsement_progress(proposal) -> EndorsementProgress | None
    endorsements(proposal) / reviews(proposal) / review_status(proposal) -> ReviewStatus | None
    timeline(proposal) -> list[TimelineStep]
    proposal_actions(proposal) -> ActionsView                            (the decoded executor actions)
    executor_actions(proposal) -> list[tuple[target, value, data]]      (for UpgradeExecutor.schedule/execute)
    endorsement_template(proposal, endorser) / review_template(proposal, reviewer, approve, comment)
        -> typed data for eth_signTypedData_v4
    available_transitions(proposal, user) -> list[lifecycle.Transition]
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import F, Q, QuerySet
from django.utils import timezone
from eth_utils import is_address, to_checksum_address

from chain.signing import typed_data_for
from govapp.errors import ConflictError, DomainError, NotFoundError
from proposals import lifecycle
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Endorsement, Proposal, Revision, StatusChange, TechnicalReview
from proposals.payloads import Action, compile_actions, describe_payload

S = ProposalStatus

#: Sort keys of the list (browser and API): key -> (label, ordering).
SORTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "newest": ("Newest", ("-number",)),
    "oldest": ("Oldest", ("number",)),
    "updated": ("Recently updated", ("-updated_at", "-number")),
    "title": ("Title", ("title", "number")),
    "status": ("Status", ("status", "-number")),
    "relevance": ("Relevance (with a search)", ("-rank", "-number")),
}


def recent_proposals(limit: int = 10) -> QuerySet[Proposal]:
    return Proposal.objects.select_related("author").defer("body", "search_vector").order_by("-created_at")[:limit]


def proposal_queryset() -> QuerySet[Proposal]:
    """Proposals for lists: author joined, the heavy columns left out."""
    return Proposal.objects.select_related("author").defer("body", "search_vector")


def search(queryset: QuerySet[Proposal], text: str) -> QuerySet[Proposal]:
    """Full-text search of title and body: PostgreSQL tsvector (web-search syntax, ranked); elsewhere (SQLite, the
    embedded default) every word must appear (icontains, no stemming) in the title or the body."""
    text = (text or "").strip()
    if not text:
        return queryset
    if connection.vendor == "postgresql":
        query = SearchQuery(text, search_type="websearch", config="english")
        return queryset.filter(search_vector=query).annotate(rank=SearchRank(F("search_vector"), query))
    for word in text.split():
        queryset = queryset.filter(Q(title__icontains=word) | Q(body__icontains=word))
    return queryset


def normalize_address(value: str) -> str | None:
    value = (value or "").strip()
    return to_checksum_address(value) if is_address(value) else None


def filter_proposals(queryset: QuerySet[Proposal], *, kind: str | None = None, status: str | None = None,
                     author: str | None = None, q: str | None = None) -> QuerySet[Proposal]:
    if kind:
        queryset = queryset.filter(kind=kind)
    if status:
        queryset = queryset.filter(status=status)
    if author:
        address = normalize_address(author)
        queryset = queryset.filter(author__address=address) if address else queryset.none()
    if q:
        queryset = search(queryset, q)
    return queryset


def sort_proposals(queryset: QuerySet[Proposal], sort: str | None, *, searched: bool) -> QuerySet[Proposal]:
    sort = sort or ("relevance" if searched else "newest")
    if sort == "relevance" and not (searched and connection.vendor == "postgresql"):
        sort = "newest"
    return queryset.order_by(*SORTS.get(sort, SORTS["newest"])[1])


def get_proposal(number: int | str) -> Proposal:
    try:
        return Proposal.objects.select_related("author").get(number=int(number))
    except (Proposal.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"There is no proposal {number}.", code="proposal_not_found") from None


# --------------------------------------------------------------------------- revisions


def revisions(proposal: Proposal) -> QuerySet[Revision]:
    return Revision.objects.filter(proposal=proposal).select_related("author").order_by("number")


def get_revision(proposal: Proposal, number: int | str) -> Revision:
    try:
        return revisions(proposal).get(number=int(number))
    except (Revision.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"Proposal {proposal.number} has no revision {number}.",
                            code="revision_not_found") from None


def revision_lines(revision: Revision) -> list[str]:
    """A revision as text lines, for diffs: metadata, payload (pretty JSON), then the body."""
    lines = [f"Title: {revision.title}", f"Type: {ProposalKind(revision.kind).label}",
             f"Discussion: {revision.discussion_url or '-'}", "Payload:"]
    lines += ["  " + line for line in json.dumps(revision.payload, indent=2, sort_keys=True).splitlines()]
    lines += ["", *revision.body.splitlines()]
    return lines


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "added" | "removed" | "hunk" | "header" | "same"
    text: str


def revision_diff(old: Revision, new: Revision) -> list[DiffLine]:
    """Unified diff (difflib) between two revisions."""
    result = []
    for line in difflib.unified_diff(revision_lines(old), revision_lines(new), fromfile=f"revision {old.number}",
                                     tofile=f"revision {new.number}", lineterm="", n=3):
        if line.startswith(("---", "+++")):
            kind = "header"
        elif line.startswith("@@"):
            kind = "hunk"
        elif line.startswith("+"):
            kind = "added"
        elif line.startswith("-"):
            kind = "removed"
        else:
            kind = "same"
        result.append(DiffLine(kind, line))
    return result


# --------------------------------------------------------------------------- endorsement


@dataclass(frozen=True)
class EndorsementProgress:
    round: int
    block: int | None
    endorsed: int
    required: int
    total: int
    count: int
    reached: bool
    rule: str

    @property
    def percent(self) -> int:
        """Width of the progress bar, 0..100."""
        return min(100, self.endorsed * 100 // self.required) if self.required else 100

    @property
    def basis_points(self) -> int:
        return min(10_000, self.endorsed * 10_000 // self.required) if self.required else 10_000


def threshold_rule_text(kind: str) -> str:
    rule = settings.GOVERNANCE["ENDORSEMENT_THRESHOLD"][kind]
    if "absolute" in rule:
        return f"{int(rule['absolute']):,} of voting power (absolute)"
    bps = int(rule["share_bps"])
    return f"{bps / 100:g} % of the total voting power at the reference block"


def endorsement_progress(proposal: Proposal) -> EndorsementProgress | None:
    """Endorsing power of the current revision in the current round against its threshold."""
    from proposals.services import endorsed_power, endorsement_threshold

    if proposal.endorsement_round == 0:
        return None
    total = int(proposal.endorsement_total_power or 0)
    required = endorsement_threshold(proposal.kind, total)
    endorsed, count = endorsed_power(proposal)
    return EndorsementProgress(round=proposal.endorsement_round, block=proposal.endorsement_block,
                               endorsed=endorsed, required=required, total=total, count=count,
                               reached=endorsed >= required, rule=threshold_rule_text(proposal.kind))


def endorsements(proposal: Proposal) -> QuerySet[Endorsement]:
    """Every endorsement, newest round first; `counts` marks those of the current revision and round."""
    return (Endorsement.objects.filter(proposal=proposal).select_related("revision")
            .order_by("-round", "created_at", "id"))


def counts(proposal: Proposal, item: Endorsement | TechnicalReview) -> bool:
    current_round = proposal.endorsement_round if isinstance(item, Endorsement) else proposal.review_round
    return item.round == current_round and item.revision.content_hash == proposal.revision_hash


# --------------------------------------------------------------------------- technical review


@dataclass(frozen=True)
class ReviewStatus:
    round: int
    approvals: int
    required: int
    core_developers: tuple[str, ...]
    reviewed: frozenset[str]  # who reviewed the current revision in the current round


def reviews(proposal: Proposal) -> QuerySet[TechnicalReview]:
    return (TechnicalReview.objects.filter(proposal=proposal).select_related("revision")
            .order_by("-round", "created_at", "id"))


def review_status(proposal: Proposal) -> ReviewStatus | None:
    if proposal.kind not in lifecycle.REVIEWED_KINDS:
        return None
    current = list(TechnicalReview.objects.filter(
        proposal=proposal, round=proposal.review_round, revision__content_hash=proposal.revision_hash,
    ).values_list("reviewer", "approve"))
    return ReviewStatus(
        round=proposal.review_round, approvals=len({r for r, ok in current if ok}),
        required=settings.GOVERNANCE["CORE_REVIEW_APPROVALS"],
        core_developers=tuple(to_checksum_address(a) for a in settings.GOVERNANCE["CORE_DEVELOPERS"]),
        reviewed=frozenset(r for r, _ in current))


def is_core_developer(address: str | None) -> bool:
    address = normalize_address(address or "")
    return address is not None and address in {to_checksum_address(a)
                                               for a in settings.GOVERNANCE["CORE_DEVELOPERS"]}


# --------------------------------------------------------------------------- timeline


@dataclass(frozen=True)
class TimelineStep:
    status: str
    label: str
    state: str  # "done" | "current" | "upcoming"
    at: datetime | None = None
    change: StatusChange | None = None


def status_changes(proposal: Proposal) -> QuerySet[StatusChange]:
    return StatusChange.objects.filter(proposal=proposal).order_by("created_at", "id")


def timeline(proposal: Proposal) -> list[TimelineStep]:
    """What happened (every status change, in order) and what is still ahead on the main path."""
    changes = list(status_changes(proposal))
    steps = [TimelineStep(c.to_status, ProposalStatus(c.to_status).label,
                          "current" if i == len(changes) - 1 else "done", c.created_at, c)
             for i, c in enumerate(changes)]
    if proposal.status in lifecycle.TERMINAL_STATUSES:
        return steps
    path = lifecycle.main_path_for(proposal.kind)
    if proposal.status in path:
        for status in path[path.index(proposal.status) + 1:]:
            steps.append(TimelineStep(status, ProposalStatus(status).label, "upcoming"))
    return steps


# --------------------------------------------------------------------------- payload and actions


@dataclass(frozen=True)
class ActionsView:
    payload_rows: list[tuple[str, str]]
    actions: list[Action]
    error: str | None = None


def proposal_actions(proposal: Proposal | Revision) -> ActionsView:
    """The payload decoded for readers and the executor actions it compiles into (decoded from calldata)."""
    from chain.client import get_deployment

    rows = describe_payload(proposal.kind, proposal.payload)
    if proposal.kind not in lifecycle.EXECUTABLE_KINDS:
        return ActionsView(rows, [])
    try:
        deployment = get_deployment()
    except DomainError as exc:
        return ActionsView(rows, [], error=exc.message)
    return ActionsView(rows, compile_actions(proposal.kind, proposal.payload, deployment))


def executor_actions(proposal: Proposal) -> list[tuple[str, int, bytes]]:
    """(target, value, data) of each action, for UpgradeExecutor.schedule/execute."""
    from chain.client import get_deployment

    return [a.as_tuple() for a in compile_actions(proposal.kind, proposal.payload, get_deployment())]


# --------------------------------------------------------------------------- typed data to sign


def _signer(address: Any, field: str) -> str:
    if not isinstance(address, str) or not is_address(address.strip()):
        raise DomainError(f"Give the {field} address (0x + 40 hex digits).", code="invalid_address",
                          details={"field": field})
    return to_checksum_address(address.strip())


def endorsement_template(proposal: Proposal, endorser: Any, *, now: datetime | None = None) -> dict[str, Any]:
    """The EIP-712 `Endorsement` of the current revision for `endorser` to sign (eth_signTypedData_v4)."""
    if proposal.status != S.ENDORSEMENT:
        raise ConflictError(f"A {proposal.get_status_display()} proposal does not take endorsements.",
                            code="not_in_endorsement")
    now = now or timezone.now()
    return typed_data_for("Endorsement", {
        "proposalId": proposal.number, "revisionHash": proposal.revision_hash,
        "endorser": _signer(endorser, "endorser"), "timestamp": int(now.timestamp())})


def review_template(proposal: Proposal, reviewer: Any, approve: bool, comment: str, *,
                    now: datetime | None = None) -> dict[str, Any]:
    """The EIP-712 `TechnicalReview` of the current revision for a core developer to sign."""
    if proposal.status != S.TECHNICAL_REVIEW:
        raise ConflictError(f"A {proposal.get_status_display()} proposal is not in technical review.",
                            code="not_in_review")
    now = now or timezone.now()
    return typed_data_for("TechnicalReview", {
        "proposalId": proposal.number, "revisionHash": proposal.revision_hash,
        "reviewer": _signer(reviewer, "reviewer"), "approve": bool(approve), "comment": comment or "",
        "timestamp": int(now.timestamp())})


# --------------------------------------------------------------------------- what a user may do


def available_transitions(proposal: Proposal, user: Any) -> list[lifecycle.Transition]:
    """The transitions `user` may ask for on `proposal` (shown as buttons)."""
    from proposals.services import actor_roles

    roles = actor_roles(user, proposal)
    return lifecycle.transitions_from(proposal.status, roles) if roles else []


def can_edit(proposal: Proposal, user: Any) -> bool:
    return (user is not None and getattr(user, "is_authenticated", False) and user.pk == proposal.author_id
            and proposal.status in lifecycle.EDITABLE_STATUSES)
