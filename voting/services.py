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

Group commit (``cast_vote``/``cast_snapshot_vote`` in a threaded web server): the single votes that the threads
of one process cast at the same moment are stored together by the set-based store of ``cast_votes`` — one
transaction, one archive append, one Tally update — in the order they arrived (voting.groupcommit); each
caller still gets its own receipt or refusal once its vote is committed. Inside a caller's transaction, on
SQLite, or with VOTE_GROUP_COMMIT_MAX <= 1, a vote is stored alone, in the caller's connection.

Locks (always taken in this order, so there is no deadlock): the voters' advisory locks (the voter and,
for an override, the delegate) → the archive's append lock (inside archive.services.record) → the Tally
row. close_voting takes the archive lock first, then the Tally row.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from eth_utils import is_address, to_checksum_address

from archive import kinds
from archive.services import APPEND_LOCK_KEY, ArchiveError, record, record_many
from chain.signing import VerifiedMessage, archive_artifact, typed_data_for
from govapp.errors import ConflictError, DomainError, NotFoundError, PermissionDeniedError
from proposals.models import Proposal, ProposalStatus
from voting import merkle, selectors
from voting.groupcommit import GroupCommit
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


#: The hot statements of casting are prepared on their connection (server-side plans, no parse and plan per
#: vote): Django leaves psycopg's automatic preparation off for poolers, so they ask for it (prepare=True).
#: Behind PgBouncer in transaction mode that needs PgBouncer >= 1.21 (max_prepared_statements); set
#: VOTING_PREPARED_STATEMENTS = False to turn it off.
PREPARE: bool = bool(getattr(settings, "VOTING_PREPARED_STATEMENTS", True))


def _raw_cursor() -> Any:
    """A psycopg cursor on Django's connection (same transaction) with server-side binding: arrays travel
    as one value each, and the statements are prepared after a few uses."""
    raw = connection.connection
    if raw is not None and raw.broken and not connection.in_atomic_block:
        # Lost (PostgreSQL restarted, the backend was terminated). Django closes such a connection at the end
        # of the request only when its own cursor wrapper saw the error, which these cursors bypass.
        connection.close()
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


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
    return powers_at([address], block, with_balance=with_balance)[address]


def powers_at(addresses: Iterable[str], block: int, *, with_balance: bool = False) -> dict[str, SnapshotPower]:
    """power_at of many addresses in ONE query (chain.selectors.account_states_at), keys as given."""
    from chain import selectors

    powers = {}
    for address, state in selectors.account_states_at(addresses, block).items():
        delegate = state.delegate
        overrides = delegate is not None and delegate.lower() != address.lower()
        powers[address] = SnapshotPower(address=address, block=block, votes=state.votes, delegate=delegate,
                                        balance=state.balance if (overrides or with_balance) else None)
    return powers


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


_PROPOSAL_FIELDS = ("id", "number", "kind", "status", "snapshot_block", "voting_starts_at", "voting_ends_at")
_PROPOSAL_SQL = (
    f"SELECT {', '.join('p.' + f for f in _PROPOSAL_FIELDS)}, "  # noqa: S608 - constants
    "EXISTS (SELECT 1 FROM voting_tally t WHERE t.proposal_id = p.id) FROM proposals_proposal p "
    "WHERE p.number = ANY(%b::int4[])"
)

#: Proposals in Voting by number, shared by the single votes of this process's requests (the group-commit
#: path only). An open vote's proposal does not change: proposals.lifecycle leaves Voting only after
#: voting_ends_at, and an entry is not used past that moment. Even so, each group's flush re-reads the proposals
#: of its ballots in one query (_revalidated) and stores nothing on a copy that differs from the row.
_open_proposals: dict[int, Proposal] = {}


def _proposal_key(proposal: Proposal) -> tuple[Any, ...]:
    return tuple(getattr(proposal, name) for name in _PROPOSAL_FIELDS)


class _ProposalCache:
    """Proposals by number, for one request: the fields voting reads (the others deferred), and whether the
    Tally exists, in ONE prepared statement (PostgreSQL) instead of an ORM query compiled per vote. With
    `shared`, a proposal in Voting is also kept for later requests (_open_proposals)."""

    def __init__(self, shared: dict[int, Proposal] | None = None) -> None:
        self._by_number: dict[int, Proposal | None] = {}
        self._shared = shared

    @staticmethod
    def load_many(numbers: Iterable[int]) -> dict[int, Proposal]:
        numbers = sorted({n for n in numbers if 0 < n < 2**31})
        if not numbers:
            return {}
        if connection.vendor != "postgresql":
            return {p.number: p for p in Proposal.objects.select_related("tally").filter(number__in=numbers)}
        with _raw_cursor() as cursor:
            cursor.execute(_PROPOSAL_SQL, [numbers], prepare=PREPARE)
            rows = cursor.fetchall()
        proposals = {}
        for row in rows:
            proposal = Proposal.from_db(connection.alias, _PROPOSAL_FIELDS, row[:-1])
            proposal._has_tally = row[-1]
            proposals[proposal.number] = proposal
        return proposals

    def _shared_hit(self, number: int) -> Proposal | None:
        proposal = self._shared.get(number) if self._shared is not None else None
        if proposal is not None and time.time() <= proposal.voting_ends_at.timestamp():
            return proposal
        return None

    def get(self, number: int) -> Proposal:
        if number not in self._by_number:
            proposal = self._shared_hit(number)
            if proposal is None:
                proposal = self.load_many([number]).get(number)
                if self._shared is not None:
                    _share(self._shared, number, proposal)
            self._by_number[number] = proposal
        proposal = self._by_number[number]
        if proposal is None:
            raise NotFoundError(f"There is no proposal {number}.", code="unknown_proposal")
        return proposal


