"""Delegation pages: the directory, a delegate's page, the statement editor and "My delegation".

The pages are server-rendered; static/js/delegation.js adds the wallet actions (delegate directly,
delegate gaslessly through the relayer, sign and publish a statement) on top of window.govapp.
"""

from __future__ import annotations

import os
from functools import lru_cache

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_safe
from eth_utils import is_address, to_checksum_address

from delegation import charts, indexer, selectors
from delegation import constants as C
from delegation.content import encode_list
from delegation.formatting import short_address
from delegation.presentation import directory_rows


def _address_or_404(address: str) -> str:
    if not is_address(address):
        raise Http404("Not an address")
    return to_checksum_address(address)


@lru_cache(maxsize=4)
def _token_address(path: str, mtime_ns: int, chain_id: int) -> str:
    from chain.client import get_deployment

    return get_deployment().token_address


def _chain_context() -> dict:
    """What the wallet scripts need: the token's address and the calldata selector of delegate()."""
    path = settings.CHAIN_DEPLOYMENT_FILE
    try:  # read once per version of the deployment file, not per request
        token_address = _token_address(str(path), os.stat(path).st_mtime_ns, settings.CHAIN_ID)
    except Exception:  # noqa: BLE001 - no deployment: the pages render without the wallet actions
        token_address = ""
    return {"token_address": token_address, "delegate_selector": C.DELEGATE_SELECTOR}


def _int_param(request: HttpRequest, name: str, default: int) -> int:
    try:
        return int(request.GET.get(name, default))
    except (TypeError, ValueError):
        return default


@require_safe
def directory(request: HttpRequest) -> HttpResponse:
    search = request.GET.get("q", "")[:100]
    page = selectors.directory_page(search=search, sort=request.GET.get("sort", C.DEFAULT_SORT),
                                    page=_int_param(request, "page", 1))
    activation = None
    if request.user.is_authenticated:
        activation = selectors.needs_activation(request.user.address)
    prefix = reverse("delegation:detail", args=["0x" + "0" * 40])[: -len("0x" + "0" * 40) - 1]
    rows = directory_rows(page.rows, offset=page.offset, total_voting_power=page.total_voting_power,
                          url_prefix=prefix)
    return render(request, "delegation/directory.html", {
        "page": page, "rows": rows,
        "sorts": [("power", "Voting power"), ("delegators", "Delegators"), ("name", "Name")],
        "needs_activation": activation, **_chain_context()})


@require_safe
def delegate_detail(request: HttpRequest, address: str) -> HttpResponse:
    checksummed = _address_or_404(address)
    if checksummed != address:
        return redirect("delegation:detail", address=checksummed, permanent=True)
    profile = selectors.delegate_profile(checksummed)
    history = selectors.power_history(checksummed)
    return render(request, "delegation/detail.html", {
        "profile": profile,
        "statement": profile.statement,
        "chart": charts.power_chart(history, profile.head_block),
        "delegators": profile.delegators,
        "delegators_more": max(0, profile.delegator_count - len(profile.delegators)),
        "votes": selectors.voting_record(checksummed, limit=50),
        "participation": selectors.participation(checksummed),
        "versions": selectors.statements_of(checksummed).only("version", "display_name", "created_at", "digest",
                                                               "archive_sequence"),
        "is_self": request.user.is_authenticated and request.user.address == checksummed,
        "delegate_label": f"Delegate to {profile.display_name or short_address(checksummed)}",
        **_chain_context(),
    })


@require_safe
def statement_editor(request: HttpRequest) -> HttpResponse:
    """The form to publish (a new version of) one's statement; the wallet signs it in the browser."""
    current = None
    if request.user.is_authenticated:
        current = selectors.statements_of(request.user.address).first()
    return render(request, "delegation/statement_form.html", {
        "current": current,
        "interests": C.INTERESTS,
        "selected": set(current.interests) if current else set(),
        "links_text": "\n".join(current.links) if current else "",
        "limits": {"name": C.DISPLAY_NAME_MAX_CHARS, "statement": C.STATEMENT_MAX_CHARS, "links": C.LINKS_MAX},
        "encoding_example": encode_list(["defi", "governance"]),
    })


@require_safe
def my_delegation(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return render(request, "delegation/my_delegation.html", {"mine": None, **_chain_context()})
    mine = selectors.my_delegation(request.user.address)
    return render(request, "delegation/my_delegation.html", {
        "mine": mine,
        "chart": charts.power_chart(mine.power_history, mine.head_block, title="Your voting power over time"),
        "indexer_head": indexer.head_block(),
        "directory_url": reverse("delegation:directory"),
        **_chain_context(),
    })
