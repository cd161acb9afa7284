"""Token-weighted snapshot voting: open, cast (signed), tally, close and decide.

Opening (``open_voting(proposal)``, called by proposals.services on entry into Voting, inside that
transaction): the proposal already carries its snapshot block (the latest indexed block), its window
(voting_starts_at = now, voting_ends_at = now + GOVERNANCE["VOTING_PERIOD_SECONDS"][kind]); this
creates the proposal's Tally with the total voting power at the snapshot (the quorum base) and the
quorum share for its kind (GOVERNANCE["QUORUM_BPS"]).

Casting (``cast_vote``, ``cast_snapshot_vote``, ``cast_votes`` for batches) checks, in order, each
refusal with its own error code (see ERROR_CODES) and nothing stored when refused:

1. the signature: the portal's EIP-712 ``Vote`` under the portal's domain (name, version, chain id,
   verifying contract), by the voter — an EOA by ecrecover with low-s enforced, a contract wallet by
   EIP-1271 on chain (voting.signatures); or a Snapshot envelope (domain without chain id: replay
   protection comes from the space name + the proposal number, see cast_snapshot_vote);
2. the message: known support, reason length, timestamp no older than VOTE_TIMESTAMP_PAST_SECONDS and
   no further ahead than VOTE_TIMESTAMP_FUTURE_SECONDS, not signed before the vote opened;
3. the proposal: exists, is the one addressed, is in Voting, and now is within [start, end];
4. the voting power at the snapshot block, read from the portal's chain index (never from RPC), > 0;
5. against the stored votes: not the same vote again, and later than the voter's stored vote — a later
   vote replaces the earlier one until the window closes (both stay in the archive: VOTE_CAST, then
   VOTE_REPLACED).

The vote id is the EIP-712 digest of the signed message (the Vote primary key).

Voting power and the delegator override
    A vote's power is the voter's delegated votes at the snapshot block (ERC20Votes getPastVotes:
    the balances delegated to the voter, the voter's own included when self-delegated). A holder who
    had delegated to SOMEONE ELSE at the snapshot may still vote directly: their vote also carries
    their own balance at the snapshot (``override_balance``), and that amount is taken off their
    delegate's vote on this proposal — whichever of the two votes first:

        weight(v) = votes(v) + override_balance(v) − Σ override_balance(d) over the voters d whose
                    delegate at the snapshot is v

    so every token is counted at most once. A holder who never delegated has no voting power (ERC20Votes
    counts undelegated balances nowhere). The results show each delegate's vote as "power 1,000
    (−200 overridden by delegators)". In the archive each vote entry carries its weight at that moment;
    when a delegator's vote lowers a delegate's stored vote, the delegate's same signed vote is archived
    again as VOTE_REPLACED with the lowered weight (cause "delegator_override"), so the archive's
    recompute rule — the latest entry of each voter counts — gives the same totals.

Tally
    The Tally row is updated in each vote's transaction (an UPDATE with F-expressions, after the
    archive entry), with the re-vote and override adjustments. ``close_voting`` (Celery beat, after the
    end) recomputes the totals from scratch in one SQL aggregate over the current votes
    (``recompute_totals``); when they differ from the live row it logs an error, keeps the recomputed
    totals and records the discrepancy (Tally.discrepancy and the archive entry). Outcome: Quorum not
    met when the choices in GOVERNANCE["QUORUM_COUNTS"] sum to less than QUORUM_BPS of the total voting
    power at the snapshot; else Passed when For > Against, else Rejected. The final totals, the
    outcome and the Merkle root of the counted vote ids (voting.merkle) go into the TALLY_FINAL entry.

Locks (always taken in this order, so there is no deadlock): the voters' advisory locks (the voter and,
for an override, the delegate) → the archive's append lock (inside archive.services.record) → the Tally
row. close_voting takes the archive lock first, then the Tally row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone
from eth_utils import is_address, to_checksum_address

from archive import kinds
from archive.services import APPEND_LOCK_KEY, record
from chain.signing import VerifiedMessage, archive_artifact, typed_data_for
from govapp.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from proposals.models import Proposal, ProposalStatus
from voting import merkle
from voting.models import SUPPORT_WORDS, Outcome, Support, Tally, Vote, VoteFormat
from voting.signatures import verify_snapshot, verify_vote

log = logging.getLogger(__name__)

#: Every refusal of a vote, by code (HTTP status): the API and the tests use this list.
ERROR_CODES: dict[str, int] = {
    # the request
    "malformed_request": 400, "malformed_vote": 400, "malformed_envelope": 400, "batch_too_large": 400,
    # the signature (chain.signing / voting.signatures)
    "malformed_typed_data": 400, "wrong_primary_type": 400, "wrong_types": 400, "wrong_chain": 400,
    "wrong_domain": 400, "wrong_contract": 400, "invalid_message": 400, "invalid_field": 400,
    "invalid_address": 400, "bad_signature": 400, "high_s_signature": 400, "signer_mismatch": 400,
    "address_mismatch": 400,
    # the message
    "invalid_support": 400, "invalid_choice": 400, "reason_too_long": 400, "timestamp_too_old": 400,
    "timestamp_in_future": 400, "timestamp_before_start": 400, "wrong_space": 400,
    # the proposal
    "unknown_proposal": 404, "proposal_mismatch": 400, "voting_not_open": 409, "voting_not_started": 409,
    "voting_ended": 409,
    # the voter
    "zero_voting_power": 403,
    # the stored votes
    "duplicate_vote": 409, "stale_vote": 409,
    # reads
    "unknown_vote": 404, "voting_not_ended": 409,
}

#: Most votes one batch request may carry.
BATCH_MAX_VOTES = 1000


def _gov(key: str) -> Any:
    return settings.GOVERNANCE[key]


def snapshot_space() -> str:
    """The Snapshot space name this portal answers to (Snapshot envelopes must name it): '<PORTAL_NAME>.eth'."""
    return getattr(settings, "VOTING_SNAPSHOT_SPACE", "") or f"{settings.PORTAL_NAME}.eth"


def quorum_bps_for(kind: str) -> int:
    table = _gov("QUORUM_BPS")
    return int(table.get(kind, table["default"]))


# --------------------------------------------------------------------------- voting power
@dataclass(frozen=True)
class SnapshotPower:
    """An address's voting power for a proposal, as read from the chain index at the snapshot block."""

    address: str
    block: int
    votes: int  # delegated votes (getPastVotes)
    delegate: str | None  # the address's own delegate at the snapshot (None: never delegated)
    balance: int | None  # own balance at the snapshot (read when it matters)

    @property
    def overrides(self) -> bool:
        """The holder delegated to someone else: their own vote carries their balance (the override)."""
        return self.delegate is not None and self.delegate.lower() != self.address.lower()

    @property
    def override_balance(self) -> int:
        return (self.balance or 0) if self.overrides else 0

    @property
    def power(self) -> int:
        return self.votes + self.override_balance


