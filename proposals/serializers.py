"""Shapes of the proposals API (requests, responses; also the OpenAPI schema). No rules here."""

from __future__ import annotations

from typing import Any

from django.urls import reverse
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import ErrorSerializer  # noqa: F401 - the API's one error shape, re-exported
from archive.selectors import proposal_trail_url
from proposals import selectors
from proposals.content import render_markdown
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Endorsement, Proposal, Revision, StatusChange, TechnicalReview


class ProposalSerializer(serializers.ModelSerializer):
    ref = serializers.CharField(read_only=True, help_text="Archive reference (proposal_ref): the number as text")
    author = serializers.CharField(source="author.address", read_only=True)
    kind_label = serializers.CharField(source="get_kind_display", read_only=True)
    status_label = serializers.CharField(source="get_status_display", read_only=True)
    url = serializers.SerializerMethodField()
    html_url = serializers.SerializerMethodField()
    # Not URLField: "" (none given) is valid, and the schema's format "uri" would refuse it.
    discussion_url = serializers.CharField(read_only=True, help_text="http(s) link, or empty")

    class Meta:
        model = Proposal
        fields = ["number", "ref", "title", "kind", "kind_label", "status", "status_label", "author",
                  "revision_number", "revision_hash", "discussion_url", "created_at", "updated_at",
                  "status_changed_at", "url", "html_url"]
        read_only_fields = fields

    def get_url(self, obj: Proposal) -> str:
        return reverse("proposals-api:detail", args=[obj.number])

    def get_html_url(self, obj: Proposal) -> str:
        return obj.get_absolute_url()


class ProposalActionSerializer(serializers.Serializer):
    target = serializers.CharField()
    value = serializers.CharField(help_text="Wei sent with the call (decimal string)")
    data = serializers.CharField(help_text="0x calldata")
    contract = serializers.CharField()
    function = serializers.CharField()
    arguments = serializers.DictField(child=serializers.CharField(), help_text="Decoded from the calldata")


class EndorsementProgressSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    block = serializers.IntegerField(allow_null=True, help_text="Reference block of the endorsement weights")
    endorsed = serializers.CharField(help_text="Endorsing power of the current revision (decimal)")
    required = serializers.CharField(help_text="Threshold (decimal)")
    total = serializers.CharField(help_text="Total voting power at the reference block (decimal)")
    count = serializers.IntegerField()
    reached = serializers.BooleanField()
    percent = serializers.IntegerField()
    rule = serializers.CharField()


class ReviewStatusSerializer(serializers.Serializer):
    round = serializers.IntegerField()
    approvals = serializers.IntegerField()
    required = serializers.IntegerField()
    core_developers = serializers.ListField(child=serializers.CharField())


class StatusChangeSerializer(serializers.ModelSerializer):
    class Meta:
        model = StatusChange
        fields = ["from_status", "to_status", "actor", "actor_address", "reason", "archive_sequence", "created_at"]


class ProposalDetailSerializer(ProposalSerializer):
    body_html = serializers.SerializerMethodField(help_text="The body rendered from Markdown and sanitized")
    payload_decoded = serializers.SerializerMethodField()
    actions = serializers.SerializerMethodField()
    actions_error = serializers.SerializerMethodField()
    endorsement = serializers.SerializerMethodField()
    review = serializers.SerializerMethodField()
    timeline = StatusChangeSerializer(source="status_changes", many=True, read_only=True)
    archive_url = serializers.SerializerMethodField()

    class Meta(ProposalSerializer.Meta):
        fields = [*ProposalSerializer.Meta.fields, "body", "body_html", "payload", "payload_decoded", "actions",
                  "actions_error", "discussion_ends_at", "endorsement_round", "endorsement_block",
                  "endorsement_total_power", "endorsement", "review_round", "review", "snapshot_block",
                  "voting_starts_at", "voting_ends_at", "timeline", "archive_url"]
        read_only_fields = fields

    def _actions(self, obj: Proposal) -> selectors.ActionsView:
        cache = self.context.setdefault("_actions", {})
        if obj.pk not in cache:
            cache[obj.pk] = selectors.proposal_actions(obj)
        return cache[obj.pk]

    def get_body_html(self, obj: Proposal) -> str:
        return render_markdown(obj.body)

    @extend_schema_field(serializers.ListField(child=serializers.ListField(child=serializers.CharField())))
    def get_payload_decoded(self, obj: Proposal) -> list[list[str]]:
        return [list(row) for row in self._actions(obj).payload_rows]

    @extend_schema_field(ProposalActionSerializer(many=True))
    def get_actions(self, obj: Proposal) -> list[dict[str, Any]]:
        return [a.as_dict() for a in self._actions(obj).actions]

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_actions_error(self, obj: Proposal) -> str | None:
        return self._actions(obj).error

    @extend_schema_field(EndorsementProgressSerializer(allow_null=True))
    def get_endorsement(self, obj: Proposal) -> dict[str, Any] | None:
        progress = selectors.endorsement_progress(obj)
        if progress is None:
            return None
        return {"round": progress.round, "block": progress.block, "endorsed": str(progress.endorsed),
                "required": str(progress.required), "total": str(progress.total), "count": progress.count,
                "reached": progress.reached, "percent": progress.percent, "rule": progress.rule}

    @extend_schema_field(ReviewStatusSerializer(allow_null=True))
    def get_review(self, obj: Proposal) -> dict[str, Any] | None:
        status = selectors.review_status(obj)
        if status is None:
            return None
        return {"round": status.round, "approvals": status.approvals, "required": status.required,
                "core_developers": list(status.core_developers)}

    def get_archive_url(self, obj: Proposal) -> str:
        return proposal_trail_url(obj.ref)


