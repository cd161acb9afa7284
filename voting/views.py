"""The vote pages: a standalone vote page per proposal and the results fragment the panel reloads."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from govapp.errors import DomainError
from voting import presentation, selectors


def _proposal_or_404(request: HttpRequest, number: int):
    try:
        return selectors.proposal_by_number(number), None
    except DomainError as exc:
        return None, render(request, "voting/error.html", {"error": exc}, status=exc.status)


@require_safe
def vote_page(request: HttpRequest, number: int) -> HttpResponse:
    proposal, error = _proposal_or_404(request, number)
    if error is not None:
        return error
    return render(request, "voting/vote_page.html", {"proposal": proposal})


@require_safe
def results_fragment(request: HttpRequest, number: int) -> HttpResponse:
    proposal, error = _proposal_or_404(request, number)
    if error is not None:
        return error
    return render(request, "voting/_results.html", presentation.results_context(proposal))