def power_at(address: str, block: int, *, with_balance: bool = False) -> SnapshotPower:
    """Voting power of `address` at `block` from the index (chain.selectors; never an RPC call)."""
    from chain import selectors

    votes = int(selectors.voting_power(address, block) or 0)
    delegate = selectors.delegate_of(address, block)
    if delegate is not None and int(delegate, 16) == 0:
        delegate = None
    overrides = delegate is not None and delegate.lower() != address.lower()
    balance = int(selectors.balance(address, block) or 0) if (overrides or with_balance) else None
    return SnapshotPower(address=address, block=block, votes=votes, delegate=delegate, balance=balance)


def total_power_at(block: int) -> int:
    from chain import selectors

    return int(selectors.total_voting_power(block) or 0)


def _indexed_head() -> int | None:
    from chain import selectors

    status = selectors.indexer_status() or {}
    head = status.get("head_block")
    return None if head is None else int(head)


# --------------------------------------------------------------------------- opening
def open_voting(proposal: Proposal) -> Tally:
    """Create the proposal's Tally on entry into Voting (called by proposals.services in its transaction).

    Needs proposal.snapshot_block / voting_starts_at / voting_ends_at, set by the transition.
    Idempotent: an existing Tally is returned unchanged.
    """
    if proposal.snapshot_block is None or proposal.voting_starts_at is None or proposal.voting_ends_at is None:
        raise ConflictError("The proposal has no snapshot block or voting window.", code="voting_not_open")
    tally, _ = Tally.objects.get_or_create(
        proposal=proposal,
        defaults={"snapshot_block": proposal.snapshot_block, "total_power": total_power_at(proposal.snapshot_block),
                  "quorum_bps": quorum_bps_for(proposal.kind), "opened_at": proposal.voting_starts_at})
    return tally


def ensure_tally(proposal: Proposal) -> Tally:
    try:
        return proposal.tally
    except Tally.DoesNotExist:
        return open_voting(proposal)


# --------------------------------------------------------------------------- checks
@dataclass
class Ballot:
    """A vote that passed every check that needs no lock; stored by _store()."""

    proposal: Proposal
    verified: VerifiedMessage
    voter: str
    support: int
    reason: str
    timestamp: int
    format: str
    power: SnapshotPower | None = None


def _now_seconds(now: datetime | None) -> float:
    return now.timestamp() if now is not None else time.time()


