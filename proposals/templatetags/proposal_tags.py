"""Template filters of the proposal pages."""

from __future__ import annotations

from django import template

from proposals.parameters import format_tokens

register = template.Library()


@register.filter
def tokens(base_units: object) -> str:
    """A token amount in base units (int or decimal string) as whole tokens: 1,234.5."""
    try:
        return format_tokens(int(str(base_units)))
    except (TypeError, ValueError):
        return ""


@register.filter
def short_address(address: object) -> str:
    text = str(address or "")
    return f"{text[:6]}…{text[-4:]}" if len(text) == 42 else text
