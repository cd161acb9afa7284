"""The lean route for single signed votes: POST /api/votes/ and POST /api/votes/snapshot without URL
resolution and DRF.

Single votes are the portal's hottest write: at a busy close thousands arrive each second, one per request,
and Django's URL resolver, DRF's request/response machinery and content negotiation cost more CPU than the
vote's own verification. `govapp.handlers.GovappWSGIHandler` asks `respond()` first for every POST; it
answers only requests whose outcome the DRF view would give the same way, and leaves everything else
(returns None) to the normal route, which then answers exactly as before:

- still inside the whole middleware chain (hosts, HTTPS redirect, sessions, every security header, the 4xx
  log line, 500 handling — those run around this function, as around any view);
- the same throttles (the view's `get_throttles()`: the write rate limit), the same reply functions as the
  views (`voting.api.cast_reply`, `snapshot_reply`), the same exception handler (`govapp.api`) for refusals,
  the same JSON renderer, and DRF's Allow and Vary headers;
- taken only when DRF would choose JSON and parse the body the same way: Content-Type application/json
  (utf-8), an Accept header without parameters that JSON satisfies, a Content-Length within
  DATA_UPLOAD_MAX_MEMORY_SIZE, a body that is strict UTF-8 JSON; anything else (malformed JSON, another
  charset, `indent=` in Accept, chunked bodies...) goes the normal way and gets DRF's own answer.

`tests/voting/test_fastpath.py` sends the same requests both ways and compares status, headers and body.
VOTE_FAST_PATH = false turns it off.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import cache
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from rest_framework.exceptions import APIException
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from govapp.api import exception_handler
from govapp.errors import DomainError
from voting import api

Reply = Callable[[dict[str, Any]], tuple[dict[str, Any], int]]

#: URL name -> (the DRF view it stands in for, the reply function that view calls).
ROUTES: dict[str, tuple[type[APIView], Reply]] = {
    "voting-api:cast": (api.CastVoteView, api.cast_reply),
    "voting-api:snapshot": (api.SnapshotVoteView, api.snapshot_reply),
}

_JSON = "application/json"
_JSON_ACCEPTED = frozenset({_JSON, "application/*", "*/*"})  # media ranges JSONRenderer satisfies
_RENDERER = JSONRenderer()


@cache
def _routes_by_path() -> dict[str, tuple[type[APIView], Reply]]:
    for view_class, _ in ROUTES.values():
        # respond() runs the throttles but no authentication nor permission checks: the signed message is the
        # authority on these routes. A view that gains either must leave the fast path.
        if view_class.authentication_classes or view_class.permission_classes:
            raise ImproperlyConfigured(f"{view_class.__name__} authenticates or checks permissions: remove it "
                                       "from voting.fastpath.ROUTES")
        # and it answers in JSON, which DRF picks for the Accept headers it takes only if JSON comes first
        if not view_class.renderer_classes or not issubclass(view_class.renderer_classes[0], JSONRenderer):
            raise ImproperlyConfigured(f"{view_class.__name__} does not render JSON first")
    return {reverse(name): route for name, route in ROUTES.items()}


def _json_content_type(value: str) -> bool:
    media, _, params = value.partition(";")
    if media.strip() != _JSON:  # exactly: another spelling goes the usual way, whatever DRF makes of it
        return False
    params = params.strip().lower().replace(" ", "")
    return params in ("", "charset=utf-8")


def _json_accepted(value: str | None) -> bool:
    """No Accept header, or one for which DRF's negotiation picks the JSON renderer with no parameters (indent=...):
    media ranges spelled exactly as JSON satisfies them (DRF compares them case-sensitively)."""
    if value is None:
        return True
    ranges = [r.strip() for r in value.split(",")]
    return all(r in _JSON_ACCEPTED for r in ranges)


def _body_object(request: HttpRequest) -> dict[str, Any] | None:
    """The body as DRF's JSONParser would read it, or None where DRF should answer itself."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return None
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    if length <= 0 or (limit is not None and length > limit):
        return None
    try:
        data = json.loads(request.body.decode("utf-8"), parse_constant=_refuse_constant)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return data if isinstance(data, dict) else None


def _refuse_constant(name: str) -> Any:  # DRF's STRICT_JSON: NaN and Infinity are not JSON
    raise ValueError(f"{name} is not valid JSON")


def respond(request: HttpRequest) -> HttpResponse | None:
    """The response to a POST on a single-vote route, or None: let the URL resolver and DRF answer."""
    route = _routes_by_path().get(request.path_info)
    if route is None or not getattr(settings, "VOTE_FAST_PATH", True):
        return None
    if not _json_content_type(request.META.get("CONTENT_TYPE", "")):
        return None
    if not _json_accepted(request.META.get("HTTP_ACCEPT")):
        return None
    body = _body_object(request)
    if body is None:
        return None
    view_class, reply = route
    view = view_class()
    headers: dict[str, str] = {}
    try:
        for throttle in view.get_throttles():
            if not throttle.allow_request(request, view):
                view.throttled(request, throttle.wait())
        data, status = reply(body)
    except (DomainError, APIException) as exc:
        refusal = exception_handler(exc, {"view": view, "request": request})
        if refusal is None:
            raise
        data, status = refusal.data, refusal.status_code
        headers = {name: value for name, value in refusal.items() if name.lower() != "content-type"}
    response = HttpResponse(_RENDERER.render(data), status=status, content_type=_RENDERER.media_type)
    for name, value in headers.items():
        response[name] = value
    defaults = view.default_response_headers  # as DRF's finalize_response: Allow, and Vary: Accept with >1 renderer
    vary = defaults.pop("Vary", None)
    if vary is not None:
        patch_vary_headers(response, [v.strip() for v in vary.split(",")])
    for name, value in defaults.items():
        response[name] = value
    return response
