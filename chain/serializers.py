"""Response shapes of the chain index API (also its OpenAPI schema). Amounts are decimal strings."""

from __future__ import annotations

from rest_framework import serializers

from accounts.serializers import ErrorSerializer  # noqa: F401 - the API's one error shape, re-exported


class VotingPowerSerializer(serializers.Serializer):
    address = serializers.CharField(help_text="EIP-55 checksummed address.")
    block = serializers.IntegerField(help_text="The block the figure is for (end of block).")
    voting_power = serializers.CharField(help_text="Delegated votes in token base units (decimal string), "
                                                   "== GovernanceToken.getPastVotes(address, block).")
    indexed_head = serializers.IntegerField(help_text="The last block the index has reached.")


class HistoryEntrySerializer(serializers.Serializer):
    block = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=["balance", "delegate", "votes"], help_text="Which checkpoint.")
    value = serializers.CharField(allow_null=True, help_text="Balance or votes (decimal string) from that "
                                                             "block on, or the delegate (null: none).")


class IndexerStatusSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    state = serializers.ChoiceField(choices=["not_started", "following", "stalled"])
    head_block = serializers.IntegerField(allow_null=True, help_text="Last block fully indexed.")
    chain_block = serializers.IntegerField(allow_null=True, help_text="Chain head when the node was last polled.")
    lag = serializers.IntegerField(allow_null=True, help_text="chain_block - head_block.")
    last_advanced_at = serializers.DateTimeField(allow_null=True)
    checked_at = serializers.DateTimeField(allow_null=True, help_text="Last successful poll of the node.")
    stalled = serializers.BooleanField()
    last_error = serializers.CharField(allow_blank=True)
    last_error_at = serializers.DateTimeField(allow_null=True)
    failures = serializers.IntegerField(help_text="Consecutive failed runs.")
    retry_at = serializers.DateTimeField(allow_null=True)
    reorgs = serializers.IntegerField(help_text="Reorgs handled so far.")
    confirmations = serializers.IntegerField(help_text="CHAIN_CONFIRMATIONS: blocks kept behind the head.")
