"""Writes of proposals: every change of a proposal goes through one of these functions.

Each public function runs in one transaction (`transaction.atomic()`), checks the actor and the
timing, and archives what it did (archive.services.record) in that same transaction; a refused
request raises a DomainError and leaves nothing behind.

Users (signed in):
    create_proposal(author, *, title, body, kind, payload=None, discussion_url="") -> Proposal
    revise_proposal(number, editor, *, title=None, body=None, kind=None, payload=None,
                    discussion_url=None, note="") -> Revision
    user_transition(number, target, user, *, reason="") -> Proposal      # e.g. Draft→Discussion, Withdraw
Signed messages (the signature is the authority; no session needed):
    endorse(number, typed_data, signature) -> Endorsement
    review(number, typed_data, signature) -> TechnicalReview
The portal (beat task):
    advance_discussions(now=None) -> list[int]                          # Discussion → Endorsement when due
The voting and execution engines (after the vote):
    close_voting(proposal, outcome, *, reason="", details=None, now=None)   # Voting → Passed|Rejected|Quorum not met
    queue_for_execution(proposal, ...) / mark_executed / mark_vetoed / mark_failed / mark_expired
    system_transition(proposal, target, *, reason="", details=None, address=None) -> Proposal

Endorsement weight: the endorser's voting power at the proposal's `endorsement_block`, the latest
indexed block when the proposal entered Endorsement (chain.selectors.indexer_status()["head_block"]).
The threshold compares the summed power of the endorsements of the CURRENT revision in the current
round to GOVERNANCE["ENDORSEMENT_THRESHOLD"][kind] — a share (bps) of total_voting_power at that
same block, or an absolute amount. Power bought after Endorsement opened does not count.

Voting seam: on entry into Voting the proposal gets snapshot_block (latest indexed block),
voting_starts_at (now) and voting_ends_at (now + GOVERNANCE["VOTING_PERIOD_SECONDS"][kind or
"default"]), then `voting.services.open_voting(proposal)` is called, inside the same transaction,
if that function exists.
"""

from __future__ import annotations

import importlib
import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.postgres.search import SearchVector
from django.db import IntegrityError, connection, transaction
from django.db.models import Max
from django.utils import timezone
from eth_utils import to_checksum_address

from archive import kinds
from archive.services import record
from chain.signing import verify_signed
from govapp.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from proposals import content, lifecycle, payloads
from proposals.lifecycle import Actor, ProposalKind, ProposalStatus
from proposals.models import Endorsement, Proposal, Revision, StatusChange, TechnicalReview

log = logging.getLogger(__name__)

S = ProposalStatus
#: pg_advisory_xact_lock key serializing proposal numbering ("proposal" in ASCII).
NUMBER_LOCK_KEY = 0x70726F706F73616C


# --------------------------------------------------------------------------- helpers


def _governance(key: str) -> Any:
    return settings.GOVERNANCE[key]


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _require_user(user: Any) -> None:
    if user is None or not getattr(user, "is_authenticated", False):
        raise DomainError("Sign in with your wallet first.", code="not_authenticated", status=401)
    if not user.is_active:
        raise PermissionDeniedError("This account is disabled.", code="account_disabled")


def _locked(number: int | str | Proposal) -> Proposal:
    """The proposal row, locked until the end of the transaction."""
    if isinstance(number, Proposal):
        number = number.number
    try:
        return Proposal.objects.select_for_update().get(number=int(number))
    except (Proposal.DoesNotExist, ValueError, TypeError):
        raise NotFoundError(f"There is no proposal {number}.", code="proposal_not_found") from None


def _status_label(status: str) -> str:
    return ProposalStatus(status).label


def core_developers() -> set[str]:
    return {to_checksum_address(a) for a in _governance("CORE_DEVELOPERS")}


def actor_roles(user: Any, proposal: Proposal) -> set[Actor]:
    """The roles a signed-in user plays for `proposal` (author, staff)."""
    roles: set[Actor] = set()
    if user is not None and getattr(user, "is_authenticated", False) and user.is_active:
        if user.pk == proposal.author_id:
            roles.add(Actor.AUTHOR)
        if user.is_staff:
            roles.add(Actor.STAFF)
    return roles


# --------------------------------------------------------------------------- the indexer seam