def _message_int(message: Mapping[str, Any], name: str) -> int:
    value = message.get(name)
    if isinstance(value, bool):
        raise DomainError(f"message.{name} must be an integer.", code="invalid_field")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.startswith("0x") else int(value, 10)
        except ValueError:
            pass
    raise DomainError(f"message.{name} must be an integer.", code="invalid_field")


def check_timestamp(timestamp: int, now_s: float) -> None:
    if timestamp < now_s - _gov("VOTE_TIMESTAMP_PAST_SECONDS"):
        raise DomainError(f"The vote was signed at {timestamp}, more than {_gov('VOTE_TIMESTAMP_PAST_SECONDS')} s "
                          "ago; sign it again.", code="timestamp_too_old")
    if timestamp > now_s + _gov("VOTE_TIMESTAMP_FUTURE_SECONDS"):
        raise DomainError(f"The vote's timestamp {timestamp} is in the future; check your clock.",
                          code="timestamp_in_future")


def check_reason(reason: str) -> None:
    limit = _gov("VOTE_REASON_MAX_CHARS")
    if len(reason) > limit:
        raise DomainError(f"The reason has {len(reason)} characters; at most {limit} are allowed.",
                          code="reason_too_long")


class _ProposalCache:
    """Proposals (with their Tally) by number, for one request."""

    def __init__(self) -> None:
        self._by_number: dict[int, Proposal | None] = {}

    def get(self, number: int) -> Proposal:
        if number not in self._by_number:
            found = (Proposal.objects.select_related("tally").filter(number=number).first()
                     if 0 < number < 2**31 else None)
            self._by_number[number] = found
        proposal = self._by_number[number]
        if proposal is None:
            raise NotFoundError(f"There is no proposal {number}.", code="unknown_proposal")
        return proposal


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def check_proposal_open(proposal: Proposal, now_s: float, timestamp: int) -> None:
    if proposal.status != ProposalStatus.VOTING or proposal.snapshot_block is None:
        raise ConflictError(f"Proposal {proposal.number} is not in Voting ({proposal.get_status_display()}).",
                            code="voting_not_open")
    if now_s < proposal.voting_starts_at.timestamp():
        raise ConflictError(f"The vote on proposal {proposal.number} opens at {_utc(proposal.voting_starts_at)}.",
                            code="voting_not_started")
    if now_s > proposal.voting_ends_at.timestamp():
        raise ConflictError(f"The vote on proposal {proposal.number} ended at {_utc(proposal.voting_ends_at)}.",
                            code="voting_ended")
    if timestamp < proposal.voting_starts_at.timestamp() - _gov("VOTE_TIMESTAMP_FUTURE_SECONDS"):
        raise DomainError("The vote was signed before the vote opened; sign it again.", code="timestamp_before_start")


def _check_ballot(ballot: Ballot, now_s: float) -> Ballot:
    check_reason(ballot.reason)
    check_timestamp(ballot.timestamp, now_s)
    check_proposal_open(ballot.proposal, now_s, ballot.timestamp)
    return ballot


def _portal_ballot(typed_data: Any, signature: Any, now_s: float, proposals: _ProposalCache,
                   expected_number: int | None = None) -> Ballot:
    if not isinstance(typed_data, Mapping) or not isinstance(signature, str):
        raise DomainError("A vote is {\"typed_data\": <EIP-712 Vote>, \"signature\": \"0x…\"}.", code="malformed_vote")
    verified = verify_vote(dict(typed_data), signature)
    message = verified.typed_data["message"]
    support = _message_int(message, "support")
    if support not in Support.values:
        raise DomainError(f"support {support} is not 0 (Against), 1 (For) or 2 (Abstain).", code="invalid_support")
    number = _message_int(message, "proposalId")
    if expected_number is not None and number != expected_number:
        raise DomainError(f"The vote was signed for proposal {number}, not {expected_number}.",
                          code="proposal_mismatch")
    ballot = Ballot(proposal=proposals.get(number), verified=verified, voter=verified.signer, support=support,
                    reason=message["reason"], timestamp=_message_int(message, "timestamp"),
                    format=VoteFormat.PORTAL)
    return _check_ballot(ballot, now_s)


#: Snapshot's choice numbering (1-based) -> the Vote support (Governor numbering).
SNAPSHOT_CHOICES: dict[int, int] = {1: Support.FOR, 2: Support.AGAINST, 3: Support.ABSTAIN}


def snapshot_proposal_number(value: str) -> int | None:
    """Our proposal number from a Snapshot `proposal` field: "12", or the 0x bytes32 of 12 (left-padded)."""
    if value.isdigit() and len(value) < 12:
        return int(value)
    if value.startswith("0x") and len(value) == 66:
        try:
            return int(value, 16)
        except ValueError:
            return None
    return None


