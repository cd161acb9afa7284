"""Proposal pages: list with search and filters, detail, submit / edit forms, transitions, diffs.

Thin: reads through proposals.selectors, writes through proposals.services. A refused write is shown
on the page (its error code and message) with the refusal's 4xx status.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from archive.selectors import proposal_trail_url
from govapp.errors import DomainError
from proposals import selectors, services
from proposals.content import render_markdown
from proposals.filters import ProposalFilter
from proposals.forms import ProposalForm, parameter_choices
from proposals.lifecycle import ProposalStatus
from proposals.models import Proposal

PAGE_SIZE = 20


def _error_page(request: HttpRequest, error: DomainError) -> HttpResponse:
    return render(request, "proposals/error.html", {"error": error}, status=error.status)


def _signin_required(request: HttpRequest, what: str) -> HttpResponse:
    return render(request, "proposals/signin_required.html", {"what": what}, status=403)


@require_safe
def proposal_list(request: HttpRequest) -> HttpResponse:
    filterset = ProposalFilter(request.GET, queryset=selectors.proposal_queryset())
    context: dict[str, Any] = {"filter": filterset, "sorts": selectors.SORTS, "page": None,
                               "statuses": ProposalStatus.choices}
    if not filterset.is_valid():
        return render(request, "proposals/list.html", context, status=400)
    paginator = Paginator(filterset.qs, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    params = {k: v for k, v in request.GET.items() if k != "page" and v}
    context.update(
        page=page,
        proposals=page.object_list,
        query_prefix=urlencode(params) + "&" if params else "",
        searched=bool(params.get("q")),
    )
    return render(request, "proposals/list.html", context)


def _detail_context(request: HttpRequest, proposal: Proposal) -> dict[str, Any]:
    user = request.user
    progress = selectors.endorsement_progress(proposal)
    review_status = selectors.review_status(proposal)
    endorsements = [(e, selectors.counts(proposal, e)) for e in selectors.endorsements(proposal)]
    reviews = list(selectors.reviews(proposal))
    address = getattr(user, "address", None) if user.is_authenticated else None
    return {
        "proposal": proposal,
        "body_html": mark_safe(render_markdown(proposal.body)),  # noqa: S308 - nh3-sanitized
        "timeline": selectors.timeline(proposal),
        "actions_view": selectors.proposal_actions(proposal),
        "progress": progress,
        "endorsements": endorsements,
        "review_status": review_status,
        "reviews": [(r, selectors.counts(proposal, r)) for r in reviews],
        "revisions": list(selectors.revisions(proposal)),
        "transitions": selectors.available_transitions(proposal, user),
        "can_edit": selectors.can_edit(proposal, user),
        "can_endorse": bool(address) and proposal.status == ProposalStatus.ENDORSEMENT
        and not any(e.endorser == address and c for e, c in endorsements),
        "can_review": bool(address) and proposal.status == ProposalStatus.TECHNICAL_REVIEW
        and selectors.is_core_developer(address) and review_status is not None
        and address not in review_status.reviewed,
        "archive_url": proposal_trail_url(proposal.ref),
    }


@require_safe
def proposal_detail(request: HttpRequest, number: int) -> HttpResponse:
    try:
        proposal = selectors.get_proposal(number)
    except DomainError as error:
        return _error_page(request, error)
    return render(request, "proposals/detail.html", _detail_context(request, proposal))


def _form_page(request: HttpRequest, form: ProposalForm, *, proposal: Proposal | None = None,
               error: DomainError | None = None, status: int = 200) -> HttpResponse:
    return render(request, "proposals/form.html", {"form": form, "proposal": proposal, "error": error,
                                                   "parameter_choices": parameter_choices()}, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
def proposal_create(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return _signin_required(request, "submit a proposal")
    if request.method in ("GET", "HEAD"):
        return _form_page(request, ProposalForm(initial={"kind": request.GET.get("kind", "")}))
    form = ProposalForm(request.POST)
    if not form.is_valid():
        return _form_page(request, form, status=400)
    try:
        proposal = services.create_proposal(request.user, **form.service_fields())
    except DomainError as error:
        return _form_page(request, form, error=error, status=error.status)
    return redirect(proposal.get_absolute_url())


@require_http_methods(["GET", "HEAD", "POST"])
def proposal_edit(request: HttpRequest, number: int) -> HttpResponse:
    try:
        proposal = selectors.get_proposal(number)
    except DomainError as error:
        return _error_page(request, error)
    if not request.user.is_authenticated:
        return _signin_required(request, "edit a proposal")
    if request.method in ("GET", "HEAD"):
        if not selectors.can_edit(proposal, request.user):
            code = "not_author" if request.user.pk != proposal.author_id else "not_editable"
            return _error_page(request, DomainError("You cannot edit this proposal.", code=code, status=403))
        return _form_page(request, ProposalForm(initial=ProposalForm.initial_for(proposal), editing=True),
                          proposal=proposal)
    form = ProposalForm(request.POST, editing=True)
    if not form.is_valid():
        return _form_page(request, form, proposal=proposal, status=400)
    try:
        services.revise_proposal(number, request.user, note=form.cleaned_data["note"], **form.service_fields())
    except DomainError as error:
        return _form_page(request, form, proposal=proposal, error=error, status=error.status)
    return redirect(proposal.get_absolute_url())


@require_POST
def proposal_transition(request: HttpRequest, number: int) -> HttpResponse:
    try:
        proposal = selectors.get_proposal(number)
        services.user_transition(number, request.POST.get("to", ""), request.user,
                                 reason=request.POST.get("reason", ""))
    except DomainError as error:
        if error.code == "proposal_not_found":
            return _error_page(request, error)
        proposal.refresh_from_db()
        context = _detail_context(request, proposal)
        context["transition_error"] = error
        return render(request, "proposals/detail.html", context, status=error.status)
    return redirect(proposal.get_absolute_url())


@require_safe
def proposal_revisions(request: HttpRequest, number: int) -> HttpResponse:
    """Revisions of a proposal and the diff between two of them (?from=&to=, default: the last two)."""
    try:
        proposal = selectors.get_proposal(number)
        revisions = list(selectors.revisions(proposal))
        newest = revisions[-1].number
        to_number = request.GET.get("to") or newest
        from_number = request.GET.get("from") or max(1, int(to_number) - 1 if str(to_number).isdigit() else 1)
        new = selectors.get_revision(proposal, to_number)
        old = selectors.get_revision(proposal, from_number)
    except DomainError as error:
        return _error_page(request, error)
    return render(request, "proposals/revisions.html", {
        "proposal": proposal, "revisions": revisions, "old": old, "new": new,
        "diff": selectors.revision_diff(old, new) if old.number != new.number else [],
    })