def _share(shared: dict[int, Proposal], number: int, proposal: Proposal | None) -> None:
    if proposal is not None and proposal.status == ProposalStatus.VOTING and proposal.voting_ends_at is not None:
        shared[number] = proposal
    else:
        shared.pop(number, None)


def _revalidated(items: list[tuple[Ballot, datetime]]) -> list[DomainError | None]:
    """The group flush's check of the proposals its ballots were checked against (from _open_proposals): one
    query; a ballot whose proposal row differs (or is gone) is checked again against the row as it is now and
    refused if that fails. Returns, per item, None (go on) or the refusal."""
    fresh = _ProposalCache.load_many(ballot.proposal.number for ballot, _ in items)
    refusals: list[DomainError | None] = []
    for ballot, now in items:
        number = ballot.proposal.number
        current = fresh.get(number)
        if current is not None and _proposal_key(current) == _proposal_key(ballot.proposal):
            refusals.append(None)
            continue
        _share(_open_proposals, number, current)
        if current is None:
            refusals.append(NotFoundError(f"There is no proposal {number}.", code="unknown_proposal"))
            continue
        ballot.proposal = current
        try:
            _check_ballot(ballot, now.timestamp())
            refusals.append(None)
        except DomainError as exc:
            refusals.append(exc)
    return refusals


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
    if support not in SUPPORT_WORDS:  # a dict: Support.values builds its list on each call
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


def _zero_power(ballot: Ballot, power: SnapshotPower) -> DomainError:
    hint = " (their tokens were not delegated)" if power.delegate is None else ""
    return PermissionDeniedError(f"{ballot.voter} had no voting power at block {ballot.proposal.snapshot_block}{hint}.",
                                 code="zero_voting_power")


def _with_powers(ballots: list[Ballot]) -> list[DomainError | None]:
    """Read every ballot's power at its proposal's snapshot: ONE query per snapshot block. Returns, per
    ballot, None (power set) or the zero_voting_power refusal."""
    by_block: dict[int, set[str]] = {}
    for ballot in ballots:
        by_block.setdefault(ballot.proposal.snapshot_block, set()).add(ballot.voter)
    powers = {block: powers_at(sorted(voters), block) for block, voters in by_block.items()}
    refusals: list[DomainError | None] = []
    for ballot in ballots:
        power = powers[ballot.proposal.snapshot_block][ballot.voter]
        if power.power <= 0:
            refusals.append(_zero_power(ballot, power))
        else:
            ballot.power = power
            refusals.append(None)
    return refusals


def _with_power(ballot: Ballot) -> Ballot:
    refusal = _with_powers([ballot])[0]
    if refusal is not None:
        raise refusal
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
    with _raw_cursor() as cursor:  # in the keys' (sorted) order: unnest yields the array's order
        cursor.execute("SELECT count(pg_advisory_xact_lock(t.a, t.b)) FROM unnest(%b::int4[], %b::int4[]) AS t(a, b)",
                       [[a for a, _ in keys], [b for _, b in keys]], prepare=PREPARE)


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
               "format": str(fmt)}
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
    SELECT v.voter, v.id, v.support, v.signed_timestamp, v.power, v.overridden, v.format, v.votes_power,
           v.override_balance, v.delegate, v.contract_wallet,
           CASE WHEN v.voter = ANY(%(full)b::text[]) THEN v.typed_data END,
           CASE WHEN v.voter = ANY(%(full)b::text[]) THEN v.signature END, NULL
      FROM unnest(%(addresses)b::text[]) AS a(address)
      JOIN LATERAL (SELECT * FROM voting_vote c WHERE c.proposal_id = (SELECT %(proposal)s::int8) AND c.is_current
                       AND c.voter = a.address LIMIT 1) v ON true
    UNION ALL
    SELECT a.address, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, o.summed
      FROM unnest(%(voters)b::text[]) AS a(address)
      JOIN LATERAL (SELECT SUM(c.override_balance) AS summed FROM voting_vote c
                     WHERE c.proposal_id = (SELECT %(proposal)s::int8) AND c.is_current AND c.override_balance > 0
                       AND c.delegate = a.address) o ON o.summed IS NOT NULL
