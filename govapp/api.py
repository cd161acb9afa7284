"""REST API plumbing shared by every app: one error shape for every refusal, declared once in the schema."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views import defaults
from drf_spectacular.openapi import AutoSchema
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from govapp.errors import DomainError


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Machine-readable reason, e.g. nonce_expired.")
    message = serializers.CharField(help_text="A human sentence.")
    details = serializers.JSONField(required=False)


class ErrorSerializer(serializers.Serializer):
    """The API's one error shape: {"error": {"code", "message", "details"?}}."""

    error = ErrorBodySerializer()


#: Refusals every operation may answer, documented (as the Error component) unless the view documents them:
#: bad parameters (400), unknown objects (404); writes also a conflict with the current state (409), a body
#: that is not JSON (415), the rate limit (429); with session authentication also 401/403 (CSRF, permissions).
READ_ERROR_STATUSES = (400, 404)
WRITE_ERROR_STATUSES = (400, 404, 409, 415, 429)
SESSION_WRITE_ERROR_STATUSES = (401, 403)


class GovappAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, plus the shared error responses of every operation."""

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        statuses: tuple[int, ...] = READ_ERROR_STATUSES
        if self.method not in ("GET", "HEAD", "OPTIONS"):
            statuses = WRITE_ERROR_STATUSES
            if getattr(self.view, "authentication_classes", None):
                statuses += SESSION_WRITE_ERROR_STATUSES
        for code in sorted(statuses):
            responses.setdefault(str(code), self._get_response_for_code(ErrorSerializer, str(code)))
        return dict(sorted(responses.items()))


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: a URL no route matches answers in the API's error shape under /api/, HTML elsewhere."""
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": "not_found", "message": "There is no such API resource."}},
                            status=404)
    return defaults.page_not_found(request, exception)

_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.ValidationError: "validation_error",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """Answer every refusal as {"error": {"code", "message", "details"?}} with a 4xx status."""
    if isinstance(exc, DomainError):
        return Response(exc.as_dict(), status=exc.status)
    # Django's own refusals get the same codes as DRF's (DRF converts them only inside its handler).
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), "invalid_request")
    if isinstance(exc, exceptions.ValidationError):
        body = {"code": code, "message": "The request has invalid fields.", "details": response.data}
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else response.data
        body = {"code": code, "message": str(detail)}
    response.data = {"error": body}
    if response.status_code >= 500:  # never expose a 5xx from a client error path
        response.status_code = status.HTTP_400_BAD_REQUEST
    return response
