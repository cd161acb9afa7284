"""Domain errors: a machine-readable code, a human sentence and the HTTP status to answer with.

Services raise these; the API exception handler and the web views turn them into a 4xx reply.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused request. Subclasses (or instances) set code, message and status."""

    code: str = "invalid_request"
    status: int = 400

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None,
                 details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        self.details = details

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details is not None:
            body["details"] = self.details
        return {"error": body}


class PermissionDeniedError(DomainError):
    code = "permission_denied"
    status = 403


class NotFoundError(DomainError):
    code = "not_found"
    status = 404


class ConflictError(DomainError):
    code = "conflict"
    status = 409