"""
# One index seek per address (LATERAL; LIMIT 1 keeps the planner from flattening it into a join over all the
# proposal's votes — at most one current vote per voter by the unique index anyway): on the (proposal, voter)
# indexes and the partial overrides index, whatever the plan cache decides for the arrays. The proposal is a
# sub-SELECT so that the planner does not look it up in the statistics: a proposal that had no votes at the last
# ANALYZE (each one, when its vote opens) is estimated at one row there, and any index leading with proposal_id
# then looks as good as (proposal, voter) — a seek by proposal that reads all of its votes for each voter.


class _State:
    """The current votes (and override sums) the ballots of one store touch, read ONCE under the voters'
    locks, then kept up to date in memory as each ballot is applied — exactly what re-reading the database
    before each ballot would give, since nobody else can change them while the locks are held."""

    def __init__(self, ballots: list[Ballot]) -> None:
        self.current: dict[tuple[int, str], Vote] = {}  # (proposal, voter) -> the current vote
        self.sums: dict[tuple[int, str], int] = {}  # (proposal, delegate) -> Σ override_balance overriding it
        self.stored: set[str] = set()  # ids of the votes that were in the database before this store
        by_proposal: dict[int, tuple[set[str], set[str]]] = {}
        for ballot in ballots:
            voters, delegates = by_proposal.setdefault(ballot.proposal.pk, (set(), set()))
            voters.add(ballot.voter)
            if ballot.power.overrides:
                delegates.add(ballot.power.delegate)
        if connection.vendor != "postgresql":
            for proposal_id, (voters, delegates) in by_proposal.items():
                self._read_generic(proposal_id, voters, delegates)
            return
        with _raw_cursor() as cursor:
            for proposal_id, (voters, delegates) in by_proposal.items():
                cursor.execute(_STATE_SQL, {"proposal": proposal_id, "full": sorted(delegates),
                                            "addresses": sorted(voters | delegates), "voters": sorted(voters)},
                               prepare=PREPARE)
                for row in cursor.fetchall():
                    self._add_row(proposal_id, row)

    def _add_row(self, proposal_id: int, row: tuple) -> None:
        (address, vote_id, support, timestamp, power, overridden, fmt, votes_power, override_balance, delegate,
         contract_wallet, typed_data, signature, summed) = row
        if vote_id is None:
            self.sums[(proposal_id, address)] = int(summed)
            return
        if isinstance(typed_data, str):  # Django's connection hands jsonb over as text
            typed_data = json.loads(typed_data)
        self.current[(proposal_id, address)] = Vote(
            id=vote_id, proposal_id=proposal_id, voter=address, support=support, signed_timestamp=timestamp,
            power=int(power), overridden=int(overridden), format=fmt, votes_power=int(votes_power),
            override_balance=int(override_balance), delegate=delegate, contract_wallet=contract_wallet,
            typed_data=typed_data, signature=signature, is_current=True)
        self.stored.add(vote_id)

    def _read_generic(self, proposal_id: int, voters: set[str], delegates: set[str]) -> None:
        """Other databases (SQLite, the embedded default): the same reads through the ORM."""
        current = selectors.current_votes_on(proposal_id)
        for vote in current.filter(voter__in=voters | delegates):
            self.current[(proposal_id, vote.voter)] = vote
            vote.power, vote.overridden = int(vote.power), int(vote.overridden)
            vote.votes_power, vote.override_balance = int(vote.votes_power), int(vote.override_balance)
            self.stored.add(vote.id)
        for vote in current.filter(override_balance__gt=0, delegate__in=voters):  # as selectors.overriding_votes
            key = (proposal_id, vote.delegate)
            self.sums[key] = self.sums.get(key, 0) + int(vote.override_balance)


@dataclass
class _Writes:
    """What a store writes, collected while the ballots are applied in memory."""

    archive: list[tuple[dict[str, Any], Vote | None]] = field(default_factory=list)  # (record item, its vote)
    votes: list[Vote] = field(default_factory=list)  # new rows, with their final is_current / overridden
    positions: dict[str, int] = field(default_factory=dict)  # new vote id -> its place in `votes`

    def writable(self, state: _State, key: tuple[int, str], vote: Vote) -> Vote:
        """The vote to change: a stored one as loaded; a new one of this store copied first, so the receipt
        already handed out keeps the vote as it was accepted (as storing one by one would)."""
        if vote.id in state.stored:
            return vote
        changed = copy.copy(vote)
        self.votes[self.positions[vote.id]] = changed
        if state.current.get(key) is vote:
            state.current[key] = changed
        return changed
    replaced: dict[str, str] = field(default_factory=dict)  # stored vote id -> replaced_by
    overridden: dict[str, int] = field(default_factory=dict)  # stored vote id -> overridden increment
    deltas: dict[int, _TallyDelta] = field(default_factory=dict)


def _apply(ballot: Ballot, state: _State, writes: _Writes, now: datetime) -> Receipt:
    """Apply one checked ballot to the in-memory state (the rules of re-votes and the delegator override).
    Raises DomainError before changing anything when the ballot is refused."""
    proposal, power = ballot.proposal, ballot.power
    key = (proposal.pk, ballot.voter)
    vote_id = ballot.verified.digest
    prev = state.current.get(key)
    if prev is not None:
        if prev.id == vote_id:
            raise ConflictError("This vote is already counted.", code="duplicate_vote", details={"id": vote_id})
        if prev.signed_timestamp >= ballot.timestamp:
            raise ConflictError(f"Your stored vote was signed at {prev.signed_timestamp}; a new vote must be signed "
                                "later to replace it.", code="stale_vote", details={"current": prev.id})
        overridden = int(prev.overridden)
    else:
        overridden = state.sums.get(key, 0)
    delegate_key = (proposal.pk, power.delegate)
    delegate_vote = state.current.get(delegate_key) if prev is None and power.overrides else None

    weight = power.power - overridden
    payload = _vote_payload(proposal, vote_id, ballot.voter, ballot.support, weight, power=power.power,
                            overridden=overridden, votes_power=power.votes, override_balance=power.override_balance,
                            delegate=power.delegate or "", timestamp=ballot.timestamp, fmt=ballot.format)
    if prev is not None:
        payload.update(cause="revote", replaces=prev.id)
    vote = Vote(id=vote_id, proposal=proposal, voter=ballot.voter, support=ballot.support, reason=ballot.reason,
                signed_timestamp=ballot.timestamp, snapshot_block=proposal.snapshot_block, votes_power=power.votes,
                override_balance=power.override_balance, power=power.power,
                delegate=power.delegate if power.overrides else "", overridden=overridden, format=ballot.format,
                typed_data=ballot.verified.typed_data, signature=ballot.verified.signature,
                contract_wallet=ballot.verified.contract_wallet, is_current=True,
                replaces=prev.id if prev else "", created_at=now)
    writes.archive.append(({"kind": kinds.VOTE_REPLACED if prev else kinds.VOTE_CAST, "payload": payload,
                            "proposal_ref": proposal.ref, "signed": _signed(ballot.verified, ballot.voter)}, vote))
    writes.positions[vote_id] = len(writes.votes)
    writes.votes.append(vote)

    delta = writes.deltas.setdefault(proposal.pk, _TallyDelta())
    delta.votes_received += 1
    delta.support[ballot.support] += weight
    if prev is not None:
        delta.support[prev.support] -= prev.weight
        prev = writes.writable(state, key, prev)
        prev.is_current, prev.replaced_by = False, vote_id
        if prev.id in state.stored:
            writes.replaced[prev.id] = vote_id
        sums_key = (proposal.pk, prev.delegate)
        if prev.delegate and int(prev.override_balance) > 0 and sums_key in state.sums:  # read for batch voters
            state.sums[sums_key] -= int(prev.override_balance)
    else:
        delta.voters += 1
        delta.overridden += overridden  # delegators who voted before their delegate
    state.current[key] = vote
    if vote.delegate and power.override_balance > 0:
        sums_key = (proposal.pk, vote.delegate)
        state.sums[sums_key] = state.sums.get(sums_key, 0) + power.override_balance
    if delegate_vote is not None:
        amount = power.override_balance
        delegate_vote = writes.writable(state, delegate_key, delegate_vote)
        delegate_vote.overridden = int(delegate_vote.overridden) + amount
        if delegate_vote.id in state.stored:
            writes.overridden[delegate_vote.id] = writes.overridden.get(delegate_vote.id, 0) + amount
        delta.support[delegate_vote.support] -= amount
        delta.overridden += amount
        adjusted = _vote_payload(
            proposal, delegate_vote.id, delegate_vote.voter, delegate_vote.support, delegate_vote.weight,
            power=int(delegate_vote.power), overridden=int(delegate_vote.overridden),
            votes_power=int(delegate_vote.votes_power), override_balance=int(delegate_vote.override_balance),
            delegate=delegate_vote.delegate, timestamp=delegate_vote.signed_timestamp, fmt=delegate_vote.format)
        adjusted.update(cause="delegator_override", overridden_by=ballot.voter, amount=str(amount))
        writes.archive.append(({"kind": kinds.VOTE_REPLACED, "payload": adjusted, "proposal_ref": proposal.ref,
                                "signed": _signed(delegate_vote, delegate_vote.voter)}, None))
    return Receipt(vote=vote, replaced=prev)


_REPLACE_SQL = """
    UPDATE voting_vote v SET is_current = false, replaced_by = u.by
      FROM unnest(%b::text[], %b::text[]) AS u(id, by) WHERE v.id = u.id