def indexed_head() -> int:
    """The latest block the portal's chain index has reached (refuses when it has none yet)."""
    from chain.selectors import indexer_status

    head = (indexer_status() or {}).get("head_block")
    if head is None:
        raise DomainError("The chain index has not indexed any block yet; try again shortly.",
                          code="indexer_not_ready", status=503)
    return int(head)


def _voting_power(address: str, block: int) -> int:
    from chain.selectors import voting_power

    return int(voting_power(address, block))


def _total_voting_power(block: int) -> int:
    from chain.selectors import total_voting_power

    return int(total_voting_power(block))


def endorsement_threshold(kind: str, total_power: int) -> int:
    """Endorsing power a proposal of `kind` needs: GOVERNANCE["ENDORSEMENT_THRESHOLD"][kind] is either
    {"share_bps": n} (n/10 000 of `total_power`, rounded up) or {"absolute": amount}; at least 1."""
    rule = _governance("ENDORSEMENT_THRESHOLD")[kind]
    # share: ceiling division, so the threshold is never below the share
    required = int(rule["absolute"]) if "absolute" in rule else -(-int(total_power) * int(rule["share_bps"]) // 10_000)
    return max(required, 1)


def endorsed_power(proposal: Proposal) -> tuple[int, int]:
    """(summed weight, count) of the endorsements that count: current round and current revision."""
    weights = Endorsement.objects.filter(
        proposal=proposal, round=proposal.endorsement_round, revision__content_hash=proposal.revision_hash,
    ).values_list("weight", flat=True)
    weights = list(weights)
    return sum(int(w) for w in weights), len(weights)


def review_approvals(proposal: Proposal) -> int:
    return (TechnicalReview.objects.filter(proposal=proposal, round=proposal.review_round, approve=True,
                                           revision__content_hash=proposal.revision_hash)
            .values("reviewer").distinct().count())


# --------------------------------------------------------------------------- transitions


def _guard(proposal: Proposal, target: str, actor: Actor, now: datetime) -> None:
    """Rules of a transition beyond the table (timing, thresholds, kinds)."""
    source = proposal.status
    if (source, target) == (S.DISCUSSION, S.ENDORSEMENT) and actor == Actor.SYSTEM:
        if proposal.discussion_ends_at is None or now < proposal.discussion_ends_at:
            raise ConflictError("The discussion period is not over yet.", code="discussion_not_over")
    elif source == S.ENDORSEMENT and target in (S.TECHNICAL_REVIEW, S.VOTING):
        wants_review = proposal.kind in lifecycle.REVIEWED_KINDS
        if wants_review != (target == S.TECHNICAL_REVIEW):
            raise ConflictError(f"A {ProposalKind(proposal.kind).label} proposal goes from Endorsement to "
                                f"{'Technical review' if wants_review else 'Voting'}.", code="illegal_transition")
        required = endorsement_threshold(proposal.kind, int(proposal.endorsement_total_power or 0))
        if endorsed_power(proposal)[0] < required:
            raise ConflictError("The endorsement threshold is not reached.", code="threshold_not_reached")
    elif (source, target) == (S.TECHNICAL_REVIEW, S.VOTING):
        if review_approvals(proposal) < _governance("CORE_REVIEW_APPROVALS"):
            raise ConflictError("Not enough core developers approved this revision.", code="review_incomplete")
    elif (source, target) == (S.TECHNICAL_REVIEW, S.DISCUSSION):
        if not TechnicalReview.objects.filter(proposal=proposal, round=proposal.review_round, approve=False,
                                              revision__content_hash=proposal.revision_hash).exists():
            raise ConflictError("Only a signed rejection sends a proposal back to discussion.",
                                code="rejection_required")
    elif source == S.VOTING:
        if proposal.voting_ends_at is None or now < proposal.voting_ends_at:
            raise ConflictError("The vote is still open.", code="voting_not_ended")
    elif (source, target) == (S.PASSED, S.QUEUED) and not proposal.is_executable:
        raise ConflictError("This proposal has no on-chain action to queue.", code="not_executable")


def _enter(proposal: Proposal, target: str, now: datetime) -> dict[str, Any]:
    """Set the fields a status starts with; return what the archive entry should also say."""
    if target == S.DISCUSSION:
        proposal.discussion_ends_at = now + timedelta(seconds=_governance("DISCUSSION_PERIOD_SECONDS"))
        return {"discussion_ends_at": _iso(proposal.discussion_ends_at)}
    if target == S.ENDORSEMENT:
        block = indexed_head()
        total = _total_voting_power(block)
        proposal.endorsement_round += 1
        proposal.endorsement_block = block
        proposal.endorsement_total_power = str(total)
        proposal.endorsement_opened_at = now
        return {"round": proposal.endorsement_round, "endorsement_block": block, "total_voting_power": str(total),
                "threshold": str(endorsement_threshold(proposal.kind, total)), "revision_hash": proposal.revision_hash}
    if target == S.TECHNICAL_REVIEW:
        proposal.review_round += 1
        proposal.review_opened_at = now
        return {"round": proposal.review_round, "revision_hash": proposal.revision_hash,
                "approvals_required": _governance("CORE_REVIEW_APPROVALS")}
    if target == S.VOTING:
        periods = _governance("VOTING_PERIOD_SECONDS")
        proposal.snapshot_block = indexed_head()
        proposal.voting_starts_at = now
        proposal.voting_ends_at = now + timedelta(seconds=periods.get(proposal.kind, periods["default"]))
        return {"snapshot_block": proposal.snapshot_block, "voting_starts_at": _iso(proposal.voting_starts_at),
                "voting_ends_at": _iso(proposal.voting_ends_at), "revision_hash": proposal.revision_hash}
    return {}


def _notify_voting_opened(proposal: Proposal) -> None:
    """The seam to the voting engine: voting.services.open_voting(proposal), when it exists."""
    try:
        module = importlib.import_module("voting.services")
    except ModuleNotFoundError as exc:
        if exc.name not in ("voting.services", "voting"):
            raise
        return
    hook = getattr(module, "open_voting", None)
    if callable(hook):
        hook(proposal)


def _apply(proposal: Proposal, target: str, *, actor: Actor, address: str = "", reason: str = "",
           details: dict[str, Any] | None = None, now: datetime | None = None) -> Proposal:
    """Move a LOCKED proposal to `target` (table, actor and guards checked), timeline row and archive entry."""
    source = proposal.status
    edge = lifecycle.transition(source, target)
    if edge is None:
        raise ConflictError(f"A proposal cannot go from {_status_label(source)} to {_status_label(target)}.",
                            code="illegal_transition", details={"from": source, "to": target})
    if actor not in edge.actors:
        raise PermissionDeniedError(
            f"Only {' or '.join(sorted(edge.actors))} may move a proposal from {_status_label(source)} to "
            f"{_status_label(target)}.", code="transition_not_permitted", details={"from": source, "to": target})
    moment = timezone.now()  # what is recorded; `now` (the caller's clock, e.g. a beat task's) only for guards
    _guard(proposal, target, actor, now or moment)
    extra = _enter(proposal, target, moment)
    proposal.status = target
    proposal.status_changed_at = moment
    proposal.save()
    payload = {"proposal": proposal.ref, "from": source, "to": target, "actor": str(actor), "reason": reason,
               **extra, **(details or {})}
    entry = record(kinds.PROPOSAL_STATUS_CHANGED, payload, proposal_ref=proposal.ref, address=address or None)
    StatusChange.objects.create(proposal=proposal, from_status=source, to_status=target, actor=str(actor),
                                actor_address=address, reason=reason, archive_sequence=entry.sequence,
                                created_at=moment)
    if target == S.VOTING:
        _notify_voting_opened(proposal)
    return proposal


def user_transition(number: int | str, target: str, user: Any, *, reason: str = "") -> Proposal:
    """A transition a signed-in user asks for (author: open discussion, withdraw; staff: start endorsement)."""
    _require_user(user)
    if target not in ProposalStatus.values:
        raise DomainError(f"{target!r} is not a status.", code="invalid_status")
    reason = (reason or "").strip()
    if len(reason) > _governance("BODY_MAX_CHARS"):
        raise DomainError("The reason is too long.", code="reason_too_long")
    with transaction.atomic():
        proposal = _locked(number)
        edge = lifecycle.transition(proposal.status, target)
        if edge is None:
            raise ConflictError(
                f"A proposal cannot go from {_status_label(proposal.status)} to {_status_label(target)}.",
                code="illegal_transition", details={"from": proposal.status, "to": target})
        roles = actor_roles(user, proposal) & edge.actors
        if not roles:
            raise PermissionDeniedError(
                f"You may not move this proposal from {_status_label(proposal.status)} to {_status_label(target)} "
                f"(allowed: {', '.join(sorted(edge.actors))}).", code="transition_not_permitted",
                details={"from": proposal.status, "to": target})
        actor = Actor.AUTHOR if Actor.AUTHOR in roles else Actor.STAFF
        return _apply(proposal, target, actor=actor, address=user.address, reason=reason)


#: Transitions the voting and execution engines make through system_transition().
ENGINE_SOURCES = frozenset({S.VOTING, S.PASSED, S.QUEUED})


def system_transition(proposal: Proposal | int | str, target: str, *, reason: str = "",
                      details: dict[str, Any] | None = None, address: str | None = None,
                      now: datetime | None = None) -> Proposal:
    """A transition made by the portal after the vote (Voting → outcome, Passed → Queued → end states).

    `details` (JSON, no floats) is added to the archive entry, e.g. the tally or the transaction hash.
    The transitions before the vote have their own triggers (advance_discussions, endorse, review,
    revise_proposal) and are refused here.
    """
    with transaction.atomic():
        locked = _locked(proposal)
        if locked.status not in ENGINE_SOURCES:
            raise ConflictError(f"A {_status_label(locked.status)} proposal changes status through its own "
                                "trigger, not system_transition().", code="illegal_transition",
                                details={"from": locked.status, "to": target})
        result = _apply(locked, target, actor=Actor.SYSTEM, address=address or "", reason=reason, details=details,
                        now=now)
    if isinstance(proposal, Proposal):
        proposal.refresh_from_db()
    return result


def close_voting(proposal: Proposal | int | str, outcome: str, *, reason: str = "",
                 details: dict[str, Any] | None = None, now: datetime | None = None) -> Proposal:
    """Voting → Passed | Rejected | Quorum not met (only once `now` >= voting_ends_at)."""
    if outcome not in (S.PASSED, S.REJECTED, S.QUORUM_NOT_MET):
        raise DomainError(f"{outcome!r} is not a vote outcome.", code="invalid_outcome")
    return system_transition(proposal, outcome, reason=reason, details=details, now=now)


def queue_for_execution(proposal: Proposal | int | str, **kw: Any) -> Proposal:
    return system_transition(proposal, S.QUEUED, **kw)


def mark_executed(proposal: Proposal | int | str, **kw: Any) -> Proposal:
    return system_transition(proposal, S.EXECUTED, **kw)


def mark_vetoed(proposal: Proposal | int | str, **kw: Any) -> Proposal:
    return system_transition(proposal, S.VETOED, **kw)


def mark_failed(proposal: Proposal | int | str, **kw: Any) -> Proposal:
    return system_transition(proposal, S.FAILED, **kw)


def mark_expired(proposal: Proposal | int | str, **kw: Any) -> Proposal:
    return system_transition(proposal, S.EXPIRED, **kw)


def advance_discussions(now: datetime | None = None) -> list[int]:
    """Move every proposal whose discussion period is over into Endorsement (the beat task).

    Each proposal in its own transaction; one that cannot move now (e.g. the index is not ready)
    stays in Discussion and is retried on the next run.
    """
    now = now or timezone.now()
    due = list(Proposal.objects.filter(status=S.DISCUSSION, discussion_ends_at__lte=now)
               .order_by("discussion_ends_at").values_list("number", flat=True))
    moved = []
    for number in due:
        try:
            with transaction.atomic():
                proposal = _locked(number)
                if proposal.status != S.DISCUSSION:
                    continue
                _apply(proposal, S.ENDORSEMENT, actor=Actor.SYSTEM, reason="The discussion period is over.",
                       now=now)
            moved.append(number)
        except DomainError as exc:
            log.warning("proposal %s stays in discussion: %s (%s)", number, exc.message, exc.code)
    return moved


# --------------------------------------------------------------------------- create and revise


def _refresh_search_vector(proposal: Proposal) -> None:
    if connection.vendor == "postgresql":
        Proposal.objects.filter(pk=proposal.pk).update(
            search_vector=SearchVector("title", weight="A", config="english")
            + SearchVector("body", weight="B", config="english"))


def _next_number() -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [NUMBER_LOCK_KEY])
    return (Proposal.objects.aggregate(n=Max("number"))["n"] or 0) + 1


