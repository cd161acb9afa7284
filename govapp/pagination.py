"""The API's limit/offset pagination (settings REST_FRAMEWORK["DEFAULT_PAGINATION_CLASS"]).

Its own module: the pagination class is imported while rest_framework.generics is being imported.
"""

from __future__ import annotations

from typing import Any

from rest_framework import pagination


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """limit/offset pages with bounds: ?limit= at most 500, ?offset= past any table (≥ 2**62) is an empty page.

    DRF's own leaves both unbounded: a limit or offset past PostgreSQL's bigint made the query fail (a 500).
    """

    max_limit = 500
    max_offset = 2**62

    def get_offset(self, request: Any) -> int:
        return min(super().get_offset(request), self.max_offset)