"""
_OVERRIDE_SQL = """
    UPDATE voting_vote v SET overridden = v.overridden + u.amount::numeric
      FROM unnest(%b::text[], %b::text[]) AS u(id, amount) WHERE v.id = u.id
"""
_VOTE_COLUMNS = ("id", "proposal_id", "voter", "support", "reason", "signed_timestamp", "snapshot_block",
                 "votes_power", "override_balance", "power", "delegate", "overridden", "format", "typed_data",
                 "signature", "contract_wallet", "is_current", "replaced_by", "replaces", "archive_sequence",
                 "created_at")
_VOTE_TYPES = ("text", "bigint", "text", "smallint", "text", "bigint", "bigint", "numeric", "numeric", "numeric",
               "text", "numeric", "text", "jsonb", "text", "boolean", "boolean", "text", "text", "bigint",
               "timestamptz")
_INSERT_SQL = (
    f"INSERT INTO voting_vote ({', '.join(_VOTE_COLUMNS)}) SELECT "  # noqa: S608 - constants
    + ", ".join(f"c{i}::{t}" if t in ("jsonb", "numeric") else f"c{i}" for i, t in enumerate(_VOTE_TYPES))
    + " FROM unnest(" + ", ".join(f"%b::{'text' if t in ('jsonb', 'numeric') else t}[]" for t in _VOTE_TYPES)
    + ") AS t(" + ", ".join(f"c{i}" for i in range(len(_VOTE_TYPES))) + ")"
)


def _write_votes(writes: _Writes) -> None:
    """The vote rows: stored votes replaced, stored delegates' votes lowered, new rows — one statement each."""
    if connection.vendor != "postgresql":
        for vote_id, replaced_by in writes.replaced.items():
            Vote.objects.filter(pk=vote_id).update(is_current=False, replaced_by=replaced_by)
        for vote_id, amount in writes.overridden.items():  # in Python: SQLite cannot add past 2**63 exactly
            current = Vote.objects.filter(pk=vote_id).values_list("overridden", flat=True).get()
            Vote.objects.filter(pk=vote_id).update(overridden=int(current) + amount)
        try:
            with transaction.atomic():
                Vote.objects.bulk_create(writes.votes)
        except IntegrityError as exc:
            raise ConflictError("This vote is already counted.", code="duplicate_vote") from exc
        return
    dumps = json.dumps
    with _raw_cursor() as cursor:
        if writes.replaced:
            cursor.execute(_REPLACE_SQL, [list(writes.replaced), list(writes.replaced.values())])
        if writes.overridden:
            cursor.execute(_OVERRIDE_SQL, [list(writes.overridden), [str(a) for a in writes.overridden.values()]])
        rows = [(v.id, v.proposal_id, v.voter, v.support, v.reason, v.signed_timestamp, v.snapshot_block,
                 str(v.votes_power), str(v.override_balance), str(v.power), v.delegate, str(v.overridden), v.format,
                 dumps(v.typed_data), v.signature, v.contract_wallet, v.is_current, v.replaced_by, v.replaces,
                 v.archive_sequence, v.created_at) for v in writes.votes]
        try:
            cursor.execute(_INSERT_SQL, [list(column) for column in zip(*rows, strict=True)], prepare=PREPARE)
        except psycopg.errors.UniqueViolation as exc:  # the transaction is rolled back by the caller
            raise ConflictError("This vote is already counted.", code="duplicate_vote") from exc