def _clean_content(title: Any, body: Any, kind: Any, payload: Any, discussion_url: Any) -> dict[str, Any]:
    if kind not in ProposalKind.values:
        raise DomainError(f"Choose a proposal type: {', '.join(ProposalKind.values)}.", code="invalid_kind",
                          details={"field": "kind"})
    return {
        "title": content.clean_title(title),
        "body": content.clean_body(body),
        "kind": kind,
        "payload": payloads.validate_payload(kind, payload),
        "discussion_url": content.clean_discussion_url(discussion_url),
    }


def _revision_record(proposal: Proposal, revision: Revision) -> dict[str, Any]:
    return {"proposal": proposal.ref, "revision": revision.number, "revision_hash": revision.content_hash,
            "title": revision.title, "kind": revision.kind, "body": revision.body, "payload": revision.payload,
            "discussion_url": revision.discussion_url, "author": revision.author.address}


def create_proposal(author: Any, *, title: Any, body: Any, kind: Any, payload: Any = None,
                    discussion_url: Any = "") -> Proposal:
    """A new Draft by `author` (signed in), with its first revision; archived as proposal.created."""
    _require_user(author)
    fields = _clean_content(title, body, kind, payload, discussion_url)
    content_hash = content.revision_hash(fields["title"], fields["body"], fields["kind"], fields["payload"])
    now = timezone.now()
    with transaction.atomic():
        proposal = Proposal.objects.create(number=_next_number(), author=author, status=S.DRAFT,
                                           revision_number=1, revision_hash=content_hash, status_changed_at=now,
                                           **fields)
        revision = Revision.objects.create(proposal=proposal, number=1, author=author, content_hash=content_hash,
                                           **fields)
        entry = record(kinds.PROPOSAL_CREATED, _revision_record(proposal, revision), proposal_ref=proposal.ref,
                       address=author.address)
        StatusChange.objects.create(proposal=proposal, from_status="", to_status=S.DRAFT, actor=Actor.AUTHOR,
                                    actor_address=author.address, reason="Created",
                                    archive_sequence=entry.sequence, created_at=now)
        _refresh_search_vector(proposal)
    return proposal


