"""Pages of the execution engine: a proposal's execution page (and its panel fragment) and the operators' status."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from execution import presentation, selectors
from govapp.errors import DomainError


def _proposal(request: HttpRequest, number: int):
    try:
        return selectors.proposal_by_number(number), None
    except DomainError as exc:
        return None, render(request, "execution/error.html", {"error": exc}, status=exc.status)


@require_safe
def proposal_page(request: HttpRequest, number: int) -> HttpResponse:
    proposal, error = _proposal(request, number)
    if error is not None:
        return error
    return render(request, "execution/proposal.html", {"proposal": proposal})


@require_safe
def panel_fragment(request: HttpRequest, number: int) -> HttpResponse:
    proposal, error = _proposal(request, number)
    if error is not None:
        return error
    return render(request, "execution/_panel.html", presentation.panel_context(proposal, request))


@require_safe
def status_page(request: HttpRequest) -> HttpResponse:
    """Staff only: queue depths, indexer lag, transactions in flight, executions waiting or retrying."""
    if not (request.user.is_authenticated and request.user.is_staff):
        error = DomainError("The execution status page is for Foundation staff.", code="staff_only", status=403)
        return render(request, "execution/error.html", {"error": error}, status=403)
    return render(request, "execution/status.html", {"s": selectors.operator_status()})