_ONE_SQL = (
    "WITH e AS ({append}), "
    "v AS (INSERT INTO voting_vote ({columns}) SELECT {values}, e.sequence, %s FROM e RETURNING 1), "
    "t AS (UPDATE voting_tally SET against_power = against_power + %s, for_power = for_power + %s, "
    "abstain_power = abstain_power + %s, voters = voters + %s, votes_received = votes_received + %s, "
    "overridden_power = overridden_power + %s, updated_at = %s FROM e WHERE proposal_id = %s AND closed_at IS NULL "
    "RETURNING 1) "
    "SELECT e.sequence, (SELECT count(*) FROM v), (SELECT count(*) FROM t) FROM e"
)


def _write_one(writes: _Writes) -> None:
    """One new vote with its one archive entry (no re-vote, no override): the append lock and the head read
    (archive.services.locked_insert), then the archive row, the vote row and the Tally update in ONE
    statement. The vote row and the Tally row join the entry's insert, so they are written after it: the
    locks are taken in the usual order (voters, the append lock, then the Tally row)."""
    from archive.services import locked_insert

    (item, vote), = writes.archive
    append_sql, append_params, sequence = locked_insert(item, signatures_verified=True)
    (proposal_id, delta), = writes.deltas.items()
    columns = [c for c in _VOTE_COLUMNS if c not in ("archive_sequence", "created_at")]
    casts = {"jsonb": "::jsonb", "numeric": "::numeric"}
    values = ", ".join(f"%s{casts.get(t, '')}" for c, t in zip(_VOTE_COLUMNS, _VOTE_TYPES, strict=True)
                       if c in columns)
    sql = _ONE_SQL.format(append=append_sql, columns=", ".join([*columns, "archive_sequence", "created_at"]),
                          values=values)
    row = [vote.id, vote.proposal_id, vote.voter, vote.support, vote.reason, vote.signed_timestamp,
           vote.snapshot_block, str(vote.votes_power), str(vote.override_balance), str(vote.power), vote.delegate,
           str(vote.overridden), str(vote.format), json.dumps(vote.typed_data), vote.signature, vote.contract_wallet,
           vote.is_current, vote.replaced_by, vote.replaces]
    params = [*append_params, *row, vote.created_at, delta.support[Support.AGAINST], delta.support[Support.FOR],
              delta.support[Support.ABSTAIN], delta.voters, delta.votes_received, delta.overridden, timezone.now(),
              proposal_id]
    with _raw_cursor() as cursor:
        try:
            cursor.execute(sql, params, prepare=PREPARE)
        except psycopg.errors.UniqueViolation as exc:
            raise ConflictError("This vote is already counted.", code="duplicate_vote") from exc
        stored, inserted, updated = cursor.fetchone()
    if updated != 1:
        raise ConflictError("The vote has been closed.", code="voting_ended")
    if stored != sequence or inserted != 1:  # cannot happen: the append lock is ours
        raise RuntimeError(f"vote {vote.id}: entry {stored} stored, {sequence} expected, {inserted} rows")
    vote.archive_sequence = sequence


