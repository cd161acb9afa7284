"""Template filters of the delegation pages: {% load delegation_tags %}."""

from __future__ import annotations

from typing import Any

from django import template

from delegation import formatting
from delegation.constants import INTEREST_LABELS

register = template.Library()


@register.filter
def tokens(value: Any, places: int = 2) -> str:
    return formatting.format_tokens(value, int(places))


@register.filter
def share_of(value: Any, total: Any) -> str:
    return formatting.format_share(value, total)


@register.filter
def short_address(value: str) -> str:
    return formatting.short_address(value)


@register.filter
def interest_label(slug: str) -> str:
    return INTEREST_LABELS.get(slug, slug)


@register.filter
def bps_percent(value: Any) -> str:
    if value is None:
        return "–"
    return f"{int(value) / 100:.1f} %"
