from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject


def portal(request: HttpRequest) -> dict[str, Any]:
    return {
        "PORTAL_NAME": settings.PORTAL_NAME,
        "CHAIN_ID": settings.CHAIN_ID,
        "INDEXER": SimpleLazyObject(_indexer),  # footer: head_block, lag (one query, only when rendered)
    }


def _indexer() -> dict[str, Any] | None:
    from chain.selectors import indexer_status

    status = indexer_status()
    return status if status["head_block"] is not None else None