def _store_many(ballots: list[Ballot], now: datetime, *, batch: bool) -> list[Receipt | DomainError]:
    """Store checked ballots (with their power), in order, inside a transaction holding their voters' locks:
    the current votes read once, the ballots applied in memory one after the other (each accepted or
    refused on its own, with the result storing them one by one would give), then the archive entries in
    ONE archive.services.record_many, the vote rows in one statement each kind, and each Tally once."""
    outcomes: list[Receipt | DomainError] = []
    closed: set[str] = set()
    while True:
        state = _State([b for b in ballots if b.proposal.ref not in closed])
        writes = _Writes()
        outcomes = []
        for ballot in ballots:
            if ballot.proposal.ref in closed:
                outcomes.append(ArchiveError(f"Proposal {ballot.proposal.ref} already has its final tally: no "
                                             "vote after it.", code="archive_tally_closed", status=409))
                continue
            try:
                outcomes.append(_apply(ballot, state, writes, now))
            except DomainError as exc:
                outcomes.append(exc)
        if not writes.votes:
            return outcomes
        if (not batch and len(writes.archive) == 1 and not writes.replaced and not writes.overridden
                and connection.vendor == "postgresql"):
            _write_one(writes)  # the common single vote: append, vote row and Tally in ONE statement
            return outcomes
        try:
            entries = record_many([item for item, _ in writes.archive], signatures_verified=True, savepoint=False,
                                  set_based=batch)
        except ArchiveError as exc:
            refs = set((exc.details or {}).get("closed") or ())
            if exc.code != "archive_tally_closed" or not refs or refs <= closed or not batch:
                raise
            closed |= refs  # refuse the votes on those proposals, store the others
            continue
        break
    sequences = {vote.id: entry.sequence for (_, vote), entry in zip(writes.archive, entries, strict=True)
                 if vote is not None}
    for vote in writes.votes:  # the rows to insert (copies, when changed after their receipt) ...
        vote.archive_sequence = sequences[vote.id]
    for outcome in outcomes:  # ... and the receipts
        if isinstance(outcome, Receipt):
            outcome.vote.archive_sequence = sequences[outcome.vote.id]
    _write_votes(writes)
    _apply_deltas(writes.deltas)
    return outcomes


_TALLY_SQL = """
    UPDATE voting_tally SET against_power = against_power + %s, for_power = for_power + %s,
           abstain_power = abstain_power + %s, voters = voters + %s, votes_received = votes_received + %s,
           overridden_power = overridden_power + %s, updated_at = %s
     WHERE proposal_id = %s AND closed_at IS NULL
"""


_TALLY_AMOUNTS = ("against_power", "for_power", "abstain_power", "overridden_power")


def _apply_deltas(deltas: dict[int, _TallyDelta]) -> None:
    """Add the deltas to the Tally rows (UPDATE ... SET x = x + delta: the row lock is held to the commit)."""
    if connection.vendor != "postgresql":
        _apply_deltas_generic(deltas)
        return
    for proposal_id, delta in sorted(deltas.items()):
        with _raw_cursor() as cursor:
            params = [delta.support[Support.AGAINST], delta.support[Support.FOR], delta.support[Support.ABSTAIN],
                      delta.voters, delta.votes_received, delta.overridden, timezone.now(), proposal_id]
            cursor.execute(_TALLY_SQL, params, prepare=PREPARE)
            updated = cursor.rowcount
        if updated != 1:
            raise ConflictError("The vote has been closed.", code="voting_ended")


