"""Token-weighted votes: every accepted signed vote, and one live tally per proposal.

Amounts (voting power in token base units) are chain.models.Uint256Field: NUMERIC(78, 0) on PostgreSQL —
exact, and summable in SQL (the final tally is one aggregate over the vote table) — and decimal text on
SQLite (the embedded default), whose NUMERIC affinity would turn amounts past 2**63 into doubles: there
voting.services adds and sums them in Python. The rules (who may vote, with what power, the delegator
override) are in voting.services; this module only stores.

* Vote — one accepted signed vote. Its primary key is the EIP-712 digest of what was signed (the
  vote id). A later vote of the same voter on the same proposal replaces the earlier one: the earlier
  row stays (is_current = False, replaced_by set) so the history is kept, exactly one row per
  (proposal, voter) is current.
* Tally — the live totals of one proposal, updated in every vote's transaction, and its final
  outcome once the vote is closed.
"""

from __future__ import annotations

from django.db import models

from chain.models import Uint256Field
from proposals.models import Proposal


def _amount(help_text: str) -> Uint256Field:
    return Uint256Field(default=0, help_text=help_text)


class Support(models.IntegerChoices):
    """The Vote message's `support` (OpenZeppelin Governor numbering)."""

    AGAINST = 0, "Against"
    FOR = 1, "For"
    ABSTAIN = 2, "Abstain"


#: support number -> the archive's support word (archive.kinds.SUPPORT_VALUES).
SUPPORT_WORDS: dict[int, str] = {Support.AGAINST: "against", Support.FOR: "for", Support.ABSTAIN: "abstain"}
WORD_SUPPORT: dict[str, int] = {word: number for number, word in SUPPORT_WORDS.items()}


class VoteFormat(models.TextChoices):
    PORTAL = "eip712", "Portal EIP-712 Vote"
    SNAPSHOT = "snapshot", "Snapshot envelope"


class Vote(models.Model):
    """One accepted, signed vote (kept forever; the current one of each voter counts)."""

    id = models.CharField(primary_key=True, max_length=66,
                          help_text="EIP-712 digest of the signed message: the vote id")
    # No index on proposal alone: the indexes below all lead with it (and serve the foreign key). With one, a
    # proposal that had no votes at the last ANALYZE made the planner seek by proposal and filter the voter in
    # every per-voter lookup: all of the proposal's votes read per vote (tests/govapp/test_hot_query_plans.py).
    proposal = models.ForeignKey(Proposal, on_delete=models.PROTECT, related_name="votes", db_index=False)
    voter = models.CharField(max_length=42, help_text="EIP-55 checksummed address that signed")
    support = models.PositiveSmallIntegerField(choices=Support.choices)
    reason = models.TextField(blank=True)
    signed_timestamp = models.PositiveBigIntegerField(help_text="The message's timestamp (unix seconds)")
    snapshot_block = models.PositiveBigIntegerField(help_text="The block the power was read at")
    votes_power = _amount("Delegated votes of the voter at the snapshot block (ERC20Votes getPastVotes)")
    override_balance = _amount("The voter's own balance at the snapshot, voted directly over their delegate "
                               "(0 unless the voter had delegated to someone else)")
    power = _amount("votes_power + override_balance: what this vote weighs before overrides by delegators")
    delegate = models.CharField(max_length=42, blank=True,
                                help_text="The delegate this voter overrides (their delegate at the snapshot), if any")
    overridden = _amount("Sum of the override_balance of the voter's delegators who voted themselves")
    format = models.CharField(max_length=16, choices=VoteFormat.choices, default=VoteFormat.PORTAL)
    typed_data = models.JSONField(help_text="The EIP-712 typed data exactly as signed")
    signature = models.TextField()
    contract_wallet = models.BooleanField(default=False, help_text="Verified by EIP-1271 rather than ecrecover")
    is_current = models.BooleanField(default=True)
    replaced_by = models.CharField(max_length=66, blank=True, help_text="The id of the vote that replaced this one")
    replaces = models.CharField(max_length=66, blank=True, help_text="The id of the vote this one replaced")
    archive_sequence = models.BigIntegerField(null=True, blank=True, help_text="Its Foundation archive entry")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["proposal", "voter"], condition=models.Q(is_current=True),
                                    name="voting_one_current_vote"),
            models.CheckConstraint(condition=models.Q(support__in=[0, 1, 2]), name="voting_support_known"),
            models.CheckConstraint(condition=models.Q(power__gt=0), name="voting_power_positive"),
        ]
        indexes = [
            # The votes list (newest first) and the final aggregate read current votes of one proposal.
            models.Index(fields=["proposal", "is_current", "-created_at"], name="voting_vote_list"),
            models.Index(fields=["proposal", "voter"], name="voting_vote_voter"),
            # Overrides: the current votes of one proposal that override a given delegate.
            models.Index(fields=["proposal", "delegate"], condition=models.Q(is_current=True, override_balance__gt=0),
                         name="voting_vote_overrides"),
        ]

    def __str__(self) -> str:
        return f"{self.voter} {self.get_support_display()} on #{self.proposal_id}"

    @property
    def weight(self) -> int:
        """What the vote counts for now: its power less what its delegators voted themselves."""
        return int(self.power) - int(self.overridden)

    @property
    def support_word(self) -> str:
        return SUPPORT_WORDS[self.support]


class Outcome(models.TextChoices):
    PASSED = "passed", "Passed"
    REJECTED = "rejected", "Rejected"
    QUORUM_NOT_MET = "quorum_not_met", "Quorum not met"


class Tally(models.Model):
    """Live totals of one proposal's vote (updated in each vote's transaction) and, once closed, the result."""

    proposal = models.OneToOneField(Proposal, on_delete=models.PROTECT, primary_key=True, related_name="tally")
    snapshot_block = models.PositiveBigIntegerField()
    total_power = _amount("Total voting power at the snapshot block (the quorum base)")
    quorum_bps = models.PositiveIntegerField(help_text="GOVERNANCE['QUORUM_BPS'] for the kind, fixed at opening")
    for_power = _amount("Power For")
    against_power = _amount("Power Against")
    abstain_power = _amount("Power Abstain")
    voters = models.PositiveIntegerField(default=0, help_text="Addresses with a current vote")
    votes_received = models.PositiveIntegerField(default=0, help_text="Accepted signed votes, re-votes included")
    overridden_power = _amount("Power moved from delegates' votes to their delegators' own votes")
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    merkle_root = models.CharField(max_length=66, blank=True,
                                   help_text="voting.merkle.vote_set_root of the counted votes")
    discrepancy = models.JSONField(null=True, blank=True,
                                   help_text="Live totals that differed from the recomputation at close, if any")
    archive_sequence = models.BigIntegerField(null=True, blank=True, help_text="The TALLY_FINAL archive entry")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "tallies"

    def __str__(self) -> str:
        return f"tally of #{self.proposal_id}"

    @property
    def is_closed(self) -> bool:
        return self.closed_at is not None
