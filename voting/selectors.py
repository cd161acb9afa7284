"""Reads of votes and results (API, pages, CSV)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from govapp.errors import NotFoundError
from proposals.models import Proposal, ProposalStatus
from voting.models import SUPPORT_WORDS, WORD_SUPPORT, Tally, Vote


def proposal_by_number(number: int | str) -> Proposal:
    try:
        return Proposal.objects.select_related("tally").get(number=int(number))
    except (Proposal.DoesNotExist, ValueError, OverflowError):
        raise NotFoundError(f"There is no proposal {number}.", code="unknown_proposal") from None


def tally_of(proposal: Proposal) -> Tally | None:
    try:
        return proposal.tally
    except Tally.DoesNotExist:
        return None


def votes_of(proposal: Proposal, *, support: str | None = None, include_replaced: bool = False) -> QuerySet[Vote]:
    """The proposal's votes, newest first: the counted ones (or every received one)."""
    qs = Vote.objects.filter(proposal_id=proposal.pk)
    if not include_replaced:
        qs = qs.filter(is_current=True)
    if support:
        if support not in WORD_SUPPORT:
            raise NotFoundError(f"support must be one of {', '.join(WORD_SUPPORT)}.", code="invalid_support",
                                status=400)
        qs = qs.filter(support=WORD_SUPPORT[support])
    return qs.order_by("-created_at", "id")


def current_votes_on(proposal_id: int) -> QuerySet[Vote]:
    """The current votes of one proposal, for lookups of one voter or delegate in them. The proposal is a
    one-row sub-SELECT, as in voting.services._STATE_SQL: a proposal that had no votes at the last ANALYZE (each
    one when its vote opens) is estimated at one row, and with the value in hand the planner may then seek by
    the proposal alone and filter the address, reading all of its votes per lookup."""
    return Vote.objects.filter(proposal_id=RawSQL("SELECT CAST(%s AS bigint)", (proposal_id,)), is_current=True)


def current_vote(proposal_id: int, voter: str) -> Vote | None:
    """The voter's counted vote on the proposal (voting_one_current_vote: at most one)."""
    return current_votes_on(proposal_id).filter(voter=voter).first()


def overriding_votes(proposal_id: int, delegate: str) -> QuerySet[Vote]:
    """The current votes of the delegate's delegators who voted themselves (the delegator override): the
    partial index voting_vote_overrides holds exactly these."""
    return current_votes_on(proposal_id).filter(delegate=delegate, override_balance__gt=0)


def power_info(proposal: Proposal, address: str) -> dict[str, Any]:
    """What the vote panel and the API show about one address's power on a proposal (checksummed address)."""
    from voting.services import power_at

    power = power_at(address, proposal.snapshot_block, with_balance=True)
    current = current_vote(proposal.pk, address)
    overridden = int(current.overridden) if current else sum(
        int(v) for v in overriding_votes(proposal.pk, address).values_list("override_balance", flat=True))
    return {
        "address": address, "proposal": proposal.number, "snapshot_block": proposal.snapshot_block,
        "votes": str(power.votes), "balance": str(power.balance or 0), "delegate": power.delegate,
        "overrides_delegate": power.overrides, "override_balance": str(power.override_balance),
        "power": str(power.power), "overridden_by_delegators": str(overridden),
        "weight": str(max(power.power - overridden, 0)), "can_vote": power.power > 0,
        "current_vote": vote_row(current) if current else None,
    }


def vote_by_id(vote_id: str) -> Vote:
    vote = Vote.objects.select_related("proposal").filter(pk=vote_id.lower()).first()
    if vote is None:
        raise NotFoundError(f"There is no vote {vote_id}.", code="unknown_vote")
    return vote


def display_names(addresses: list[str]) -> dict[str, str]:
    """Delegate display names (from signed delegate statements) by address, when the directory has them."""
    try:
        from delegation.models import Delegate
    except ImportError:  # pragma: no cover - the delegation app is optional here
        return {}
    rows = Delegate.objects.filter(address__in=set(addresses)).exclude(display_name="")
    return dict(rows.values_list("address", "display_name"))


def _bps(part: int, whole: int) -> int:
    return part * 10_000 // whole if whole > 0 else 0


@dataclass(frozen=True)
class Bar:
    key: str
    label: str
    power: int
    share_bps: int  # of the power cast