def _apply_deltas_generic(deltas: dict[int, _TallyDelta]) -> None:
    """Other databases (SQLite, the embedded default): the amounts are decimal text there (Uint256Field), which
    SQL would add as doubles, so they are read, added in Python and written back. The caller's transaction has
    already written (the archive entries): SQLite's write lock is held, nobody else can change the row."""
    for proposal_id, delta in sorted(deltas.items()):
        open_tally = Tally.objects.filter(pk=proposal_id, closed_at__isnull=True)
        row = open_tally.values_list(*_TALLY_AMOUNTS, "voters", "votes_received").first()
        if row is None:
            raise ConflictError("The vote has been closed.", code="voting_ended")
        against, for_, abstain, overridden, voters, received = row
        updated = open_tally.update(
            against_power=int(against) + delta.support[Support.AGAINST],
            for_power=int(for_) + delta.support[Support.FOR],
            abstain_power=int(abstain) + delta.support[Support.ABSTAIN],
            overridden_power=int(overridden) + delta.overridden,
            voters=voters + delta.voters, votes_received=received + delta.votes_received, updated_at=timezone.now())
        if updated != 1:
            raise ConflictError("The vote has been closed.", code="voting_ended")


def _ensure_tallies(ballots: Iterable[Ballot]) -> None:
    seen: set[int] = set()
    for ballot in ballots:
        if ballot.proposal.pk not in seen:
            seen.add(ballot.proposal.pk)
            if not getattr(ballot.proposal, "_has_tally", False):
                ensure_tally(ballot.proposal)


def _store_one(ballot: Ballot, now: datetime) -> Receipt:
    _ensure_tallies([ballot])
    with transaction.atomic():
        _lock_voters(_ballot_lock_keys(ballot))
        outcome = _store_many([ballot], now, batch=False)[0]
        if isinstance(outcome, DomainError):
            raise outcome
    return outcome


# --------------------------------------------------------------------------- casting
def cast_vote(typed_data: Any, signature: Any, *, proposal_number: int | None = None,
              now: datetime | None = None) -> Receipt:
    """Verify, check and count one signed portal Vote; refusals raise DomainError (nothing stored)."""
    now = now or timezone.now()
    ballot = _portal_ballot(typed_data, signature, now.timestamp(), _single_proposals(), proposal_number)
    return _store_single(ballot, now)


def cast_snapshot_vote(envelope: Any, *, now: datetime | None = None) -> Receipt:
    """A vote posted by snapshot.js (`Client712.vote`): {address, sig, data: {domain, types, message}}.

    Snapshot's domain is {name: "snapshot", version: "0.1.4"}, with no chain id nor verifying contract,
    so the signature itself does not bind this chain or deployment: what binds the vote to this portal
    is the message's `space` (must equal snapshot_space()) and its `proposal` (our proposal number, as
    a decimal string or a 0x bytes32). Use a space name unique to this deployment. choice: 1 For,
    2 Against, 3 Abstain. The vote id is the EIP-712 digest.
    """
    now = now or timezone.now()
    ballot = _snapshot_ballot(envelope, now.timestamp(), _single_proposals())
    return _store_single(ballot, now)


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
            ballots.append((i, ballot))
        except DomainError as exc:
            results[i].error = exc
    for (i, _), outcome in zip(ballots, _store_ballots([b for _, b in ballots], now), strict=True):
        if isinstance(outcome, DomainError):
            results[i].error = outcome
        else:
            results[i].receipt = outcome
    return results


def _store_ballots(ballots: list[Ballot], now: datetime) -> list[Receipt | DomainError]:
    """Checked ballots (signature, message, proposal) -> their powers (one query per snapshot block), then
    the powered ones stored in ONE transaction holding all their voters' locks; one outcome per ballot, in
    order, each what storing them one by one would give."""
    outcomes: list[Receipt | DomainError] = list(_with_powers(ballots))  # type: ignore[arg-type]
    powered = [i for i, refusal in enumerate(outcomes) if refusal is None]
    if not powered:
        return outcomes
    _ensure_tallies(ballots[i] for i in powered)
    with transaction.atomic():
        _lock_voters(key for i in powered for key in _ballot_lock_keys(ballots[i]))
        stored = _store_many([ballots[i] for i in powered], now, batch=True)
    for i, outcome in zip(powered, stored, strict=True):
        outcomes[i] = outcome
    return outcomes


def _store_group(items: list[tuple[Ballot, datetime]]) -> list[Receipt | DomainError]:
    """The group commit's flush: the ballots' proposals re-read (_revalidated); then one ballot takes the
    single-vote path, more the set-based store (stored at the latest of their requests' times)."""
    outcomes: list[Receipt | DomainError | None] = list(_revalidated(items))
    valid = [i for i, refusal in enumerate(outcomes) if refusal is None]
    if len(valid) == 1:
        ballot, now = items[valid[0]]
        try:
            outcomes[valid[0]] = _store_one(_with_power(ballot), now)
        except DomainError as exc:
            outcomes[valid[0]] = exc
    elif valid:
        stored = _store_ballots([items[i][0] for i in valid], max(items[i][1] for i in valid))
        for i, outcome in zip(valid, stored, strict=True):
            outcomes[i] = outcome
    return outcomes  # type: ignore[return-value]