def _snapshot_ballot(envelope: Any, now_s: float, proposals: _ProposalCache) -> Ballot:
    checked = verify_snapshot(envelope)
    message = checked.message
    if message["space"] != snapshot_space():
        raise DomainError(f"This portal is the Snapshot space {snapshot_space()!r}, not {message['space']!r}.",
                          code="wrong_space")
    choice = message["choice"]
    if choice not in SNAPSHOT_CHOICES:
        raise DomainError(f"choice {choice} is not 1 (For), 2 (Against) or 3 (Abstain).", code="invalid_choice")
    number = snapshot_proposal_number(message["proposal"])
    if number is None:
        raise NotFoundError(f"{message['proposal']!r} names no proposal of this space.", code="unknown_proposal")
    ballot = Ballot(proposal=proposals.get(number), verified=checked.verified, voter=checked.verified.signer,
                    support=SNAPSHOT_CHOICES[choice], reason=message["reason"], timestamp=message["timestamp"],
                    format=VoteFormat.SNAPSHOT)
    return _check_ballot(ballot, now_s)


def _with_power(ballot: Ballot) -> Ballot:
    proposal = ballot.proposal
    power = power_at(ballot.voter, proposal.snapshot_block)
    if power.power <= 0:
        hint = " (their tokens were not delegated)" if power.delegate is None else ""
        raise PermissionDeniedError(f"{ballot.voter} had no voting power at block {proposal.snapshot_block}{hint}.",
                                    code="zero_voting_power")
    ballot.power = power
    return ballot


# --------------------------------------------------------------------------- storing
@dataclass
class _TallyDelta:
    support: dict[int, int] = field(default_factory=lambda: {0: 0, 1: 0, 2: 0})
    voters: int = 0
    votes_received: int = 0
    overridden: int = 0


def _voter_lock_keys(proposal_id: int, addresses: Iterable[str]) -> list[tuple[int, int]]:
    """(proposal, voter) advisory lock keys: int4 pairs, a space apart from the archive's bigint lock."""
    keys = {(proposal_id % 2**31, int(address[2:10], 16) - 2**31) for address in addresses}
    return sorted(keys)


def _lock_voters(keys: Iterable[tuple[int, int]]) -> None:
    if connection.vendor != "postgresql":
        return
    keys = sorted(keys)
    if not keys:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(["pg_advisory_xact_lock(%s, %s)"] * len(keys)),
                       [part for key in keys for part in key])


def _ballot_lock_keys(ballot: Ballot) -> list[tuple[int, int]]:
    addresses = [ballot.voter]
    if ballot.power is not None and ballot.power.overrides:
        addresses.append(ballot.power.delegate)
    return _voter_lock_keys(ballot.proposal.pk, addresses)


def _signed(vote_or_verified: Vote | VerifiedMessage, signer: str) -> dict[str, Any]:
    return archive_artifact(vote_or_verified.typed_data, vote_or_verified.signature, signer,
                            contract_wallet=vote_or_verified.contract_wallet)


def _vote_payload(proposal: Proposal, vote_id: str, voter: str, support: int, weight: int, *, power: int,
                  overridden: int, votes_power: int, override_balance: int, delegate: str, timestamp: int,
                  fmt: str) -> dict[str, Any]:
    payload = {"proposal": proposal.ref, "voter": voter, "support": SUPPORT_WORDS[support], "weight": str(weight),
               "vote_id": vote_id, "power": str(power), "votes_power": str(votes_power),
               "overridden": str(overridden), "snapshot_block": proposal.snapshot_block, "timestamp": timestamp,
               "format": fmt}
    if override_balance:
        payload["override"] = {"delegate": delegate, "balance": str(override_balance)}
    return payload


@dataclass(frozen=True)
class Receipt:
    """What the voter gets back for an accepted vote."""

    vote: Vote
    replaced: Vote | None

    def as_dict(self) -> dict[str, Any]:
        vote = self.vote
        return {
            "id": vote.id, "proposal": vote.proposal.number, "voter": vote.voter, "support": vote.support,
            "support_label": vote.get_support_display(), "power": str(vote.power), "weight": str(vote.weight),
            "overridden": str(vote.overridden), "override_balance": str(vote.override_balance),
            "delegate": vote.delegate or None, "snapshot_block": vote.snapshot_block,
            "timestamp": vote.signed_timestamp, "format": vote.format, "contract_wallet": vote.contract_wallet,
            "replaced": self.replaced.id if self.replaced else None, "archive_sequence": vote.archive_sequence,
            "created_at": vote.created_at.isoformat(),
        }