class RevisionSerializer(serializers.ModelSerializer):
    author = serializers.CharField(source="author.address", read_only=True)
    discussion_url = serializers.CharField(read_only=True, help_text="http(s) link, or empty")

    class Meta:
        model = Revision
        fields = ["number", "title", "kind", "body", "payload", "discussion_url", "content_hash", "author", "note",
                  "created_at"]
        read_only_fields = fields


class _SignedSerializer(serializers.ModelSerializer):
    revision = serializers.IntegerField(source="revision.number", read_only=True)
    revision_hash = serializers.CharField(source="revision.content_hash", read_only=True)
    counts = serializers.SerializerMethodField(help_text="Counts now: current round and current revision")

    def get_counts(self, obj: Endorsement | TechnicalReview) -> bool:
        return selectors.counts(self.context["proposal"], obj)


class EndorsementSerializer(_SignedSerializer):
    class Meta:
        model = Endorsement
        fields = ["endorser", "weight", "block", "round", "revision", "revision_hash", "counts", "signed_timestamp",
                  "digest", "signature", "typed_data", "contract_wallet", "archive_sequence", "created_at"]
        read_only_fields = fields


class TechnicalReviewSerializer(_SignedSerializer):
    class Meta:
        model = TechnicalReview
        fields = ["reviewer", "approve", "comment", "round", "revision", "revision_hash", "counts",
                  "signed_timestamp", "digest", "signature", "typed_data", "contract_wallet", "archive_sequence",
                  "created_at"]
        read_only_fields = fields


# --------------------------------------------------------------------------- requests


class ProposalCreateSerializer(serializers.Serializer):
    """Shapes only: the limits and payload rules are the service's (their codes in the error)."""

    title = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False,
                                 help_text="Markdown")
    kind = serializers.ChoiceField(choices=ProposalKind.choices)
    payload = serializers.JSONField(required=False, help_text="Typed payload of the kind (see proposals.payloads)")
    discussion_url = serializers.CharField(required=False, allow_blank=True, help_text="http(s) link")


class ProposalEditSerializer(serializers.Serializer):
    """Every field optional: what is left out stays as it is."""

    title = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    body = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    kind = serializers.ChoiceField(choices=ProposalKind.choices, required=False)
    payload = serializers.JSONField(required=False)
    discussion_url = serializers.CharField(required=False, allow_blank=True)
    note = serializers.CharField(required=False, allow_blank=True, help_text="What changed")


class ProposalSignedMessageSerializer(serializers.Serializer):
    typed_data = serializers.JSONField(help_text="The typed data from the template, exactly as signed")
    signature = serializers.CharField(help_text="eth_signTypedData_v4 signature: 0x + 130 hex digits")


class ProposalTransitionSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=ProposalStatus.choices, help_text="Target status, e.g. discussion")
    reason = serializers.CharField(required=False, allow_blank=True)


class ProposalTypedDataSerializer(serializers.Serializer):
    types = serializers.DictField()
    primaryType = serializers.CharField()  # noqa: N815 - the EIP-712 field name
    domain = serializers.DictField()
    message = serializers.DictField()


class ProposalParameterSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField()
    type = serializers.CharField()
    minimum = serializers.CharField(help_text="On-chain units (base units for tokens), decimal")
    maximum = serializers.CharField()
    bounds = serializers.CharField()


class ProposalTransitionRuleSerializer(serializers.Serializer):
    source = serializers.CharField()
    target = serializers.CharField()
    actors = serializers.ListField(child=serializers.CharField())
    label = serializers.CharField()
    rule = serializers.CharField()
