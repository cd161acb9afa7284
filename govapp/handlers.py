"""The WSGI handler gunicorn runs: Django's, with a lean route for single signed votes (voting.fastpath)."""

from __future__ import annotations

from django.core.handlers.wsgi import WSGIHandler
from django.http import HttpRequest, HttpResponse

from voting import fastpath


class GovappWSGIHandler(WSGIHandler):
    """Every request passes the whole middleware chain as usual. At its centre, a POST that voting.fastpath
    answers skips URL resolution, view middleware and DRF; any other request is resolved as always."""

    def _get_response(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            response = fastpath.respond(request)
            if response is not None:
                return response
        return super()._get_response(request)