def revise_proposal(number: int | str, editor: Any, *, title: Any = None, body: Any = None, kind: Any = None,
                    payload: Any = None, discussion_url: Any = None, note: str = "") -> Revision:
    """A new immutable revision by the author, before Voting. None keeps a field as it is.

    Endorsements (and reviews) are bound to a revision hash: those of earlier revisions stop
    counting. A revision during Technical review sends the proposal back to Endorsement.
    """
    _require_user(editor)
    note = (note or "").strip()
    if len(note) > Revision._meta.get_field("note").max_length:
        raise DomainError("The change note is too long.", code="note_too_long", details={"field": "note"})
    with transaction.atomic():
        proposal = _locked(number)
        if proposal.author_id != editor.pk:
            raise PermissionDeniedError("Only the author can edit a proposal.", code="not_author")
        if proposal.status not in lifecycle.EDITABLE_STATUSES:
            raise ConflictError(f"A {_status_label(proposal.status)} proposal can no longer be edited.",
                                code="not_editable")
        kind = proposal.kind if kind is None else kind
        if kind != proposal.kind and proposal.status != S.DRAFT:
            raise ConflictError("The type of a proposal can only change while it is a draft.", code="kind_locked",
                                details={"field": "kind"})
        if payload is None and kind == proposal.kind:
            payload = proposal.payload
        fields = _clean_content(
            proposal.title if title is None else title, proposal.body if body is None else body, kind, payload,
            proposal.discussion_url if discussion_url is None else discussion_url)
        if all(getattr(proposal, name) == value for name, value in fields.items()):
            raise DomainError("Nothing changed: a revision needs a change.", code="no_changes")
        content_hash = content.revision_hash(fields["title"], fields["body"], fields["kind"], fields["payload"])
        revision = Revision.objects.create(proposal=proposal, number=proposal.revision_number + 1, author=editor,
                                           content_hash=content_hash, note=note, **fields)
        previous_hash = proposal.revision_hash
        for name, value in fields.items():
            setattr(proposal, name, value)
        proposal.revision_number = revision.number
        proposal.revision_hash = content_hash
        proposal.save()
        record(kinds.PROPOSAL_REVISED, {**_revision_record(proposal, revision), "previous_revision_hash": previous_hash,
                                        "note": note}, proposal_ref=proposal.ref, address=editor.address)
        _refresh_search_vector(proposal)
        if proposal.status == S.TECHNICAL_REVIEW and content_hash != previous_hash:
            _apply(proposal, S.ENDORSEMENT, actor=Actor.SYSTEM, address=editor.address,
                   reason=f"Revised during technical review (revision {revision.number}): endorse it again.")
    return revision


