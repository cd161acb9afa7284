"""The lean route for single votes (voting.fastpath through govapp.handlers.GovappWSGIHandler, the WSGI
application gunicorn runs), and the process-wide cache of open proposals that single votes use.

Every request is sent through `govapp.wsgi.application` twice, once with VOTE_FAST_PATH on and once off (the
URL resolver and the DRF view), each time from the same database state (a savepoint rolled back in between):
status, headers and body must be the same. And, so that the comparison is not empty, `fastpath.respond` must
have answered exactly the requests it is meant to take.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import request_finished, request_started
from django.db import OperationalError, close_old_connections, connection, transaction
from django.test import RequestFactory
from rest_framework.renderers import JSONRenderer

from govapp.wsgi import application
from voting import api, fastpath, services
from voting.models import Vote

from .conftest import NO_TOKENS, nothing_stored, sign, vote_typed
from .test_snapshot import snapshot_envelope

CAST = "/api/votes/"
SNAPSHOT = "/api/votes/snapshot"
JSON = "application/json"

Environ = Callable[[], dict[str, Any]]


def _environ(path: str, body: bytes | str, content_type: str = JSON, **headers: str) -> Environ:
    """A fresh WSGI environ each call (the body stream is read once)."""
    data = body.encode() if isinstance(body, str) else body
    return lambda: RequestFactory().generic("POST", path, data, content_type=content_type, **headers).environ


def _call(environ: dict[str, Any]) -> tuple[str, dict[str, str], bytes]:
    """One request through the production WSGI application. As Django's test client does, the signals that
    close a connection at the ends of a request are held back: the test's transaction lives on that connection."""
    reply: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        reply.update(status=status, headers=dict(headers))

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        result = application(environ, start_response)
        try:
            body = b"".join(result)
        finally:
            result.close()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return reply["status"], reply["headers"], body


def _comparable(reply: tuple[str, dict[str, str], bytes]) -> tuple[str, dict[str, str], Any]:
    status, headers, body = reply
    headers = {k: v for k, v in headers.items() if k != "Retry-After"}  # seconds left in the window: may tick
    try:
        parsed = json.loads(body)
    except ValueError:  # the browsable API's page (DEBUG): a fresh CSRF token in each; both came from DRF
        return status, {k: v for k, v in headers.items() if k not in ("Content-Length", "Set-Cookie")}, "page"
    if isinstance(parsed, dict):
        for receipt in (parsed, parsed.get("receipt")):
            if isinstance(receipt, dict):
                receipt.pop("created_at", None)  # the server's clock at each of the two calls
    return status, headers, parsed


def _both_ways(settings, environ: Environ) -> tuple[tuple, tuple, bool]:
    """(fast reply, usual reply, whether fastpath.respond took the request), each from the same state."""
    replies = []
    for fast in (True, False):
        settings.VOTE_FAST_PATH = fast
        savepoint = transaction.savepoint()
        replies.append(_call(environ()))
        transaction.savepoint_rollback(savepoint)
    settings.VOTE_FAST_PATH = True
    savepoint = transaction.savepoint()
    taken = fastpath.respond(WSGIRequest(environ())) is not None
    transaction.savepoint_rollback(savepoint)
    return replies[0], replies[1], taken


