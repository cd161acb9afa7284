"""THE state machine of an improvement proposal: statuses, allowed transitions and who may make each.

Pure data and pure functions (no database): proposals.services applies transitions, checks the
guards that need the database or the clock, writes the timeline row and archives the change.

    Draft ──author──▶ Discussion ──system (period over) / staff──▶ Endorsement
      Endorsement ──system (threshold)──▶ Technical review (OS upgrades) ──system (N approvals)──▶ Voting
      Endorsement ──system (threshold)──▶ Voting (every other kind)
      Technical review ──core developer (signed rejection)──▶ Discussion
      Technical review ──system (author revised the proposal)──▶ Endorsement
      Voting ──system (vote closed)──▶ Passed | Rejected | Quorum not met
      Passed ──system──▶ Queued ──system──▶ Executed | Vetoed | Failed | Expired
      Draft, Discussion, Endorsement, Technical review ──author──▶ Withdrawn

Actors:
  author          the proposal's author (signed in)
  staff           Foundation staff (User.is_staff)
  core_developer  an address of GOVERNANCE["CORE_DEVELOPERS"], through a signed TechnicalReview
  system          the portal itself: beat tasks, thresholds reached, the voting and execution engines
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.db import models


class ProposalKind(models.TextChoices):
    OS_UPGRADE = "os_upgrade", "OS upgrade"
    PARAMETER_CHANGE = "parameter_change", "Parameter change"
    TREASURY_GRANT = "treasury_grant", "Treasury / public-goods grant"
    PROCESS = "process", "Process (meta)"
    INFORMATIONAL = "informational", "Informational"


#: Kinds whose payload compiles into on-chain actions for the UpgradeExecutor.
EXECUTABLE_KINDS = frozenset({ProposalKind.OS_UPGRADE, ProposalKind.PARAMETER_CHANGE, ProposalKind.TREASURY_GRANT})
#: Kinds that need the core developers' technical review before the vote.
REVIEWED_KINDS = frozenset({ProposalKind.OS_UPGRADE})


class ProposalStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    DISCUSSION = "discussion", "Discussion"
    ENDORSEMENT = "endorsement", "Endorsement"
    TECHNICAL_REVIEW = "technical_review", "Technical review"
    VOTING = "voting", "Voting"
    PASSED = "passed", "Passed"
    REJECTED = "rejected", "Rejected"
    QUORUM_NOT_MET = "quorum_not_met", "Quorum not met"
    QUEUED = "queued", "Queued"
    EXECUTED = "executed", "Executed"
    VETOED = "vetoed", "Vetoed"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"
    WITHDRAWN = "withdrawn", "Withdrawn"


class Actor(StrEnum):
    AUTHOR = "author"
    STAFF = "staff"
    CORE_DEVELOPER = "core_developer"
    SYSTEM = "system"


S = ProposalStatus
A = Actor


@dataclass(frozen=True)
class Transition:
    source: ProposalStatus
    target: ProposalStatus
    actors: frozenset[Actor]
    #: The verb shown on buttons and in the timeline.
    label: str
    #: When it happens / what the service checks.
    rule: str


def _t(source: S, target: S, actors: set[A], label: str, rule: str) -> Transition:
    return Transition(source, target, frozenset(actors), label, rule)


#: Every allowed transition. Anything not listed is illegal.
TRANSITIONS: tuple[Transition, ...] = (
    _t(S.DRAFT, S.DISCUSSION, {A.AUTHOR}, "Open discussion",
       "The author publishes the draft; the discussion period (DISCUSSION_PERIOD_SECONDS) starts."),
    _t(S.DISCUSSION, S.ENDORSEMENT, {A.SYSTEM, A.STAFF}, "Start endorsement",
       "The beat task, once the discussion period is over; staff may start it earlier. The latest "
       "indexed block becomes the endorsement reference block."),
    _t(S.ENDORSEMENT, S.TECHNICAL_REVIEW, {A.SYSTEM}, "Send to technical review",
       "OS upgrades, when endorsing power reaches ENDORSEMENT_THRESHOLD for the current revision."),
    _t(S.ENDORSEMENT, S.VOTING, {A.SYSTEM}, "Open voting",
       "Other kinds, when endorsing power reaches ENDORSEMENT_THRESHOLD for the current revision."),
    _t(S.TECHNICAL_REVIEW, S.VOTING, {A.SYSTEM}, "Open voting",
       "CORE_REVIEW_APPROVALS signed approvals of the current revision by core developers."),
    _t(S.TECHNICAL_REVIEW, S.DISCUSSION, {A.CORE_DEVELOPER}, "Send back to discussion",
       "A core developer's signed rejection (with reasons); the discussion period starts again."),
    _t(S.TECHNICAL_REVIEW, S.ENDORSEMENT, {A.SYSTEM}, "Back to endorsement",
       "The author revised the proposal during review: the endorsements no longer count."),
    _t(S.VOTING, S.PASSED, {A.SYSTEM}, "Pass", "The voting engine closes the vote after voting_ends_at."),
    _t(S.VOTING, S.REJECTED, {A.SYSTEM}, "Reject", "The voting engine closes the vote after voting_ends_at."),
    _t(S.VOTING, S.QUORUM_NOT_MET, {A.SYSTEM}, "Quorum not met",
       "The voting engine closes the vote after voting_ends_at."),
    _t(S.PASSED, S.QUEUED, {A.SYSTEM}, "Queue", "Executable kinds: the actions are scheduled on the executor."),
    _t(S.PASSED, S.FAILED, {A.SYSTEM}, "Failed", "Scheduling the actions on the executor was refused for good."),
    _t(S.QUEUED, S.EXECUTED, {A.SYSTEM}, "Executed", "The executor ran the actions."),
    _t(S.QUEUED, S.VETOED, {A.SYSTEM}, "Vetoed", "The security council cancelled the scheduled actions."),
    _t(S.QUEUED, S.FAILED, {A.SYSTEM}, "Failed", "Execution failed."),
    _t(S.QUEUED, S.EXPIRED, {A.SYSTEM}, "Expired", "Not executed in time."),
    *(_t(source, S.WITHDRAWN, {A.AUTHOR}, "Withdraw", "The author withdraws the proposal before the vote.")
      for source in (S.DRAFT, S.DISCUSSION, S.ENDORSEMENT, S.TECHNICAL_REVIEW)),
)

_BY_EDGE: dict[tuple[str, str], Transition] = {(t.source, t.target): t for t in TRANSITIONS}

#: Statuses in which the author may still edit (new revision) — everything before Voting.
EDITABLE_STATUSES = frozenset({S.DRAFT, S.DISCUSSION, S.ENDORSEMENT, S.TECHNICAL_REVIEW})
#: Statuses that end the proposal's life.
TERMINAL_STATUSES = frozenset(
    {S.REJECTED, S.QUORUM_NOT_MET, S.EXECUTED, S.VETOED, S.FAILED, S.EXPIRED, S.WITHDRAWN})
#: The main path, for the timeline's "what comes next" display.
MAIN_PATH = (S.DRAFT, S.DISCUSSION, S.ENDORSEMENT, S.TECHNICAL_REVIEW, S.VOTING, S.PASSED, S.QUEUED, S.EXECUTED)


def transition(source: str, target: str) -> Transition | None:
    """The allowed transition source → target, or None when the table has no such edge."""
    return _BY_EDGE.get((source, target))


def is_allowed(source: str, target: str, actor: Actor) -> bool:
    edge = transition(source, target)
    return edge is not None and actor in edge.actors


def transitions_from(source: str, actors: set[Actor] | frozenset[Actor] | None = None) -> list[Transition]:
    """The transitions out of `source` (only those one of `actors` may make, when given)."""
    return [t for t in TRANSITIONS if t.source == source and (actors is None or t.actors & set(actors))]


def main_path_for(kind: str) -> tuple[ProposalStatus, ...]:
    """The statuses a proposal of `kind` passes on its way to execution (or to its decision)."""
    path = [s for s in MAIN_PATH if s != S.TECHNICAL_REVIEW or kind in REVIEWED_KINDS]
    if kind not in EXECUTABLE_KINDS:
        path = path[: path.index(S.PASSED) + 1]
    return tuple(path)