# --------------------------------------------------------------------------- signed messages


def _message_int(message: dict[str, Any], field: str) -> int:
    value = message.get(field)
    try:
        if isinstance(value, bool):
            raise ValueError
        return int(value, 0) if isinstance(value, str) else int(value)
    except (TypeError, ValueError):
        raise DomainError(f"message.{field} is not an integer.", code="invalid_message") from None


def _check_binding(proposal: Proposal, message: dict[str, Any], opened_at: datetime | None, now: datetime) -> None:
    """The signed message names this proposal, its current revision and a fresh timestamp."""
    if _message_int(message, "proposalId") != proposal.number:
        raise DomainError(f"The signature is for proposal {message.get('proposalId')}, not {proposal.number}.",
                          code="wrong_proposal")
    revision_hash = message.get("revisionHash")
    if not isinstance(revision_hash, str) or revision_hash.lower() != proposal.revision_hash:
        raise ConflictError("The signature is for another revision of this proposal; fetch the template again "
                            f"(current revision {proposal.revision_number}).", code="stale_revision",
                            details={"revision_hash": proposal.revision_hash})
    timestamp = _message_int(message, "timestamp")
    if opened_at is not None and timestamp < int(opened_at.timestamp()):
        raise ConflictError("The signature is older than the current round; sign again.", code="stale_signature")
    if timestamp > now.timestamp() + _governance("VOTE_TIMESTAMP_FUTURE_SECONDS"):
        raise DomainError("The signature's timestamp is in the future.", code="timestamp_in_future")