def _cases(world) -> dict[str, tuple[Environ, bool, str]]:
    """name -> (request, taken by the fast path, the expected status line's code)."""
    proposal = world.proposals[0]
    typed, signature = world.vote(3, proposal, support=0, reason="Lean & mean")
    good = json.dumps({"typed_data": typed, "signature": signature})
    unknown = vote_typed(999, world.address(3))
    zero = vote_typed(proposal.number, world.address(NO_TOKENS))
    envelope = snapshot_envelope(world, 4, proposal, choice=2)
    browsable = any("Browsable" in cls.__name__ for cls in api.CastVoteView.renderer_classes)
    return {
        "accepted": (_environ(CAST, good), True, "201"),
        "accepted, Accept */*": (_environ(CAST, good, HTTP_ACCEPT="*/*"), True, "201"),
        "accepted, charset utf-8": (_environ(CAST, good, content_type=JSON + "; charset=UTF-8"), True, "201"),
        "empty object": (_environ(CAST, "{}"), True, "400"),
        "garbage signature": (_environ(CAST, json.dumps({"typed_data": typed, "signature": "0x00"})), True, "400"),
        "unknown proposal": (_environ(CAST, json.dumps({"typed_data": unknown, "signature": sign(world.key(3),
                                                                                              unknown)})),
                             True, "404"),
        "zero voting power": (_environ(CAST, json.dumps({"typed_data": zero, "signature": sign(world.key(NO_TOKENS),
                                                                                             zero)})), True, "403"),
        "snapshot accepted": (_environ(SNAPSHOT, json.dumps(envelope)), True, "200"),
        "snapshot, wrong space": (_environ(SNAPSHOT, json.dumps(snapshot_envelope(world, 4, proposal,
                                                                                  space="other.eth"))), True, "400"),
        # left to DRF, which answers as before
        "a list": (_environ(CAST, "[]"), False, "400"),
        "malformed JSON": (_environ(CAST, good[:-1]), False, "400"),
        "NaN": (_environ(CAST, '{"typed_data": NaN}'), False, "400"),
        "not UTF-8": (_environ(CAST, good.encode("utf-16")), False, "400"),
        "empty body": (_environ(CAST, ""), False, "400"),
        "another charset": (_environ(CAST, good, content_type=JSON + "; charset=latin-1"), False, "201"),
        "form encoded": (_environ(CAST, "a=1", content_type="application/x-www-form-urlencoded"), False, "415"),
        "Accept with indent": (_environ(CAST, good, HTTP_ACCEPT=JSON + "; indent=4"), False, "201"),
        "Accept empty": (_environ(CAST, good, HTTP_ACCEPT=""), False, "406"),
        "Accept in capitals": (_environ(CAST, good, HTTP_ACCEPT="Application/JSON"), False, "201"),
        "Content-Type in capitals": (_environ(CAST, good, content_type="Application/JSON"), False, "201"),
        "Accept text/html only": (_environ(CAST, good, HTTP_ACCEPT="text/html"), False,
                                  "201" if browsable else "406"),  # the browsable API, where it is on
        "another route": (_environ(f"/api/votes/proposals/{proposal.number}/", good), False, "201"),
    }


@pytest.fixture(params=["as configured", "JSON only"])
def renderers(request, monkeypatch) -> str:
    """The views' renderers as this settings module has them (the browsable API too, with DEBUG) and as in
    production (JSON only: DRF then sends no Vary: Accept)."""
    if request.param == "JSON only":
        for view_class, _ in fastpath.ROUTES.values():
            monkeypatch.setattr(view_class, "renderer_classes", [JSONRenderer])
    return request.param


@pytest.mark.django_db
def test_the_fast_path_answers_every_request_as_the_drf_view_does(world, settings, renderers):
    for name, (environ, fast, code) in _cases(world).items():
        with nothing_stored():
            fast_reply, usual_reply, taken = _both_ways(settings, environ)
        assert taken is fast, name
        assert fast_reply[0].split()[0] == code, (name, fast_reply)
        assert _comparable(fast_reply) == _comparable(usual_reply), name
        assert "Content-Security-Policy" in fast_reply[1] and fast_reply[1]["X-Frame-Options"] == "DENY", name
    # and outside a rolled-back savepoint the vote is stored, once
    status, _, body = _call(_cases(world)["accepted"][0]())
    assert status.startswith("201")
    assert Vote.objects.get(id=json.loads(body)["id"]).reason == "Lean & mean"


