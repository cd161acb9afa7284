from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from govapp import health


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    from proposals.selectors import recent_proposals

    return render(request, "home.html", {"proposals": recent_proposals(limit=10)})


@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Database, broker and chain status as JSON; 503 when a required part is down."""
    report = health.report()
    return JsonResponse(report, status=200 if report["ok"] else 503)