def _current_revision(proposal: Proposal) -> Revision:
    return Revision.objects.get(proposal=proposal, number=proposal.revision_number)


def endorse(number: int | str, typed_data: Any, signature: Any, *, now: datetime | None = None) -> Endorsement:
    """Accept a signed `Endorsement` of the current revision; cross the threshold → the next status."""
    verified = verify_signed("Endorsement", typed_data, signature, "endorser")
    message = verified.typed_data["message"]
    now = now or timezone.now()
    with transaction.atomic():
        proposal = _locked(number)
        if Endorsement.objects.filter(digest=verified.digest).exists():  # the very same signature again
            raise ConflictError("This endorsement was already submitted.", code="already_endorsed")
        if proposal.status != S.ENDORSEMENT:
            raise ConflictError(f"A {_status_label(proposal.status)} proposal does not take endorsements.",
                                code="not_in_endorsement")
        _check_binding(proposal, message, proposal.endorsement_opened_at, now)
        revision = _current_revision(proposal)
        endorser = verified.signer
        if Endorsement.objects.filter(proposal=proposal, round=proposal.endorsement_round, endorser=endorser,
                                      revision__content_hash=proposal.revision_hash).exists():
            raise ConflictError("This address already endorsed this revision.", code="already_endorsed")
        weight = _voting_power(endorser, proposal.endorsement_block)
        if weight <= 0:
            raise PermissionDeniedError(
                f"{endorser} had no voting power at block {proposal.endorsement_block}, the endorsement reference "
                "block.", code="no_voting_power")
        entry = record(kinds.ENDORSEMENT, {
            "proposal": proposal.ref, "endorser": endorser, "revision": revision.number,
            "revision_hash": proposal.revision_hash, "weight": str(weight), "block": proposal.endorsement_block,
            "round": proposal.endorsement_round}, proposal_ref=proposal.ref, signed=verified.archive_artifact())
        try:
            with transaction.atomic():
                endorsement = Endorsement.objects.create(
                    proposal=proposal, revision=revision, round=proposal.endorsement_round, endorser=endorser,
                    weight=str(weight), block=proposal.endorsement_block,
                    signed_timestamp=_message_int(message, "timestamp"), digest=verified.digest,
                    typed_data=verified.typed_data, signature=verified.signature,
                    contract_wallet=verified.contract_wallet, archive_sequence=entry.sequence)
        except IntegrityError:
            raise ConflictError("This address already endorsed this revision.", code="already_endorsed") from None
        power, count = endorsed_power(proposal)
        required = endorsement_threshold(proposal.kind, int(proposal.endorsement_total_power or 0))
        if power >= required:
            target = S.TECHNICAL_REVIEW if proposal.needs_review else S.VOTING
            _apply(proposal, target, actor=Actor.SYSTEM, now=now,
                   reason=f"Endorsement threshold reached: {power} of {required} by {count} endorsers.",
                   details={"endorsed_power": str(power), "threshold": str(required), "endorsements": count})
    return endorsement


