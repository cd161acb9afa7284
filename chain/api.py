"""Chain index API: voting power at a block, an account's checkpoint history, the indexer's status.

Thin views over chain.selectors; refusals use the API's error shape {"error": {"code", "message"}}.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chain import selectors
from chain.serializers import (
    ErrorSerializer,
    HistoryEntrySerializer,
    IndexerStatusSerializer,
    VotingPowerSerializer,
)
from govapp.pagination import LimitOffsetPagination


class VotingPowerView(APIView):
    @extend_schema(
        operation_id="chain_voting_power",
        tags=["chain"],
        summary="Voting power of an address at a block",
        description=(
            "Delegated votes at the end of `block` (default: the indexed head), read from the portal's index "
            "— equal to GovernanceToken.getPastVotes(address, block). Errors: 400 invalid_address, "
            "400 invalid_block, 409 block_not_indexed (block past the indexed head; details.indexed_head)."
        ),
        parameters=[
            OpenApiParameter("address", OpenApiTypes.STR, required=True, description="0x address (any case)."),
            OpenApiParameter("block", OpenApiTypes.INT, required=False, description="Block number (>= 0)."),
        ],
        responses={200: VotingPowerSerializer, 400: ErrorSerializer, 409: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        address = selectors.normalize_address(request.query_params.get("address"), strict=True)
        raw_block = request.query_params.get("block")
        block = selectors.normalize_block(raw_block if raw_block not in (None, "") else None)
        if block is None:
            block = selectors.indexed_head()
            if block is None:
                raise selectors.BlockNotIndexed("The chain index has not indexed any block yet.",
                                                details={"indexed_head": None})
        votes = selectors.voting_power(address, block)
        return Response(VotingPowerSerializer({
            "address": selectors.checksum(address), "block": block, "voting_power": str(votes),
            "indexed_head": selectors.indexed_head()}).data)


class _HistoryRows:
    """A lazily counted, sliced account history for DRF's LimitOffsetPagination (two queries)."""

    def __init__(self, address: str) -> None:
        self.address = address

    def count(self) -> int:
        return selectors.account_history_count(self.address)

    def __getitem__(self, item: slice) -> list[dict[str, Any]]:
        start = item.start or 0
        return selectors.account_history(self.address, limit=max(0, item.stop - start), offset=start)


class HistoryPagination(LimitOffsetPagination):  # bounded offset
    default_limit = 50
    max_limit = 500


class AccountHistoryView(APIView):
    pagination_class = HistoryPagination

    @extend_schema(
        operation_id="chain_account_history",
        tags=["chain"],
        summary="Balance, delegate and votes checkpoints of an address",
        description=(
            "Every checkpoint of the address, newest block first: kind `balance` (token balance), `delegate` "
            "(delegate chosen; null = none) or `votes` (delegated votes), each the value from that block on. "
            "Paginated with `limit` (default 50, at most 500) and `offset`. Errors: 400 invalid_address."
        ),
        parameters=[
            OpenApiParameter("address", OpenApiTypes.STR, OpenApiParameter.PATH, description="0x address."),
            OpenApiParameter("limit", OpenApiTypes.INT, required=False),
            OpenApiParameter("offset", OpenApiTypes.INT, required=False),
        ],
        responses={
            200: inline_serializer("AccountHistoryPage", fields={
                "count": serializers.IntegerField(),
                "next": serializers.URLField(allow_null=True),
                "previous": serializers.URLField(allow_null=True),
                "results": HistoryEntrySerializer(many=True),
            }),
            400: ErrorSerializer,
        },
    )
    def get(self, request: Request, address: str) -> Response:
        account = selectors.normalize_address(address, strict=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(_HistoryRows(account), request, view=self)
        return paginator.get_paginated_response(HistoryEntrySerializer(page, many=True).data)


class IndexerStatusView(APIView):
    @extend_schema(
        operation_id="chain_indexer_status",
        tags=["chain"],
        summary="The chain indexer's head, lag and health",
        description="Read from the database only (no node call). `stalled`: the last run failed or nobody "
                    "has polled the node recently; `last_error` tells why.",
        responses={200: IndexerStatusSerializer},
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.indexer_status())


voting_power = VotingPowerView.as_view()
account_history = AccountHistoryView.as_view()
indexer_status = IndexerStatusView.as_view()
