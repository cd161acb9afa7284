"""The WSGI application of bench/votes' server-floor step: gunicorn alone, no Django. A POST's body is read
whole and answered 201 with a constant JSON receipt the size of a real one; anything else gets 200 (the
start-up probe). What the same clients measure against it is what the HTTP server itself costs per request."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

RECEIPT = (b'{"id":"0x' + b"0" * 64 + b'","proposal":1,"voter":"0x' + b"0" * 40 + b'","support":1,'
           b'"support_label":"For","power":"1000000000000000000000","weight":"1000000000000000000000",'
           b'"overridden":"0","override_balance":"0","delegate":null,"snapshot_block":1,"timestamp":1,'
           b'"format":"portal","contract_wallet":false,"replaced":null,"archive_sequence":1,'
           b'"created_at":"2026-01-01T00:00:00+00:00"}')


def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    if environ["REQUEST_METHOD"] != "POST":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
        return [b"ok"]
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(RECEIPT)))])
    return [RECEIPT]