@pytest.mark.django_db
def test_the_fast_path_keeps_the_write_rate_limit_and_the_host_check(world, settings):
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMITS = {"ip": "0/minute", "address": "0/minute"}  # every write refused
    environ, _, _ = _cases(world)["accepted"]
    with nothing_stored():
        fast_reply, usual_reply, taken = _both_ways(settings, environ)
    assert taken and fast_reply[0].startswith("429") and int(fast_reply[1]["Retry-After"]) > 0
    assert json.loads(fast_reply[2])["error"]["code"] == "rate_limited"
    assert _comparable(fast_reply) == _comparable(usual_reply)

    settings.RATE_LIMITS = {"ip": "", "address": ""}
    with nothing_stored():  # a Host outside ALLOWED_HOSTS is refused by the middleware around either route
        fast_reply, usual_reply, _ = _both_ways(settings, _environ(CAST, "{}", HTTP_HOST="evil.example"))
    assert fast_reply[0].startswith("400") and _comparable(fast_reply) == _comparable(usual_reply)


@pytest.mark.django_db
def test_a_body_over_the_upload_limit_is_left_to_drf(world, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 64
    environ, _, _ = _cases(world)["accepted"]
    with nothing_stored():
        fast_reply, usual_reply, taken = _both_ways(settings, environ)
    assert not taken and _comparable(fast_reply) == _comparable(usual_reply)


def test_only_the_single_vote_routes_are_served_and_their_views_need_no_authentication():
    assert set(fastpath._routes_by_path()) == {CAST, SNAPSHOT}
    for view_class, _ in fastpath.ROUTES.values():
        assert not view_class.authentication_classes and not view_class.permission_classes


# --------------------------------------------------------------------------- the shared cache of open proposals
def _cast(world, index: int, proposal) -> Any:
    typed, signature = world.vote(index, proposal)
    try:
        return services.cast_vote(typed, signature)
    except services.DomainError as exc:
        return exc.code


@pytest.mark.django_db(transaction=True)
def test_a_cached_proposal_that_changed_is_checked_again_before_a_vote_is_stored(chain_settings, settings):
    from .conftest import build_world

    world = build_world(chain_settings)
    first, second = world.proposals
    settings.VOTE_GROUP_COMMIT_MAX = 64  # the grouped path, where the cache is used
    services._open_proposals.clear()
    assert _cast(world, 3, first).vote.weight > 0
    assert services._open_proposals[first.number].pk == first.pk  # kept for the next requests

    # the row changes behind the cache (no lifecycle step does this while the vote is open: an admin's edit)
    type(first).objects.filter(pk=first.pk).update(voting_ends_at=first.voting_starts_at)
    assert _cast(world, 4, first) == "voting_ended"
    assert not Vote.objects.filter(proposal=first, voter=world.address(4)).exists()
    assert first.number not in services._open_proposals or (
        services._open_proposals[first.number].voting_ends_at == first.voting_starts_at)

    type(second).objects.filter(pk=second.pk).update(status="passed")
    services._open_proposals[second.number] = second  # a copy from before the change
    assert _cast(world, 4, second) == "voting_not_open"
    assert second.number not in services._open_proposals


@pytest.mark.django_db(transaction=True)
def test_a_lost_database_connection_fails_one_vote_and_the_next_one_reconnects(chain_settings, settings):
    from .conftest import build_world

    world = build_world(chain_settings)
    proposal = world.proposals[0]
    settings.VOTE_GROUP_COMMIT_MAX = 64
    assert _cast(world, 3, proposal).vote.weight > 0
    pid = connection.connection.info.backend_pid
    with psycopg.connect(connection.connection.info.dsn, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])
        for _ in range(100):  # the backend goes away asynchronously
            if not other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone():
                break
            time.sleep(0.02)
    with pytest.raises((psycopg.OperationalError, OperationalError)):
        _cast(world, 4, proposal)
    assert _cast(world, 4, proposal).vote.weight > 0  # the same thread, a new connection
    assert connection.connection.info.backend_pid != pid
