"""Delegation REST API (DRF + drf-spectacular): the directory, delegates, statements, the relayer.

Refusals answer {"error": {"code", "message"}} with a 4xx (govapp.api.exception_handler); the codes
are listed in each operation's description and in delegation.services.
"""

from __future__ import annotations

from typing import Any

import django_filters
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from eth_utils import is_address, to_checksum_address
from rest_framework import generics, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from delegation import constants as C
from delegation import indexer, selectors, services
from delegation.models import Delegate, DelegateStatement
from delegation.serializers import (
    DelegateDetailSerializer,
    DelegateSerializer,
    DelegatorSerializer,
    ErrorSerializer,
    PowerPointSerializer,
    PublishedStatementSerializer,
    RelayRequestSerializer,
    RelaySerializer,
    SignedTypedDataSerializer,
    StatementSerializer,
    StatementTemplateRequestSerializer,
    TypedDataSerializer,
    VoteRecordSerializer,
    share_bps,
)
from govapp.errors import NotFoundError

_ERRORS = {400: ErrorSerializer, 404: ErrorSerializer, 409: ErrorSerializer, 503: ErrorSerializer}
TAGS = ["delegation"]
ADDRESS = OpenApiParameter("address", str, OpenApiParameter.PATH, description="0x address (any case)")


def _address(value: str) -> str:
    if not is_address(value):
        raise NotFoundError(f"{value!r} is not an address.", code="delegate_not_found")
    return to_checksum_address(value)


class DelegateFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_noop", help_text="Name substring or address prefix")
    interest = django_filters.ChoiceFilter(method="filter_noop", choices=C.INTERESTS)
    has_statement = django_filters.BooleanFilter(method="filter_noop")
    sort = django_filters.ChoiceFilter(method="filter_noop", choices=[(k, k) for k in C.SORTS],
                                       help_text="power (default), delegators or name")

    class Meta:
        model = Delegate
        fields: list[str] = []

    def filter_noop(self, queryset, name, value):
        return queryset  # applied together in filter_queryset (one indexed ordering)

    def filter_queryset(self, queryset):
        data = self.form.cleaned_data
        return selectors.directory_queryset(search=data.get("search") or None, sort=data.get("sort") or None,
                                            interest=data.get("interest") or None,
                                            has_statement=data.get("has_statement"))


class DelegateListView(generics.ListAPIView):
    serializer_class = DelegateSerializer
    filterset_class = DelegateFilter
    queryset = Delegate.objects.all()

    def paginate_queryset(self, queryset):
        return super().paginate_queryset(selectors.DirectoryRows(queryset))

    def get_serializer_context(self) -> dict[str, Any]:
        context = super().get_serializer_context()
        context["total_voting_power"] = indexer.head_and_total()[1]
        return context

    @extend_schema(operation_id="delegates_list", tags=TAGS, summary="The delegate directory",
                   description="Delegates (a statement or delegated votes > 0) with voting power, share of the "
                               "total, delegators, participation and last vote. Search, filter, sort, paginate "
                               "(limit/offset). Errors: validation_error.")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class DelegateDetailView(APIView):
    @extend_schema(operation_id="delegates_detail", tags=TAGS, parameters=[ADDRESS], summary="One delegate",
                   description="Live figures at the indexed head and the latest statement. 404 delegate_not_found.",
                   responses={200: DelegateDetailSerializer, 404: ErrorSerializer})
    def get(self, request: Request, address: str) -> Response:
        profile = selectors.delegate_profile(_address(address))
        if not profile.is_delegate and profile.statement is None and profile.voting_power == 0:
            raise NotFoundError("This address is not a delegate.", code="delegate_not_found")
        data = {
            "address": profile.address, "display_name": profile.display_name,
            "voting_power": str(profile.voting_power), "delegator_count": profile.delegator_count,
            "share_bps": share_bps(profile.voting_power, profile.total_voting_power),
            "total_voting_power": str(profile.total_voting_power), "head_block": profile.head_block,
            "participation": selectors.participation(profile.address),
            "statement": StatementSerializer(profile.statement).data if profile.statement else None,
            "statement_versions": profile.versions,
            "url": reverse("delegation:detail", args=[profile.address]),
        }
        return Response(DelegateDetailSerializer(data).data)


