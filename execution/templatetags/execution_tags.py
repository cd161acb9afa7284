"""The execution panel for any page: ``{% load execution_tags %}{% execution_panel proposal %}``."""

from __future__ import annotations

from typing import Any

from django import template

from execution import presentation

register = template.Library()


@register.inclusion_tag("execution/_panel.html", takes_context=True)
def execution_panel(context: template.Context, proposal: Any) -> dict[str, Any]:
    """Queued / ETA countdown / council vetoes (with the sign button for members) / transactions / read-back."""
    return presentation.panel_context(proposal, context.get("request"))


@register.filter
def short_hash(value: Any) -> str:
    text = str(value or "")
    return f"{text[:10]}…{text[-6:]}" if len(text) > 20 else text
