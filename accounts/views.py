"""Wallet sign-in API (EIP-4361): thin views over accounts.services.

CSRF: DRF's APIView is csrf_exempt and its SessionAuthentication checks CSRF only for requests
that are already signed in. Signing in must be protected too (login CSRF: a hostile page could
otherwise sign a visitor in as the attacker's wallet), so these views run Django's CSRF check on
every unsafe request, signed in or not, and answer a failure in the API's JSON error shape.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import login as auth_login
from django.contrib.auth import logout as auth_logout
from django.utils.decorators import method_decorator
from django.views.decorators.csrf import ensure_csrf_cookie
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework.authentication import CSRFCheck
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.serializers import (
    AddressSerializer,
    ErrorSerializer,
    LoginRequestSerializer,
    MeSerializer,
    NonceRequestSerializer,
    NonceResponseSerializer,
)
from govapp.errors import DomainError

# Sessions are restored with the stock backend (it also refuses inactive users).
SESSION_BACKEND = "django.contrib.auth.backends.ModelBackend"


class CsrfFailed(DomainError):
    code = "csrf_failed"
    status = 403


def enforce_csrf(request: Request) -> None:
    """Django's CSRF check (token header/field against the cookie, plus Origin/Referer)."""
    check = CSRFCheck(lambda _request: None)
    django_request = request._request
    check.process_request(django_request)  # loads the CSRF cookie into request.META
    reason = check.process_view(django_request, None, (), {})
    if reason:
        raise CsrfFailed(f"CSRF check failed: {reason} Reload the page and try again.")


class CsrfProtectedAPIView(APIView):
    """An APIView whose unsafe methods require a valid CSRF token even from anonymous users."""

    parser_classes = [JSONParser]  # no form posts: a cross-site form cannot send JSON

    def perform_authentication(self, request: Request) -> None:
        enforce_csrf(request)  # before authentication, for signed-in and anonymous alike
        super().perform_authentication(request)


_ERRORS = {400: ErrorSerializer, 403: ErrorSerializer, 415: ErrorSerializer}


class NonceView(CsrfProtectedAPIView):
    @extend_schema(
        operation_id="accounts_nonce",
        tags=["accounts"],
        summary="Issue a sign-in message (EIP-4361) for an address",
        description=(
            "Returns a single-use EIP-4361 message for the wallet to sign with personal_sign. It "
            "expires after SIWE_NONCE_TTL_SECONDS. Requires the X-CSRFToken header. Errors: "
            "invalid_address, validation_error, csrf_failed."
        ),
        request=NonceRequestSerializer,
        responses={200: NonceResponseSerializer, **_ERRORS},
        examples=[OpenApiExample("request", request_only=True,
                                 value={"address": "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"})],
    )
    def post(self, request: Request) -> Response:
        body = NonceRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        issued = services.issue_sign_in_message(body.validated_data["address"])
        return Response(NonceResponseSerializer(issued).data)


class LoginView(CsrfProtectedAPIView):
    @extend_schema(
        operation_id="accounts_login",
        tags=["accounts"],
        summary="Sign in with a signed EIP-4361 message",
        description=(
            "Verifies the message issued by /accounts/nonce and its personal_sign signature, then "
            "starts a session. Requires the X-CSRFToken header. A failed attempt changes nothing "
            "(the message stays usable until it expires); a successful one uses it up. Error codes "
            "(400): malformed_message, unknown_nonce, nonce_used, nonce_expired, message_mismatch, "
            "wrong_domain, wrong_uri, wrong_chain, bad_signature, signer_mismatch, account_disabled, "
            "validation_error; 403: csrf_failed."
        ),
        request=LoginRequestSerializer,
        responses={200: AddressSerializer, **_ERRORS},
    )
    def post(self, request: Request) -> Response:
        body = LoginRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        user = services.verify_sign_in(body.validated_data["message"], body.validated_data["signature"])
        auth_login(request._request, user, backend=SESSION_BACKEND)  # new session key, new CSRF token
        return Response({"address": user.address})


class LogoutView(CsrfProtectedAPIView):
    @extend_schema(
        operation_id="accounts_logout",
        tags=["accounts"],
        summary="Sign out (end the session)",
        description="Ends the session; succeeds when already signed out. Requires the X-CSRFToken header.",
        request=None,
        responses={204: None, 403: ErrorSerializer},
    )
    def post(self, request: Request) -> Response:
        auth_logout(request._request)
        return Response(status=204)


@method_decorator(ensure_csrf_cookie, name="dispatch")
class MeView(APIView):
    @extend_schema(
        operation_id="accounts_me",
        tags=["accounts"],
        summary="The signed-in user",
        description="Also sets the csrftoken cookie, so API clients can fetch a CSRF token here.",
        responses={200: MeSerializer, 401: ErrorSerializer},
    )
    def get(self, request: Request) -> Response:
        user: Any = request.user
        if not user.is_authenticated:
            raise DomainError("You are not signed in.", code="not_authenticated", status=401)
        return Response({"address": user.address, "is_staff": user.is_staff})


nonce = NonceView.as_view()
login = LoginView.as_view()
logout = LogoutView.as_view()
me = MeView.as_view()