_STATE_SQL = """
    SELECT NULL, NULL, NULL, NULL, NULL, NULL, NULL, COALESCE(SUM(override_balance), 0)
      FROM voting_vote WHERE proposal_id = %s AND delegate = %s AND is_current AND override_balance > 0
    UNION ALL
    SELECT id, voter, support, signed_timestamp, power, overridden, format, NULL
      FROM voting_vote WHERE proposal_id = %s AND is_current AND voter IN (%s, %s)
"""


def _current_state(proposal_id: int, voter: str, delegate: str | None) -> tuple[Vote | None, bool, int]:
    """In one query: the voter's current vote, whether their delegate has one, and the override_balance
    summed over the voter's delegators' current votes."""
    prev, delegate_voted, total = None, False, 0
    with connection.cursor() as cursor:
        cursor.execute(_STATE_SQL, [proposal_id, voter, proposal_id, voter, delegate or voter])
        for vote_id, address, support, timestamp, power, overridden, fmt, summed in cursor.fetchall():
            if vote_id is None:
                total = int(summed or 0)
            elif address == voter:
                prev = Vote(id=vote_id, proposal_id=proposal_id, voter=address, support=support,
                            signed_timestamp=timestamp, power=power, overridden=overridden, format=fmt)
            else:
                delegate_voted = True
    return prev, delegate_voted, total


def _store(ballot: Ballot, deltas: dict[int, _TallyDelta], now: datetime) -> Receipt:
    """Store one checked ballot (call inside a transaction holding its voter locks)."""
    proposal, power = ballot.proposal, ballot.power
    vote_id = ballot.verified.digest
    prev, delegate_voted, delegators_total = _current_state(proposal.pk, ballot.voter,
                                                            power.delegate if power.overrides else None)
    if prev is not None:
        if prev.id == vote_id:
            raise ConflictError("This vote is already counted.", code="duplicate_vote", details={"id": vote_id})
        if prev.signed_timestamp >= ballot.timestamp:
            raise ConflictError(f"Your stored vote was signed at {prev.signed_timestamp}; a new vote must be signed "
                                "later to replace it.", code="stale_vote", details={"current": prev.id})
        overridden = int(prev.overridden)
    else:
        overridden = delegators_total
    delegate_vote = None
    if prev is None and delegate_voted:
        delegate_vote = Vote.objects.get(proposal_id=proposal.pk, voter=power.delegate, is_current=True)

    weight = power.power - overridden
    payload = _vote_payload(proposal, vote_id, ballot.voter, ballot.support, weight, power=power.power,
                            overridden=overridden, votes_power=power.votes, override_balance=power.override_balance,
                            delegate=power.delegate or "", timestamp=ballot.timestamp, fmt=ballot.format)
    if prev is not None:
        payload.update(cause="revote", replaces=prev.id)
    entry = record(kinds.VOTE_REPLACED if prev else kinds.VOTE_CAST, payload, proposal_ref=proposal.ref,
                   signed=_signed(ballot.verified, ballot.voter))
    if prev is not None:
        Vote.objects.filter(pk=prev.pk).update(is_current=False, replaced_by=vote_id)
    vote = Vote(id=vote_id, proposal=proposal, voter=ballot.voter, support=ballot.support, reason=ballot.reason,
                signed_timestamp=ballot.timestamp, snapshot_block=proposal.snapshot_block, votes_power=power.votes,
                override_balance=power.override_balance, power=power.power,
                delegate=power.delegate if power.overrides else "", overridden=overridden, format=ballot.format,
                typed_data=ballot.verified.typed_data, signature=ballot.verified.signature,
                contract_wallet=ballot.verified.contract_wallet, is_current=True,
                replaces=prev.id if prev else "", archive_sequence=entry.sequence, created_at=now)
    try:
        vote.save(force_insert=True)  # the caller's transaction (or batch savepoint) rolls back on failure
    except IntegrityError as exc:
        raise ConflictError("This vote is already counted.", code="duplicate_vote", details={"id": vote_id}) from exc

    delta = _TallyDelta()  # merged into `deltas` only once everything below succeeded
    delta.votes_received += 1
    delta.support[ballot.support] += weight
    if prev is not None:
        delta.support[prev.support] -= prev.weight
    else:
        delta.voters += 1
        delta.overridden += overridden  # delegators who voted before their delegate
    if delegate_vote is not None:
        amount = power.override_balance
        Vote.objects.filter(pk=delegate_vote.pk).update(overridden=F("overridden") + amount)
        delegate_vote.overridden = int(delegate_vote.overridden) + amount
        delta.support[delegate_vote.support] -= amount
        delta.overridden += amount
        adjusted = _vote_payload(
            proposal, delegate_vote.id, delegate_vote.voter, delegate_vote.support, delegate_vote.weight,
            power=int(delegate_vote.power), overridden=int(delegate_vote.overridden),
            votes_power=int(delegate_vote.votes_power), override_balance=int(delegate_vote.override_balance),
            delegate=delegate_vote.delegate, timestamp=delegate_vote.signed_timestamp, fmt=delegate_vote.format)
        adjusted.update(cause="delegator_override", overridden_by=ballot.voter, amount=str(amount))
        record(kinds.VOTE_REPLACED, adjusted, proposal_ref=proposal.ref,
               signed=_signed(delegate_vote, delegate_vote.voter))
    total = deltas.setdefault(proposal.pk, _TallyDelta())
    for support, amount in delta.support.items():
        total.support[support] += amount
    total.voters += delta.voters
    total.votes_received += delta.votes_received
    total.overridden += delta.overridden
    return Receipt(vote=vote, replaced=prev)


