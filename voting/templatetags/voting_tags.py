"""The vote panel and results for any page: ``{% load voting_tags %}{% voting_panel proposal %}``."""

from __future__ import annotations

from typing import Any

from django import template

from voting import presentation

register = template.Library()


@register.inclusion_tag("voting/_section.html", takes_context=True)
def voting_panel(context: template.Context, proposal: Any) -> dict[str, Any]:
    """The vote panel (connect, power, choose, reason, sign) and the server-rendered results of `proposal`."""
    request = context.get("request")
    return presentation.section_context(proposal, request)


@register.inclusion_tag("voting/_results.html")
def voting_results(proposal: Any) -> dict[str, Any]:
    """Only the results (bars, quorum, votes list)."""
    return presentation.results_context(proposal)


@register.filter
def vote_tokens(base_units: Any) -> str:
    """Token base units (18 decimals) as whole tokens with thousands separators: 1,234.5."""
    return presentation.format_tokens(base_units)


@register.filter
def bps_percent(bps: Any) -> str:
    """Basis points as a percentage: 1234 -> 12.34 %."""
    return presentation.format_bps(bps)