@dataclass(frozen=True)
class Results:
    proposal: Proposal
    tally: Tally | None
    for_power: int
    against_power: int
    abstain_power: int
    voters: int
    votes_received: int
    overridden: int
    total_power: int
    quorum_bps: int
    quorum_required: int
    quorum_counted: int
    quorum_counts: tuple[str, ...]
    closed: bool
    outcome: str

    @property
    def cast(self) -> int:
        return self.for_power + self.against_power + self.abstain_power

    @property
    def approval_bps(self) -> int:
        """For / (For + Against)."""
        return _bps(self.for_power, self.for_power + self.against_power)

    @property
    def participation_bps(self) -> int:
        return _bps(self.cast, self.total_power)

    @property
    def quorum_progress_bps(self) -> int:
        """Power counting toward quorum, as a share of the total voting power at the snapshot."""
        return _bps(self.quorum_counted, self.total_power)

    @property
    def quorum_reached(self) -> bool:
        return self.quorum_counted > 0 and self.quorum_counted >= self.quorum_required

    @property
    def bars(self) -> list[Bar]:
        return [Bar("for", "For", self.for_power, _bps(self.for_power, self.cast)),
                Bar("against", "Against", self.against_power, _bps(self.against_power, self.cast)),
                Bar("abstain", "Abstain", self.abstain_power, _bps(self.abstain_power, self.cast))]

    @property
    def is_open(self) -> bool:
        return not self.closed and self.proposal.status == ProposalStatus.VOTING

    def as_dict(self) -> dict[str, Any]:
        tally = self.tally
        return {
            "proposal": self.proposal.number,
            "status": self.proposal.status,
            "open": self.is_open,
            "snapshot_block": self.proposal.snapshot_block,
            "voting_starts_at": self.proposal.voting_starts_at.isoformat() if self.proposal.voting_starts_at else None,
            "voting_ends_at": self.proposal.voting_ends_at.isoformat() if self.proposal.voting_ends_at else None,
            "totals": {"for": str(self.for_power), "against": str(self.against_power),
                       "abstain": str(self.abstain_power)},
            "voters": self.voters,
            "votes_received": self.votes_received,
            "overridden": str(self.overridden),
            "total_voting_power": str(self.total_power),
            "quorum": {"bps": self.quorum_bps, "required": str(self.quorum_required),
                       "counted": str(self.quorum_counted), "counts": list(self.quorum_counts),
                       "progress_bps": self.quorum_progress_bps, "reached": self.quorum_reached},
            "approval_bps": self.approval_bps,
            "participation_bps": self.participation_bps,
            "closed": self.closed,
            "outcome": self.outcome or None,
            "merkle_root": (tally.merkle_root or None) if tally else None,
            "archive_sequence": tally.archive_sequence if tally else None,
            "discrepancy": tally.discrepancy if tally else None,
        }


def results(proposal: Proposal) -> Results:
    from voting.services import quorum_bps_for

    tally = tally_of(proposal)
    counts = tuple(settings.GOVERNANCE["QUORUM_COUNTS"])
    if tally is None:
        totals = {"for": 0, "against": 0, "abstain": 0}
        total_power, bps, voters, received, overridden = 0, quorum_bps_for(proposal.kind), 0, 0, 0
    else:
        totals = {"for": int(tally.for_power), "against": int(tally.against_power),
                  "abstain": int(tally.abstain_power)}
        total_power, bps = int(tally.total_power), tally.quorum_bps
        voters, received, overridden = tally.voters, tally.votes_received, int(tally.overridden_power)
    counted = sum(totals[c] for c in counts)
    return Results(
        proposal=proposal, tally=tally, for_power=totals["for"], against_power=totals["against"],
        abstain_power=totals["abstain"], voters=voters, votes_received=received, overridden=overridden,
        total_power=total_power, quorum_bps=bps, quorum_required=-(-total_power * bps // 10_000),
        quorum_counted=counted, quorum_counts=counts, closed=bool(tally and tally.closed_at),
        outcome=(tally.outcome if tally else ""),
    )


def vote_row(vote: Vote, names: dict[str, str] | None = None) -> dict[str, Any]:
    """One vote as the API and the CSV give it."""
    return {
        "id": vote.id,
        "voter": vote.voter,
        "display_name": (names or {}).get(vote.voter, ""),
        "support": SUPPORT_WORDS[vote.support],
        "weight": str(vote.weight),
        "power": str(vote.power),
        "overridden": str(vote.overridden),
        "override_balance": str(vote.override_balance),
        "delegate": vote.delegate or None,
        "reason": vote.reason,
        "timestamp": vote.signed_timestamp,
        "format": vote.format,
        "contract_wallet": vote.contract_wallet,
        "current": vote.is_current,
        "changed": bool(vote.replaces),
        "replaces": vote.replaces or None,
        "replaced_by": vote.replaced_by or None,
        "archive_sequence": vote.archive_sequence,
        "created_at": vote.created_at.isoformat(),
    }


def votes_by_voter(address: str, limit: int | None = None) -> list[dict[str, Any]]:
    """An address's counted votes (one per proposal), newest first, in one query: for voting records."""
    qs = (Vote.objects.filter(voter=address, is_current=True).select_related("proposal")
          .order_by("-created_at"))
    if limit:
        qs = qs[:limit]
    return [{"proposal_number": v.proposal.number, "proposal_title": v.proposal.title,
             "choice": SUPPORT_WORDS[v.support], "reason": v.reason, "weight": v.weight, "cast_at": v.created_at,
             "changed": bool(v.replaces), "vote_id": v.id} for v in qs]