_TALLY_SQL = """
    UPDATE voting_tally SET against_power = against_power + %s, for_power = for_power + %s,
           abstain_power = abstain_power + %s, voters = voters + %s, votes_received = votes_received + %s,
           overridden_power = overridden_power + %s, updated_at = %s
     WHERE proposal_id = %s AND closed_at IS NULL
"""


def _apply_deltas(deltas: dict[int, _TallyDelta]) -> None:
    """Add the deltas to the Tally rows (UPDATE ... SET x = x + delta: the row lock is held to the commit)."""
    for proposal_id, delta in sorted(deltas.items()):
        with connection.cursor() as cursor:
            cursor.execute(_TALLY_SQL, [delta.support[Support.AGAINST], delta.support[Support.FOR],
                                        delta.support[Support.ABSTAIN], delta.voters, delta.votes_received,
                                        delta.overridden, timezone.now(), proposal_id])
            updated = cursor.rowcount
        if updated != 1:
            raise ConflictError("The vote has been closed.", code="voting_ended")


def _ensure_tallies(ballots: Iterable[Ballot]) -> None:
    seen: set[int] = set()
    for ballot in ballots:
        if ballot.proposal.pk not in seen:
            seen.add(ballot.proposal.pk)
            ensure_tally(ballot.proposal)


def _store_one(ballot: Ballot, now: datetime) -> Receipt:
    _ensure_tallies([ballot])
    deltas: dict[int, _TallyDelta] = {}
    with transaction.atomic():
        _lock_voters(_ballot_lock_keys(ballot))
        receipt = _store(ballot, deltas, now)
        _apply_deltas(deltas)
    return receipt


# --------------------------------------------------------------------------- casting
def cast_vote(typed_data: Any, signature: Any, *, proposal_number: int | None = None,
              now: datetime | None = None) -> Receipt:
    """Verify, check and count one signed portal Vote; refusals raise DomainError (nothing stored)."""
    now = now or timezone.now()
    ballot = _portal_ballot(typed_data, signature, now.timestamp(), _ProposalCache(), proposal_number)
    return _store_one(_with_power(ballot), now)


def cast_snapshot_vote(envelope: Any, *, now: datetime | None = None) -> Receipt:
    """A vote posted by snapshot.js (`Client712.vote`): {address, sig, data: {domain, types, message}}.

    Snapshot's domain is {name: "snapshot", version: "0.1.4"}, with no chain id nor verifying contract,
    so the signature itself does not bind this chain or deployment: what binds the vote to this portal
    is the message's `space` (must equal snapshot_space()) and its `proposal` (our proposal number, as
    a decimal string or a 0x bytes32). Use a space name unique to this deployment. choice: 1 For,
    2 Against, 3 Abstain. The vote id is the EIP-712 digest.
    """
    now = now or timezone.now()
    ballot = _snapshot_ballot(envelope, now.timestamp(), _ProposalCache())
    return _store_one(_with_power(ballot), now)


@dataclass
class BatchResult:
    index: int
    receipt: Receipt | None = None
    error: DomainError | None = None

    def as_dict(self) -> dict[str, Any]:
        if self.receipt is not None:
            return {"index": self.index, "ok": True, "id": self.receipt.vote.id,
                    "replaced": self.receipt.replaced.id if self.receipt.replaced else None,
                    "weight": str(self.receipt.vote.weight)}
        return {"index": self.index, "ok": False, **self.error.as_dict()}