class StatementListView(generics.ListAPIView):
    serializer_class = StatementSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation
            return DelegateStatement.objects.none()
        return selectors.statements_of(_address(self.kwargs["address"]))

    @extend_schema(operation_id="delegates_statements", tags=TAGS, parameters=[ADDRESS],
                   summary="Every version of a delegate's statement",
                   description="Newest first, each with its verbatim EIP-712 typed data and signature.")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class _DelegatorRows:
    """What LimitOffsetPagination slices: count() and one page, each from SQL (not the whole list)."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.head = indexer.head_block()
        self._count: int | None = None

    def count(self) -> int:
        if self._count is None:
            self._count = selectors.delegators_page(self.address, limit=1, block=self.head)[1]
        return self._count

    def __getitem__(self, page: slice) -> list[dict[str, str]]:
        limit = max(0, page.stop - page.start)
        rows, self._count = selectors.delegators_page(self.address, limit=limit, offset=page.start, block=self.head)
        return [{"address": a, "balance": str(b)} for a, b in rows]


class DelegatorListView(generics.ListAPIView):
    serializer_class = DelegatorSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation (the path's type only)
            return Delegate.objects.none()
        return _DelegatorRows(_address(self.kwargs["address"]))

    @extend_schema(operation_id="delegates_delegators", tags=TAGS, parameters=[ADDRESS],
                   summary="Who delegates to this address",
                   description="Delegators with their balances (base units) at the indexed head, largest first.")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class VotingRecordView(generics.ListAPIView):
    serializer_class = VoteRecordSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation (the path's type only)
            return Delegate.objects.none()
        return [{"proposal_number": v.proposal_number, "proposal_title": v.proposal_title, "choice": v.choice,
                 "reason": v.reason, "weight": str(v.weight), "cast_at": v.cast_at}
                for v in selectors.voting_record(_address(self.kwargs["address"]))]

    @extend_schema(operation_id="delegates_votes", tags=TAGS, parameters=[ADDRESS],
                   summary="A delegate's voting record",
                   description="Proposal, choice and reason of each vote, newest first (empty until voting opens).")
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)


class PowerHistoryView(APIView):
    @extend_schema(operation_id="delegates_power_history", tags=TAGS, parameters=[ADDRESS],
                   summary="Voting power checkpoints",
                   responses={200: PowerPointSerializer(many=True)})
    def get(self, request: Request, address: str) -> Response:
        points = selectors.power_history(_address(address))
        return Response([{"block": b, "votes": str(v)} for b, v in points])


class StatementTemplateView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="delegates_statement_template", tags=TAGS,
                   summary="Build the DelegateStatement typed data to sign",
                   description="Checks the content and returns the EIP-712 typed data (portal domain) with the "
                               "lists encoded as JSON arrays and the current timestamp. Errors (400): "
                               "invalid_address, display_name_required, invalid_display_name, "
                               "display_name_too_long, statement_required, statement_too_long, invalid_interests, "
                               "unknown_interest, duplicate_interest, invalid_links, too_many_links, invalid_link, "
                               "duplicate_link, validation_error.",
                   request=StatementTemplateRequestSerializer, responses={200: TypedDataSerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        body = StatementTemplateRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        typed = services.statement_template(data["delegate"], display_name=data["display_name"],
                                            statement=data["statement"], interests=data["interests"],
                                            links=data["links"])
        return Response({"typed_data": typed})


class StatementPublishView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="delegates_statement_publish", tags=TAGS, summary="Publish a signed statement",
                   description="Verifies the EIP-712 signature (the message's delegate must sign), checks the "
                               "content again, keeps it as the next version and archives it. 201 with the version. "
                               "Errors (400): malformed_typed_data, wrong_primary_type, wrong_types, wrong_chain, "
                               "wrong_domain, wrong_contract, invalid_address, bad_signature, high_s_signature, "
                               "signer_mismatch, the content codes of the template, statement_expired, "
                               "timestamp_in_future; 409: duplicate_statement, stale_statement.",
                   request=SignedTypedDataSerializer, responses={201: PublishedStatementSerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        body = SignedTypedDataSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        statement = services.publish_statement(body.validated_data["typed_data"], body.validated_data["signature"])
        return Response(PublishedStatementSerializer(statement).data, status=status.HTTP_201_CREATED)


class DelegationTemplateView(APIView):
    @extend_schema(operation_id="relay_delegation_template", tags=TAGS,
                   summary="The token's Delegation typed data for delegateBySig",
                   description="Token domain (name, version 1, chain id, token address), the holder's current "
                               "token nonce and an expiry an hour ahead. Errors: invalid_address, "
                               "chain_unavailable (503).",
                   parameters=[OpenApiParameter("holder", str, required=True),
                               OpenApiParameter("delegatee", str, required=True)],
                   responses={200: TypedDataSerializer, **_ERRORS})
    def get(self, request: Request) -> Response:
        typed = services.delegation_template(request.query_params.get("holder"),
                                             request.query_params.get("delegatee"))
        return Response({"typed_data": typed})


class RelayListView(APIView):
    parser_classes = [JSONParser]

    @extend_schema(operation_id="relay_create", tags=TAGS, summary="Relay a signed delegateBySig (gasless)",
                   description="Checks everything before anything is sent, then queues it for the relayer: 202 "
                               "with the relay (poll status_url). Errors (400): invalid_address, "
                               "malformed_typed_data, wrong_primary_type, wrong_types, wrong_chain, wrong_domain, "
                               "wrong_contract, bad_signature, high_s_signature, signer_mismatch, signature_expired, "
                               "no_balance; 409: wrong_nonce, relay_pending; 503: chain_unavailable.",
                   request=RelayRequestSerializer, responses={202: RelaySerializer, **_ERRORS})
    def post(self, request: Request) -> Response:
        body = RelayRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        relay = services.request_relay(data["holder"], data["typed_data"], data["signature"])
        return Response(RelaySerializer(relay).data, status=status.HTTP_202_ACCEPTED)


class RelayDetailView(APIView):
    @extend_schema(operation_id="relay_status", tags=TAGS, summary="Status of a relayed delegation",
                   description="requested → submitted (tx hash) → confirmed | failed (with the reason). "
                               "404 relay_not_found.",
                   responses={200: RelaySerializer, 404: ErrorSerializer})
    def get(self, request: Request, relay_id: Any) -> Response:
        return Response(RelaySerializer(services.relay_status(relay_id)).data)
