"""Browser security headers.

- `SecurityHeadersMiddleware` adds the Content-Security-Policy and Permissions-Policy to every response
  (Django's SecurityMiddleware adds nosniff, Referrer-Policy, Cross-Origin-Opener-Policy and, over HTTPS,
  HSTS; XFrameOptionsMiddleware adds X-Frame-Options). The policy is CONTENT_SECURITY_POLICY in settings,
  loosened per path prefix by CONTENT_SECURITY_POLICY_PATHS (only the Redoc API docs need that).
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

# --- Headers ----------------------------------------------------------------------------------------------

def content_security_policy(path: str) -> str:
    """The CSP header value for `path`: the site policy, with the longest matching path override merged in."""
    policy: dict[str, str] = dict(settings.CONTENT_SECURITY_POLICY)
    overrides: dict[str, dict[str, str]] = getattr(settings, "CONTENT_SECURITY_POLICY_PATHS", {})
    matching = [prefix for prefix in overrides if path.startswith(prefix)]
    if matching:
        policy.update(overrides[max(matching, key=len)])
    return "; ".join(f"{name} {value}".strip() for name, value in policy.items())


class SecurityHeadersMiddleware:
    """Adds Content-Security-Policy and Permissions-Policy to every response that does not set its own."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(request.path)
        permissions = getattr(settings, "PERMISSIONS_POLICY", "")
        if permissions and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = permissions
        return response