def cast_votes(items: Any, *, now: datetime | None = None) -> list[BatchResult]:
    """Many signed votes at once (integrators): each item {typed_data, signature} or a Snapshot envelope
    {address, sig, data}; each result reported on its own, in order. Accepted votes are stored in one
    transaction; a refused one leaves the others untouched."""
    if not isinstance(items, list):
        raise DomainError("votes must be a list.", code="malformed_request")
    if len(items) > BATCH_MAX_VOTES:
        raise DomainError(f"At most {BATCH_MAX_VOTES} votes per batch.", code="batch_too_large")
    now = now or timezone.now()
    now_s = now.timestamp()
    proposals = _ProposalCache()
    results = [BatchResult(index=i) for i in range(len(items))]
    ballots: list[tuple[int, Ballot]] = []
    for i, item in enumerate(items):
        try:
            if isinstance(item, Mapping) and "sig" in item and "data" in item:
                ballot = _snapshot_ballot(item, now_s, proposals)
            elif isinstance(item, Mapping):
                ballot = _portal_ballot(item.get("typed_data"), item.get("signature"), now_s, proposals)
            else:
                raise DomainError("Each vote is an object.", code="malformed_vote")
            ballots.append((i, _with_power(ballot)))
        except DomainError as exc:
            results[i].error = exc
    if not ballots:
        return results
    _ensure_tallies(b for _, b in ballots)
    deltas: dict[int, _TallyDelta] = {}
    with transaction.atomic():
        _lock_voters(key for _, b in ballots for key in _ballot_lock_keys(b))
        for i, ballot in ballots:
            try:
                with transaction.atomic():
                    results[i].receipt = _store(ballot, deltas, now)
            except DomainError as exc:
                results[i].error = exc
        _apply_deltas(deltas)
    return results


# --------------------------------------------------------------------------- reads used by the API and pages
def vote_template(proposal: Proposal, voter: str, *, support: int = Support.FOR, reason: str = "",
                  timestamp: int | None = None) -> dict[str, Any]:
    """The typed data a wallet signs to vote on `proposal` (eth_signTypedData_v4)."""
    if not isinstance(voter, str) or not is_address(voter):
        raise DomainError("voter must be an address.", code="invalid_address")
    voter = to_checksum_address(voter)
    if timestamp is None:
        # now, but always later than the voter's stored vote, so that a quick re-vote replaces it
        current = (Vote.objects.filter(proposal_id=proposal.pk, voter=voter, is_current=True)
                   .values_list("signed_timestamp", flat=True).first())
        timestamp = max(int(time.time()), (current or 0) + 1)
    message = {"proposalId": proposal.number, "voter": voter, "support": int(support), "reason": reason,
               "timestamp": int(timestamp)}
    return typed_data_for("Vote", message)


def recompute_totals(proposal: Proposal) -> dict[str, int]:
    """The totals from scratch: ONE SQL aggregate over the proposal's current votes (override rule applied).

    weight of a support = Σ power of its current votes − Σ override_balance of the current votes whose
    delegate cast a current vote of that support.
    Returns {"for", "against", "abstain", "voters", "overridden"} as ints.
    """
    # Two aggregates in one statement: Σ power per support over the current votes (a parallel scan), and
    # Σ override_balance of the current votes whose delegate has a current vote, per the DELEGATE's support
    # (the overriding votes are few: a partial index, then one index probe each).
    sql = """
        SELECT support, SUM(n), SUM(p), SUM(o) FROM (
            SELECT support, COUNT(*) AS n, SUM(power) AS p, 0 AS o
              FROM voting_vote WHERE proposal_id = %s AND is_current GROUP BY support
            UNION ALL
            SELECT d.support, 0, 0, SUM(v.override_balance)
              FROM voting_vote v
              JOIN voting_vote d ON d.proposal_id = v.proposal_id AND d.voter = v.delegate AND d.is_current
             WHERE v.proposal_id = %s AND v.is_current AND v.override_balance > 0
             GROUP BY d.support
        ) AS t GROUP BY support
    """
    totals = {"for": 0, "against": 0, "abstain": 0, "voters": 0, "overridden": 0}
    with connection.cursor() as cursor:
        cursor.execute(sql, [proposal.pk, proposal.pk])
        for support, count, power, overridden in cursor.fetchall():
            totals[SUPPORT_WORDS[support]] = int(power) - int(overridden)
            totals["voters"] += int(count)
            totals["overridden"] += int(overridden)
    return totals


def live_totals(tally: Tally) -> dict[str, int]:
    return {"for": int(tally.for_power), "against": int(tally.against_power), "abstain": int(tally.abstain_power),
            "voters": tally.voters, "overridden": int(tally.overridden_power)}


@dataclass(frozen=True)
class Decision:
    outcome: str
    quorum: int  # power needed
    counted: int  # power counting toward quorum
    quorum_reached: bool