#: The single votes of concurrent requests in this process, stored together (voting.groupcommit). Groups of
#: at most VOTE_GROUP_COMMIT_MAX ballots; 0 or 1 turns it off (each vote in its request's own transaction).
_group_commit: GroupCommit[tuple[Ballot, datetime], Receipt] = GroupCommit(_store_group, max_group=BATCH_MAX_VOTES)


def _grouped() -> bool:
    """Whether this request's single vote goes through the group commit (and so may use _open_proposals)."""
    # inside the caller's transaction the vote must be stored by this connection, in that transaction
    return (int(settings.VOTE_GROUP_COMMIT_MAX or 0) > 1 and connection.vendor == "postgresql"
            and not connection.in_atomic_block)


def _single_proposals() -> _ProposalCache:
    return _ProposalCache(_open_proposals if _grouped() else None)


def _store_single(ballot: Ballot, now: datetime) -> Receipt:
    if not _grouped():
        return _store_one(_with_power(ballot), now)
    _group_commit.max_group = int(settings.VOTE_GROUP_COMMIT_MAX)
    return _group_commit.submit((ballot, now))


# --------------------------------------------------------------------------- reads used by the API and pages
def vote_template(proposal: Proposal, voter: str, *, support: int = Support.FOR, reason: str = "",
                  timestamp: int | None = None) -> dict[str, Any]:
    """The typed data a wallet signs to vote on `proposal` (eth_signTypedData_v4)."""
    if not isinstance(voter, str) or not is_address(voter):
        raise DomainError("voter must be an address.", code="invalid_address")
    voter = to_checksum_address(voter)
    if timestamp is None:
        # now, but always later than the voter's stored vote, so that a quick re-vote replaces it
        current = selectors.current_vote(proposal.pk, voter)
        timestamp = max(int(time.time()), (current.signed_timestamp if current else 0) + 1)
    message = {"proposalId": proposal.number, "voter": voter, "support": int(support), "reason": reason,
               "timestamp": int(timestamp)}
    return typed_data_for("Vote", message)


# Two aggregates in one statement: Σ power per support over the current votes (a parallel scan), and
# Σ override_balance of the current votes whose delegate has a current vote, per the DELEGATE's support
# (the overriding votes are few: a partial index, then one index probe each). The proposal is a sub-SELECT, as in
# _STATE_SQL: statistics from before the proposal's votes (one row) made the planner probe the delegates'
# votes by proposal alone, reading all of its votes once per overriding vote (14 minutes at 100,000 votes).
_TOTALS_SQL = """
        SELECT support, SUM(n), SUM(p), SUM(o) FROM (
            SELECT support, COUNT(*) AS n, SUM(power) AS p, 0 AS o
              FROM voting_vote WHERE proposal_id = (SELECT %s::int8) AND is_current GROUP BY support
            UNION ALL
            SELECT d.support, 0, 0, SUM(v.override_balance)
              FROM voting_vote v
              JOIN voting_vote d ON d.proposal_id = v.proposal_id AND d.voter = v.delegate AND d.is_current
             WHERE v.proposal_id = (SELECT %s::int8) AND v.is_current AND v.override_balance > 0
             GROUP BY d.support
        ) AS t GROUP BY support
"""


def recompute_totals(proposal: Proposal) -> dict[str, int]:
    """The totals from scratch: ONE SQL aggregate over the proposal's current votes (override rule applied).

    weight of a support = Σ power of its current votes − Σ override_balance of the current votes whose
    delegate cast a current vote of that support.
    Returns {"for", "against", "abstain", "voters", "overridden"} as ints.
    """
    totals = {"for": 0, "against": 0, "abstain": 0, "voters": 0, "overridden": 0}
    if connection.vendor != "postgresql":
        return _recompute_totals_generic(proposal, totals)
    with connection.cursor() as cursor:
        cursor.execute(_TOTALS_SQL, [proposal.pk, proposal.pk])
        for support, count, power, overridden in cursor.fetchall():
            totals[SUPPORT_WORDS[support]] = int(power) - int(overridden)
            totals["voters"] += int(count)
            totals["overridden"] += int(overridden)
    return totals


def _recompute_totals_generic(proposal: Proposal, totals: dict[str, int]) -> dict[str, int]:
    """recompute_totals on other databases (SQLite: amounts are decimal text, which SQL would sum as doubles):
    the same rule over the current votes, summed exactly in Python."""
    current = list(Vote.objects.filter(proposal_id=proposal.pk, is_current=True)
                   .values_list("voter", "support", "power", "override_balance", "delegate"))
    support_of = {voter: support for voter, support, _, _, _ in current}
    for _, support, power, override_balance, delegate in current:
        totals[SUPPORT_WORDS[support]] += int(power)
        totals["voters"] += 1
        if int(override_balance) > 0 and delegate in support_of:
            totals[SUPPORT_WORDS[support_of[delegate]]] -= int(override_balance)
            totals["overridden"] += int(override_balance)
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
