"""Proposals REST API (DRF + drf-spectacular). Thin: the same services and selectors as the pages.

Authentication: the session of the wallet sign-in (/accounts/login); unsafe requests of a signed-in
session need the X-CSRFToken header. Endorsements and reviews are authorised by their EIP-712
signature alone (no session needed). Every refusal answers {"error": {"code", "message", "details"?}}
with a 4xx status (govapp.api.exception_handler); each operation lists its codes.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from govapp.errors import DomainError
from proposals import lifecycle, selectors, services
from proposals.filters import ProposalFilter
from proposals.models import Proposal
from proposals.parameters import PARAMETERS
from proposals.serializers import (
    EndorsementSerializer,
    ErrorSerializer,
    ProposalCreateSerializer,
    ProposalDetailSerializer,
    ProposalEditSerializer,
    ProposalParameterSerializer,
    ProposalSerializer,
    ProposalSignedMessageSerializer,
    ProposalTransitionRuleSerializer,
    ProposalTransitionSerializer,
    ProposalTypedDataSerializer,
    RevisionSerializer,
    TechnicalReviewSerializer,
)

TAGS = ["proposals"]
_READ_ERRORS = {404: ErrorSerializer}
_WRITE_ERRORS = {400: ErrorSerializer, 401: ErrorSerializer, 403: ErrorSerializer, 404: ErrorSerializer,
                 409: ErrorSerializer, 503: ErrorSerializer}

CONTENT_ERRORS = (
    "title_required, title_too_long, body_required, body_too_long, invalid_body, invalid_discussion_url, "
    "invalid_kind, invalid_payload, unexpected_payload, unexpected_payload_field, invalid_program_hash, "
    "invalid_config_hash, invalid_os_version, invalid_snip_reference, duplicate_snip_reference, "
    "unknown_parameter, duplicate_parameter, invalid_parameter_value, parameter_out_of_bounds, "
    "invalid_recipient, invalid_amount, validation_error"
)
SIGNATURE_ERRORS = (
    "malformed_typed_data, wrong_primary_type, wrong_types, wrong_chain, wrong_domain, wrong_contract, "
    "invalid_address, invalid_field, invalid_message, bad_signature, high_s_signature, signer_mismatch, "
    "wrong_proposal, stale_revision (409), stale_signature (409), timestamp_in_future"
)


class ProposalListView(generics.ListCreateAPIView):
    serializer_class = ProposalSerializer
    filterset_class = ProposalFilter
    queryset = Proposal.objects.none()
    parser_classes = [JSONParser]

    def get_queryset(self):
        return selectors.proposal_queryset()

    @extend_schema(operation_id="proposals_list", tags=TAGS, summary="List, search and filter proposals",
                   description="Full-text search (`q`, web-search syntax), filters by type, status and author, "
                               "sorting (`sort`) and limit/offset pagination. Errors: validation_error.",
                   responses={200: ProposalSerializer(many=True), 400: ErrorSerializer})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(operation_id="proposals_create", tags=TAGS, summary="Submit a proposal (a Draft)",
                   description="Signed-in users. Creates the proposal with its first revision and archives it "
                               f"(proposal.created). Errors: not_authenticated (401), {CONTENT_ERRORS}.",
                   request=ProposalCreateSerializer, responses={201: ProposalDetailSerializer, **_WRITE_ERRORS})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = ProposalCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # Title and body left out are empty: the service refuses them (title_required), not a TypeError.
        proposal = services.create_proposal(request.user, **{"title": "", "body": "", **body.validated_data})
        return Response(ProposalDetailSerializer(proposal, context={"request": request}).data,
                        status=status.HTTP_201_CREATED)


class ProposalDetailView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="proposals_retrieve", tags=TAGS, summary="A proposal",
                   description="The current revision, its payload decoded, the executor actions (decoded from "
                               "their calldata), endorsement progress, review status, voting window and the "
                               "status timeline. Errors: proposal_not_found (404).",
                   responses={200: ProposalDetailSerializer, **_READ_ERRORS})
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.get_proposal(number)
        return Response(ProposalDetailSerializer(proposal, context={"request": request}).data)

    @extend_schema(operation_id="proposals_edit", tags=TAGS, summary="Edit a proposal (a new revision)",
                   description="The author, before Voting. Fields left out stay as they are; the type only "
                               "changes in Draft. Endorsements of earlier revisions stop counting; a revision "
                               "during Technical review sends the proposal back to Endorsement. Errors: "
                               "not_authenticated (401), not_author (403), not_editable (409), kind_locked "
                               f"(409), no_changes, note_too_long, proposal_not_found (404), {CONTENT_ERRORS}.",
                   request=ProposalEditSerializer, responses={200: ProposalDetailSerializer, **_WRITE_ERRORS})
    def patch(self, request: Request, number: int) -> Response:
        body = ProposalEditSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        services.revise_proposal(number, request.user, **body.validated_data)
        proposal = selectors.get_proposal(number)
        return Response(ProposalDetailSerializer(proposal, context={"request": request}).data)


class RevisionListView(APIView):
    @extend_schema(operation_id="proposals_revisions", tags=TAGS, summary="Every revision of a proposal",
                   description="Oldest first; content_hash is the EIP-712 revisionHash. Errors: proposal_not_found.",
                   responses={200: RevisionSerializer(many=True), **_READ_ERRORS})
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.get_proposal(number)
        return Response(RevisionSerializer(selectors.revisions(proposal), many=True).data)


class RevisionDiffView(APIView):
    @extend_schema(operation_id="proposals_revision_diff", tags=TAGS, summary="Unified diff between two revisions",
                   parameters=[OpenApiParameter("from", int, required=True),
                               OpenApiParameter("to", int, required=True)],
                   description="Errors: proposal_not_found, revision_not_found (404).",
                   responses={200: {"type": "object", "properties": {"diff": {"type": "string"}}}, **_READ_ERRORS})
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.get_proposal(number)
        old = selectors.get_revision(proposal, request.query_params.get("from"))
        new = selectors.get_revision(proposal, request.query_params.get("to"))
        return Response({"from": old.number, "to": new.number,
                         "diff": "\n".join(line.text for line in selectors.revision_diff(old, new))})


class EndorsementListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="proposals_endorsements", tags=TAGS, summary="Endorsements of a proposal",
                   description="Every accepted endorsement (typed data and signature verbatim); `counts` marks "
                               "those of the current revision and round. Errors: proposal_not_found.",
                   responses={200: EndorsementSerializer(many=True), **_READ_ERRORS})
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.get_proposal(number)
        return Response(EndorsementSerializer(selectors.endorsements(proposal), many=True,
                                              context={"proposal": proposal}).data)

    @extend_schema(operation_id="proposals_endorse", tags=TAGS, summary="Endorse a proposal (signed)",
                   description="POST the typed data from the endorsement template and its eth_signTypedData_v4 "
                               "signature. Weight: the endorser's voting power at the endorsement reference block. "
                               "Reaching the threshold moves the proposal on (Technical review for OS upgrades, "
                               "else Voting). Errors: not_in_endorsement (409), already_endorsed (409), "
                               f"no_voting_power (403), proposal_not_found (404), {SIGNATURE_ERRORS}.",
                   request=ProposalSignedMessageSerializer, responses={201: EndorsementSerializer, **_WRITE_ERRORS})
    def post(self, request: Request, number: int) -> Response:
        body = ProposalSignedMessageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        endorsement = services.endorse(number, body.validated_data["typed_data"], body.validated_data["signature"])
        proposal = selectors.get_proposal(number)
        data = EndorsementSerializer(endorsement, context={"proposal": proposal}).data
        return Response({**data, "proposal_status": proposal.status}, status=status.HTTP_201_CREATED)


class EndorsementTemplateView(APIView):
    @extend_schema(operation_id="proposals_endorsement_template", tags=TAGS,
                   summary="The Endorsement typed data to sign",
                   parameters=[OpenApiParameter("endorser", str, description="Address (default: the signed-in user)")],
                   description="EIP-712 `Endorsement{proposalId, revisionHash, endorser, timestamp}` of the current "
                               "revision under the portal's domain; pass it unchanged to eth_signTypedData_v4. "
                               "Errors: not_in_endorsement (409), invalid_address, proposal_not_found (404).",
                   responses={200: ProposalTypedDataSerializer, **_WRITE_ERRORS})
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.get_proposal(number)
        endorser = request.query_params.get("endorser") or getattr(request.user, "address", None)
        return Response(selectors.endorsement_template(proposal, endorser))


class ReviewListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="proposals_reviews", tags=TAGS, summary="Core developers' reviews of a proposal",
                   description="Every signed review, public. Errors: proposal_not_found.",
                   responses={200: TechnicalReviewSerializer(many=True), **_READ_ERRORS})
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.get_proposal(number)
        return Response(TechnicalReviewSerializer(selectors.reviews(proposal), many=True,
                                                  context={"proposal": proposal}).data)

    @extend_schema(operation_id="proposals_review", tags=TAGS, summary="Review an OS upgrade (core developers, signed)",
                   description="POST a signed TechnicalReview. CORE_REVIEW_APPROVALS approvals of the current "
                               "revision open the vote; a rejection (reasons in the comment) sends the proposal "
                               "back to Discussion. Errors: not_core_developer (403), not_in_review (409), "
                               "already_reviewed (409), comment_required, comment_too_long, proposal_not_found "
                               f"(404), {SIGNATURE_ERRORS}.",
                   request=ProposalSignedMessageSerializer, responses={201: TechnicalReviewSerializer, **_WRITE_ERRORS})
    def post(self, request: Request, number: int) -> Response:
        body = ProposalSignedMessageSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        item = services.review(number, body.validated_data["typed_data"], body.validated_data["signature"])
        proposal = selectors.get_proposal(number)
        data = TechnicalReviewSerializer(item, context={"proposal": proposal}).data
        return Response({**data, "proposal_status": proposal.status}, status=status.HTTP_201_CREATED)


class ReviewTemplateView(APIView):
    @extend_schema(operation_id="proposals_review_template", tags=TAGS,
                   summary="The TechnicalReview typed data to sign",
                   parameters=[OpenApiParameter("reviewer", str, description="Address (default: the signed-in user)"),
                               OpenApiParameter("approve", bool, required=True),
                               OpenApiParameter("comment", str, required=True)],
                   description="Errors: not_in_review (409), invalid_address, invalid_approve, proposal_not_found.",
                   responses={200: ProposalTypedDataSerializer, **_WRITE_ERRORS})
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.get_proposal(number)
        reviewer = request.query_params.get("reviewer") or getattr(request.user, "address", None)
        approve = request.query_params.get("approve", "").lower()
        if approve not in ("true", "false"):
            raise DomainError("approve must be true or false.", code="invalid_approve")
        return Response(selectors.review_template(proposal, reviewer, approve == "true",
                                                  request.query_params.get("comment", "")))


class TransitionView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="proposals_transition", tags=TAGS, summary="Change a proposal's status",
                   description="What a signed-in user may do by the lifecycle table (GET /api/proposals/lifecycle/): "
                               "the author opens the discussion of a draft or withdraws before Voting; staff may "
                               "start the endorsement of a proposal in discussion. Errors: not_authenticated (401), "
                               "illegal_transition (409), transition_not_permitted (403), indexer_not_ready (503), "
                               "proposal_not_found (404), validation_error.",
                   request=ProposalTransitionSerializer, responses={200: ProposalDetailSerializer, **_WRITE_ERRORS})
    def post(self, request: Request, number: int) -> Response:
        body = ProposalTransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        proposal = services.user_transition(number, body.validated_data["to"], request.user,
                                            reason=body.validated_data.get("reason", ""))
        return Response(ProposalDetailSerializer(proposal, context={"request": request}).data)


class ParameterListView(APIView):
    @extend_schema(operation_id="proposals_parameters", tags=TAGS, summary="Governed parameters",
                   description="The parameters a parameter-change proposal may set, with types and bounds.",
                   responses={200: ProposalParameterSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([{"name": p.name, "description": p.description, "type": p.type, "minimum": str(p.minimum),
                          "maximum": str(p.maximum), "bounds": p.bounds_text()} for p in PARAMETERS.values()])


class LifecycleView(APIView):
    @extend_schema(operation_id="proposals_lifecycle", tags=TAGS, summary="The lifecycle's transitions",
                   description="Every allowed transition and who may make it (author, staff, core_developer, system).",
                   responses={200: ProposalTransitionRuleSerializer(many=True)})
    def get(self, request: Request) -> Response:
        return Response([{"source": t.source.value, "target": t.target.value, "actors": sorted(t.actors),
                          "label": t.label, "rule": t.rule} for t in lifecycle.TRANSITIONS])
