"""REST API of voting (under /api/votes/). The signature is the authority: no session, no CSRF needed.

Every refusal is {"error": {"code", "message", "details"?}} with a 4xx status (voting.services.ERROR_CODES).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, inline_serializer
from eth_utils import is_address, to_checksum_address
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from govapp.api import ErrorSerializer
from govapp.errors import DomainError
from govapp.pagination import LimitOffsetPagination
from voting import selectors, services
from voting.models import SUPPORT_WORDS, Support

_ERRORS = ", ".join(f"`{code}` ({status_})" for code, status_ in services.ERROR_CODES.items())
_ANY = OpenApiTypes.OBJECT


class _VoteAPIView(APIView):
    authentication_classes: list = []  # signed messages authenticate themselves
    permission_classes: list = []
    parser_classes = [JSONParser]


class _VoteInput(serializers.Serializer):
    typed_data = serializers.JSONField(help_text="The EIP-712 Vote typed data exactly as signed (from the template)")
    signature = serializers.CharField(help_text="0x-prefixed signature (65 bytes; any length for EIP-1271 wallets)")


class CastVoteView(_VoteAPIView):
    @extend_schema(
        operation_id="votes_cast", request=_VoteInput, responses={201: _ANY},
        summary="Submit one signed vote",
        description="Body {typed_data, signature}: the portal's EIP-712 `Vote` (fetch the template first) signed "
                    "with eth_signTypedData_v4 by the voter (or an EIP-1271 wallet's owner). A later vote of the "
                    "same voter replaces the earlier one. 201 with the receipt {id (the EIP-712 digest), weight, "
                    f"replaced, archive_sequence, ...}}. Error codes: {_ERRORS}.")
    def post(self, request: Request) -> Response:
        return Response(*cast_reply(_object(request.data)))


class CastProposalVoteView(_VoteAPIView):
    @extend_schema(operation_id="votes_cast_for_proposal", request=_VoteInput, responses={201: _ANY},
                   summary="Submit one signed vote on this proposal",
                   description="As POST /api/votes/, refusing a vote signed for another proposal (proposal_mismatch).")
    def post(self, request: Request, number: int) -> Response:
        body = _object(request.data)
        receipt = services.cast_vote(body.get("typed_data"), body.get("signature"), proposal_number=number)
        return Response(receipt.as_dict(), status=status.HTTP_201_CREATED)


class BatchVoteView(_VoteAPIView):
    @extend_schema(
        operation_id="votes_batch",
        request=inline_serializer("VoteBatch", {"votes": serializers.ListField(child=serializers.JSONField())}),
        responses={200: _ANY}, summary="Submit many signed votes (integrators)",
        description=f"Body {{votes: [...]}} with up to {services.BATCH_MAX_VOTES} items, each {{typed_data, "
                    "signature}} or a Snapshot envelope {address, sig, data}. 200 with {accepted, rejected, results: "
                    "[{index, ok, id, replaced, weight} | {index, ok: false, error: {code, message}}]} in the order "
                    "given; each vote stands or falls on its own.")
    def post(self, request: Request) -> Response:
        body = _object(request.data)
        results = services.cast_votes(body.get("votes"))
        rows = [r.as_dict() for r in results]
        accepted = sum(1 for r in rows if r["ok"])
        return Response({"accepted": accepted, "rejected": len(rows) - accepted, "results": rows})


class SnapshotVoteView(_VoteAPIView):
    @extend_schema(
        operation_id="votes_snapshot", request=_ANY, responses={200: _ANY},
        summary="Snapshot-compatible vote (snapshot.js Client712.vote)",
        description="Point snapshot.js at this URL: `new snapshot.Client712('https://<portal>/api/votes/snapshot')`"
                    ".vote(web3, address, {space, proposal, type: 'single-choice', choice, reason, app}). Body "
                    "{address, sig, data: {domain: {name: 'snapshot', version: '0.1.4'}, types: {Vote: [from, space, "
                    "timestamp, proposal, choice, reason, app, metadata]}, message}}; from may be string or "
                    "address, proposal string or bytes32. `space` must be this portal's space name, `proposal` our "
                    "proposal number (\"12\" or the 0x bytes32 of 12); choice 1 For, 2 Against, 3 Abstain. The "
                    "domain has no chain id: replay protection is the space name plus the proposal. Reply "
                    "{id, ipfs, relayer}; errors are non-2xx JSON {error: {code, message}}.",
        examples=[OpenApiExample("reply", value={"id": "0x…", "ipfs": None, "relayer": None}, response_only=True)])
    def post(self, request: Request) -> Response:
        return Response(*snapshot_reply(_object(request.data)))


class VoteDetailView(_VoteAPIView):
    @extend_schema(operation_id="votes_retrieve", responses={200: _ANY}, summary="One vote by its id")
    def get(self, request: Request, vote_id: str) -> Response:
        vote = selectors.vote_by_id(vote_id)
        row = selectors.vote_row(vote, selectors.display_names([vote.voter]))
        row.update(proposal=vote.proposal.number, typed_data=vote.typed_data, signature=vote.signature)
        return Response(row)


class TemplateView(_VoteAPIView):
    @extend_schema(
        operation_id="votes_template", responses={200: _ANY}, summary="The typed data to sign",
        parameters=[OpenApiParameter("voter", str, required=True),
                    OpenApiParameter("support", int, description="0 Against, 1 For (default), 2 Abstain"),
                    OpenApiParameter("reason", str)],
        description="The EIP-712 Vote for eth_signTypedData_v4 (timestamp = now); change support and reason, "
                    "sign, and POST {typed_data, signature}.")
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.proposal_by_number(number)
        support = _int_param(request, "support", Support.FOR)
        if support not in SUPPORT_WORDS:
            raise DomainError("support must be 0, 1 or 2.", code="invalid_support")
        reason = request.query_params.get("reason", "")
        services.check_reason(reason)
        typed = services.vote_template(proposal, request.query_params.get("voter", ""), support=support,
                                       reason=reason)
        return Response({"typed_data": typed, "support": {"0": "Against", "1": "For", "2": "Abstain"},
                         "snapshot_block": proposal.snapshot_block,
                         "voting_ends_at": proposal.voting_ends_at.isoformat() if proposal.voting_ends_at else None,
                         "reason_max_chars": services._gov("VOTE_REASON_MAX_CHARS"),
                         "snapshot_space": services.snapshot_space()})


class ResultsView(_VoteAPIView):
    @extend_schema(operation_id="votes_results", responses={200: _ANY}, summary="Live (or final) results")
    def get(self, request: Request, number: int) -> Response:
        return Response(selectors.results(selectors.proposal_by_number(number)).as_dict())


class PowerView(_VoteAPIView):
    @extend_schema(
        operation_id="votes_power", responses={200: _ANY, 409: ErrorSerializer},
        parameters=[OpenApiParameter("address", str, required=True)],
        summary="Voting power of an address for a proposal (snapshot block, with override info)")
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.proposal_by_number(number)
        address = request.query_params.get("address", "")
        if not is_address(address):
            raise DomainError("address must be an address.", code="invalid_address")
        address = to_checksum_address(address)
        if proposal.snapshot_block is None:
            raise DomainError("The vote on this proposal has not opened.", code="voting_not_open", status=409)
        return Response(selectors.power_info(proposal, address))


class VoteListPagination(LimitOffsetPagination):  # bounded offset
    default_limit = 50
    max_limit = 500


class VoteListView(_VoteAPIView):
    @extend_schema(
        operation_id="votes_list", responses={200: _ANY}, summary="Votes of a proposal (paginated)",
        parameters=[OpenApiParameter("support", str, enum=["for", "against", "abstain"]),
                    OpenApiParameter("all", bool, description="include replaced votes"),
                    OpenApiParameter("limit", int), OpenApiParameter("offset", int)])
    def get(self, request: Request, number: int) -> Response:
        proposal = selectors.proposal_by_number(number)
        qs = selectors.votes_of(proposal, support=request.query_params.get("support") or None,
                                include_replaced=request.query_params.get("all") in ("1", "true"))
        paginator = VoteListPagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        names = selectors.display_names([v.voter for v in page])
        return paginator.get_paginated_response([selectors.vote_row(v, names) for v in page])


CSV_COLUMNS = ("id", "voter", "display_name", "support", "weight", "power", "overridden", "override_balance",
               "delegate", "reason", "timestamp", "format", "contract_wallet", "current", "changed", "replaces",
               "archive_sequence", "created_at")


#: Columns holding text that voters wrote; a spreadsheet would run a cell starting with one of FORMULA_LEADS.
CSV_FREE_TEXT = frozenset({"display_name", "reason"})
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(column: str, value: Any) -> Any:
    """OWASP's CSV-injection guard: free text that a spreadsheet would read as a formula gets a leading
    apostrophe. The exact signed text stays in the JSON API and the archive."""
    if value is None:
        return ""
    if column in CSV_FREE_TEXT and isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


class _Echo:
    def write(self, value: str) -> str:
        return value


def _csv_rows(proposal: Any, include_replaced: bool) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(CSV_COLUMNS)
    batch: list = []
    qs = selectors.votes_of(proposal, include_replaced=include_replaced)
    for vote in qs.iterator(chunk_size=2000):
        batch.append(vote)
        if len(batch) == 2000:
            yield from _csv_batch(writer, batch)
            batch = []
    yield from _csv_batch(writer, batch)


def _csv_batch(writer: Any, votes: list) -> Iterator[str]:
    names = selectors.display_names([v.voter for v in votes]) if votes else {}
    for vote in votes:
        row = selectors.vote_row(vote, names)
        yield writer.writerow([_csv_cell(c, row[c]) for c in CSV_COLUMNS])


class VoteCsvView(_VoteAPIView):
    @extend_schema(operation_id="votes_csv", responses={(200, "text/csv"): OpenApiTypes.STR},
                   summary="Votes of a proposal as CSV (streamed)")
    def get(self, request: Request, number: int) -> StreamingHttpResponse:
        proposal = selectors.proposal_by_number(number)
        response = StreamingHttpResponse(_csv_rows(proposal, request.query_params.get("all") in ("1", "true")),
                                         content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="proposal-{proposal.number}-votes.csv"'
        return response


def cast_reply(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """POST /api/votes/ once the body is a JSON object: (reply, status). Shared by the view and voting.fastpath."""
    receipt = services.cast_vote(body.get("typed_data"), body.get("signature"))
    return receipt.as_dict(), status.HTTP_201_CREATED


def snapshot_reply(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """POST /api/votes/snapshot once the body is a JSON object: (reply, status). Shared as cast_reply is."""
    receipt = services.cast_snapshot_vote(body)
    return {"id": receipt.vote.id, "ipfs": None, "relayer": None, "receipt": receipt.as_dict()}, status.HTTP_200_OK


def _object(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise DomainError("The body must be a JSON object.", code="malformed_request")
    return data


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise DomainError(f"{name} must be an integer.", code="invalid_field") from None