def review(number: int | str, typed_data: Any, signature: Any, *, now: datetime | None = None) -> TechnicalReview:
    """Accept a core developer's signed `TechnicalReview` of the current revision.

    An approval counts toward CORE_REVIEW_APPROVALS (reached → Voting); a rejection, with its
    reasons in the comment, sends the proposal back to Discussion.
    """
    verified = verify_signed("TechnicalReview", typed_data, signature, "reviewer")
    message = verified.typed_data["message"]
    reviewer = verified.signer
    if reviewer not in core_developers():
        raise PermissionDeniedError(f"{reviewer} is not a core developer.", code="not_core_developer")
    comment = message.get("comment")
    if not isinstance(comment, str) or not comment.strip():
        raise DomainError("A review needs a comment (the reasons for a rejection).", code="comment_required")
    if len(comment) > _governance("BODY_MAX_CHARS"):
        raise DomainError("The review comment is too long.", code="comment_too_long")
    approve = message.get("approve")
    if not isinstance(approve, bool):
        raise DomainError("message.approve must be true or false.", code="invalid_message")
    now = now or timezone.now()
    with transaction.atomic():
        proposal = _locked(number)
        if TechnicalReview.objects.filter(digest=verified.digest).exists():  # the very same signature again
            raise ConflictError("This review was already submitted.", code="already_reviewed")
        if proposal.status != S.TECHNICAL_REVIEW:
            raise ConflictError(f"A {_status_label(proposal.status)} proposal is not in technical review.",
                                code="not_in_review")
        _check_binding(proposal, message, proposal.review_opened_at, now)
        revision = _current_revision(proposal)
        if TechnicalReview.objects.filter(proposal=proposal, round=proposal.review_round, reviewer=reviewer,
                                          revision__content_hash=proposal.revision_hash).exists():
            raise ConflictError("This core developer already reviewed this revision.", code="already_reviewed")
        entry = record(kinds.TECHNICAL_REVIEW, {
            "proposal": proposal.ref, "reviewer": reviewer, "verdict": "approve" if approve else "reject",
            "comment": comment, "revision": revision.number, "revision_hash": proposal.revision_hash,
            "round": proposal.review_round}, proposal_ref=proposal.ref, signed=verified.archive_artifact())
        try:
            with transaction.atomic():
                item = TechnicalReview.objects.create(
                    proposal=proposal, revision=revision, round=proposal.review_round, reviewer=reviewer,
                    approve=approve, comment=comment, signed_timestamp=_message_int(message, "timestamp"),
                    digest=verified.digest, typed_data=verified.typed_data, signature=verified.signature,
                    contract_wallet=verified.contract_wallet, archive_sequence=entry.sequence)
        except IntegrityError:
            raise ConflictError("This core developer already reviewed this revision.",
                                code="already_reviewed") from None
        if not approve:
            _apply(proposal, S.DISCUSSION, actor=Actor.CORE_DEVELOPER, address=reviewer, now=now,
                   reason=f"Rejected in technical review: {comment.strip()}")
        else:
            approvals = review_approvals(proposal)
            required = _governance("CORE_REVIEW_APPROVALS")
            if approvals >= required:
                _apply(proposal, S.VOTING, actor=Actor.SYSTEM, now=now,
                       reason=f"Technical review passed: {approvals} of {required} approvals.",
                       details={"approvals": approvals})
    return item
