"""REST API of the execution engine (under /api/execution/).

    GET  /api/execution/                          executions (newest first), ?state=queued
    GET  /api/execution/{proposal}                the execution status of a proposal
    GET  /api/execution/{proposal}/veto-template  ?member=0x…&reason=…  the Veto typed data to sign
    POST /api/execution/{proposal}/veto           {typed_data, signature}: a council member's signed veto

The veto is authenticated by its signature (no session, no CSRF). Refusals are
{"error": {"code", "message", "details"?}} with a 4xx status.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from execution import selectors, vetoes
from execution.models import Execution, ExecutionState
from govapp.api import ErrorSerializer
from govapp.errors import DomainError

_ANY = OpenApiTypes.OBJECT
VETO_ERRORS = ("bad_signature, wrong_types, wrong_chain, wrong_domain, wrong_contract, signer_mismatch (400); "
               "not_council_member (403); wrong_proposal, reason_required, reason_too_long, timestamp_in_future, "
               "timestamp_too_old (400); proposal_not_found (404); not_queued, veto_closed, already_vetoed (409)")


class _ExecutionAPIView(APIView):
    authentication_classes: list = []  # reads are public; the veto authenticates itself by its signature
    permission_classes: list = []
    parser_classes = [JSONParser]


class _VetoInput(serializers.Serializer):
    typed_data = serializers.JSONField(help_text="The EIP-712 Veto typed data exactly as signed (from the template)")
    signature = serializers.CharField(help_text="0x-prefixed signature of a security council member")


class ExecutionListView(_ExecutionAPIView):
    @extend_schema(operation_id="execution_list", responses={200: _ANY}, summary="Executions, newest first",
                   parameters=[OpenApiParameter("state", str, enum=ExecutionState.values)])
    def get(self, request: Request) -> Response:
        queryset = Execution.objects.select_related("proposal").order_by("-created_at")
        wanted = request.query_params.get("state")
        if wanted:
            if wanted not in ExecutionState.values:
                raise DomainError(f"state must be one of {', '.join(ExecutionState.values)}.", code="invalid_state")
            queryset = queryset.filter(state=wanted)
        rows = [{"proposal": e.proposal.number, "state": e.state, "eta": e.eta, "onchain_id": e.onchain_id,
                 "failure_code": e.failure_code or None, "updated_at": e.updated_at.isoformat()}
                for e in queryset[:200]]
        return Response({"count": len(rows), "results": rows})


class ExecutionStatusView(_ExecutionAPIView):
    @extend_schema(
        operation_id="execution_status", responses={200: _ANY}, summary="The execution status of a proposal",
        description="state (pending, scheduling, queued, executing, vetoing, executed, vetoed, failed; null when "
                    "not queued), onchain_id (bytes32 = keccak256('govapp:proposal:<number>')), tally_digest "
                    "(keccak256(abi.encode(merkleRoot, for, against, abstain))), eta (unix seconds, from etaOf), "
                    "actions, transactions (schedule / execute / cancel with hash, nonce, state, block, "
                    "confirmations), veto {members, threshold, count, signatures}, requested vs readback (the core "
                    "contract read at the execution block), failure {code, reason}, retry {attempts, last_error}.")
    def get(self, request: Request, number: int) -> Response:
        return Response(selectors.execution_status(selectors.proposal_by_number(number)))


class VetoTemplateView(_ExecutionAPIView):
    @extend_schema(
        operation_id="execution_veto_template", responses={200: _ANY, 409: ErrorSerializer},
        summary="The Veto typed data to sign",
        parameters=[OpenApiParameter("member", str, required=True), OpenApiParameter("reason", str)],
        description="EIP-712 `Veto{proposalId uint256, member address, reason string, timestamp uint64}` under the "
                    "portal's domain, timestamp = now: sign it with eth_signTypedData_v4 and POST it to …/veto.")
    def get(self, request: Request, number: int) -> Response:
        return Response(vetoes.veto_template(number, request.query_params.get("member"),
                                             request.query_params.get("reason", "")))


class VetoView(_ExecutionAPIView):
    @extend_schema(
        operation_id="execution_veto", request=_VetoInput, responses={201: _ANY},
        summary="Submit a security council member's signed veto",
        description="Body {typed_data, signature}. Accepted while the proposal waits for execution (pending, "
                    "scheduling, queued); archived as veto.signature with the typed data verbatim. When "
                    "SECURITY_COUNCIL_THRESHOLD members have signed, the portal's council relay cancels the "
                    f"proposal on the executor and it becomes Vetoed. Error codes: {VETO_ERRORS}.")
    def post(self, request: Request, number: int) -> Response:
        body: Any = request.data
        if not isinstance(body, dict):
            raise DomainError("The body must be a JSON object {typed_data, signature}.", code="malformed_request")
        veto = vetoes.submit_veto(number, body.get("typed_data"), body.get("signature"))
        view = selectors.veto_view(veto.execution)
        return Response({"member": veto.member, "digest": veto.digest, "archive_sequence": veto.archive_sequence,
                         "count": view["count"], "threshold": view["threshold"],
                         "threshold_reached": view["threshold_reached"]}, status=status.HTTP_201_CREATED)