def decide(totals: Mapping[str, int], total_power: int, quorum_bps: int) -> Decision:
    """Outcome by the configured rules: quorum over QUORUM_COUNTS, then For > Against."""
    counted = sum(int(totals[c]) for c in _gov("QUORUM_COUNTS"))
    reached = counted * 10_000 >= total_power * quorum_bps and counted > 0
    quorum = -(-total_power * quorum_bps // 10_000)
    if not reached:
        outcome = Outcome.QUORUM_NOT_MET
    elif int(totals["for"]) > int(totals["against"]):
        outcome = Outcome.PASSED
    else:
        outcome = Outcome.REJECTED
    return Decision(outcome=str(outcome), quorum=quorum, counted=counted, quorum_reached=reached)


def counted_vote_ids(proposal: Proposal) -> list[str]:
    return list(Vote.objects.filter(proposal_id=proposal.pk, is_current=True).values_list("id", flat=True))


def _archive_lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [APPEND_LOCK_KEY])


def close_voting(proposal: Proposal | int, *, now: datetime | None = None) -> Tally:
    """Close the vote of a proposal whose window has ended: recompute, decide, archive, move the proposal.

    Idempotent (a closed Tally is returned as is). Raises ConflictError voting_not_ended before the end.
    """
    from proposals import services as proposal_services

    now = now or timezone.now()
    number = proposal.number if isinstance(proposal, Proposal) else int(proposal)
    with transaction.atomic():
        _archive_lock()  # no vote can be appended between the count and the record
        proposal = Proposal.objects.get(number=number)
        tally = Tally.objects.select_for_update().filter(pk=proposal.pk).first()
        if tally is not None and tally.closed_at is not None:
            return tally
        if proposal.status != ProposalStatus.VOTING:
            raise ConflictError(f"Proposal {number} is not in Voting.", code="voting_not_open")
        if proposal.voting_ends_at is None or now < proposal.voting_ends_at:
            raise ConflictError("The vote is still open.", code="voting_not_ended")
        if tally is None:
            tally = open_voting(proposal)
        recomputed = recompute_totals(proposal)
        live = live_totals(tally)
        discrepancy = None
        if recomputed != live:
            log.error("TALLY MISMATCH on proposal %s: live %s, recomputed %s; using the recomputed totals",
                      number, live, recomputed)
            discrepancy = {"live": {k: str(v) for k, v in live.items()},
                           "recomputed": {k: str(v) for k, v in recomputed.items()}}
        decision = decide(recomputed, int(tally.total_power), tally.quorum_bps)
        root = merkle.vote_set_root(counted_vote_ids(proposal))
        total = int(tally.total_power)
        votes_cast = recomputed["for"] + recomputed["against"] + recomputed["abstain"]
        payload = {
            "proposal": proposal.ref,
            "totals": {s: str(recomputed[s]) for s in ("for", "against", "abstain")},
            "outcome": decision.outcome,
            "voters": recomputed["voters"],
            "overridden": str(recomputed["overridden"]),
            "snapshot_block": tally.snapshot_block,
            "total_voting_power": str(total),
            "quorum": {"bps": tally.quorum_bps, "required": str(decision.quorum), "counted": str(decision.counted),
                       "counts": list(_gov("QUORUM_COUNTS")), "reached": decision.quorum_reached},
            "participation_bps": (votes_cast * 10_000 // total) if total else 0,
            "merkle_root": root,
            "merkle_rule": "voting.merkle: keccak256(id) leaves of the sorted current vote ids, sorted-pair keccak256",
            "discrepancy": discrepancy,
        }
        entry = record(kinds.TALLY_FINAL, payload, proposal_ref=proposal.ref)
        Tally.objects.filter(pk=proposal.pk).update(
            for_power=recomputed["for"], against_power=recomputed["against"], abstain_power=recomputed["abstain"],
            voters=recomputed["voters"], overridden_power=recomputed["overridden"], closed_at=now,
            outcome=decision.outcome, merkle_root=root, discrepancy=discrepancy, archive_sequence=entry.sequence,
            updated_at=now)
        proposal_services.close_voting(
            proposal, decision.outcome, reason=f"Vote closed: {Outcome(decision.outcome).label}.",
            details={"tally_sequence": entry.sequence, "totals": payload["totals"], "merkle_root": root})
        tally.refresh_from_db()
    return tally


def due_for_closing(now: datetime | None = None) -> list[int]:
    now = now or timezone.now()
    return list(Proposal.objects.filter(status=ProposalStatus.VOTING, voting_ends_at__lt=now)
                .order_by("voting_ends_at").values_list("number", flat=True))
