"""Authorization matrix: every write action of the portal × every role → the expected outcome.

The matrix is data (tests/security/actions.py). For each cell the request is made for real (PostgreSQL,
the anvil chain and its index, real EIP-712 / EIP-4361 signatures by the role's key):

* allowed → the expected 2xx/3xx and the action's state change;
* refused → the expected 4xx, the error shape {"error": {"code", "message"}} with the expected code (web
  forms: the code on the page), and NOTHING changed in the database.

The route checks walk the URL resolver (and drf-spectacular's endpoint enumerator): a write route that the
matrix does not list fails, so a new action cannot ship without its row.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import RequestFactory
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from drf_spectacular.generators import EndpointEnumerator

from .actions import ACTIONS, READ_PAGES, SIGNED_BODIES, Action, Request, send
from .conftest import ROLES, World, portal_state

pytestmark = pytest.mark.django_db

WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")
CELLS = [(action, role) for action in ACTIONS for role in ROLES]


def _error_shape(body: Any) -> dict[str, Any]:
    assert isinstance(body, dict) and set(body) == {"error"}, body
    error = body["error"]
    assert isinstance(error.get("code"), str) and error["code"], error
    assert isinstance(error.get("message"), str) and error["message"], error
    return error


def _check_reply(action: Action, role: str, response: Any) -> None:
    outcome = action.expect[role]
    content = response.content.decode(errors="replace")
    assert response.status_code == outcome.status, (
        f"{action.name} as {role}: {response.status_code}, expected {outcome.status}: {content[:600]}")
    if action.web:
        if outcome.code:
            assert outcome.code in content, f"{action.name} as {role}: the page does not say {outcome.code}"
        return
    if response.status_code == 204:
        return
    body = response.json()
    if outcome.allowed:
        assert action.error_of(body) is None, body
        return
    error = action.error_of(body) if action.error_of(body) is not None else None
    if response.status_code >= 400:
        error = _error_shape(body)
    assert error is not None and error["code"] == outcome.code, f"{action.name} as {role}: {body}"


@pytest.mark.parametrize(("action", "role"), CELLS, ids=[f"{a.name} | {r}" for a, r in CELLS])
def test_matrix_cell(world: World, action: Action, role: str) -> None:
    # A signed action is made without a session: the signature is the authority, the role is the signer.
    client = world.client("anonymous" if action.authority == "signature" else role)
    request = action.request(world, role)
    before = portal_state()
    response = send(client, request)
    _check_reply(action, role, response)
    after = portal_state()
    if action.expect[role].allowed:
        action.effect(before, after, world, client)
    else:
        assert after == before, f"{action.name} as {role} was refused but changed the database"


def test_matrix_is_complete() -> None:
    """Every action has an outcome for every role, and the matrix names each action once."""
    names = [a.name for a in ACTIONS]
    assert len(names) == len(set(names))
    for action in ACTIONS:
        assert set(action.expect) == set(ROLES), action.name
        assert action.authority in ("session", "signature", "open"), action.name
        if action.authority == "session":  # someone is refused every session write but sign-in's own
            assert not all(o.allowed for o in action.expect.values()), f"{action.name} is allowed to everyone"


# --------------------------------------------------------------------------- signatures


FORGERIES = [(name, signer) for name in sorted(SIGNED_BODIES) for signer in ROLES if signer != SIGNED_BODIES[name][1]]


@pytest.mark.parametrize(("name", "signer"), FORGERIES)
def test_signature_by_another_key_is_refused(world: World, name: str, signer: str) -> None:
    """A message naming the allowed role but signed by any other role's key is refused; nothing changes."""
    body_of, allowed, path_of, code = SIGNED_BODIES[name]
    body = body_of(world, allowed, signer)
    before = portal_state()
    response = world.client("anonymous").post(path_of(world), body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert _error_shape(response.json())["code"] == code
    assert portal_state() == before


@pytest.mark.parametrize(("name", "session_role", "signer"), [
    ("review", "core_dev", "holder"), ("veto", "council", "holder"), ("endorse", "holder", "staff"),
    ("vote", "holder", "staff"),
])
def test_a_session_does_not_stand_in_for_the_signature(world: World, name: str, session_role: str,
                                                       signer: str) -> None:
    """Signed in as the rightful role, a message signed (and named) by another role is still refused."""
    body_of, allowed, path_of, _ = SIGNED_BODIES[name]
    assert session_role == allowed
    body = body_of(world, signer)
    client = world.client(session_role)
    before = portal_state()
    response = send(client, Request("POST", path_of(world), body))
    assert response.status_code == 403, response.content
    assert portal_state() == before


# --------------------------------------------------------------------------- routes


def _patterns(patterns: list[Any], namespace: str = "") -> Iterator[tuple[str, URLPattern]]:
    for entry in patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":  # Django's admin: out of scope (staff-only, its own CSRF)
                continue
            prefix = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            yield from _patterns(entry.url_patterns, prefix)
        else:
            yield f"{namespace}{entry.name}", entry


def _sample_kwargs(world: World, pattern: URLPattern) -> dict[str, Any]:
    samples = {"number": world.number("draft"), "address": world.address("holder"), "relay_id": uuid.uuid4(),
               "vote_id": "0x" + "00" * 32, "sequence": 1, "pk": 1}
    return {name: samples[name] for name in pattern.pattern.regex.groupindex}


def _write_methods(world: World, name: str, pattern: URLPattern) -> set[str]:
    """The write methods a route's view answers (DRF: its handlers; plain views: probed, 405 = refused)."""
    view_class = getattr(pattern.callback, "cls", None)
    if view_class is not None:  # DRF APIView (and drf-spectacular's own views)
        return {m for m in WRITE_METHODS if hasattr(view_class, m.lower())}
    path = reverse(name, kwargs=_sample_kwargs(world, pattern))
    from django.contrib.auth.models import AnonymousUser
    from django.contrib.messages.storage.fallback import FallbackStorage
    from django.contrib.sessions.backends.db import SessionStore
    from django.http import Http404

    answered = set()
    for method in WRITE_METHODS:
        request = RequestFactory().generic(method, path)
        request.user = AnonymousUser()
        request.session = SessionStore()
        request._messages = FallbackStorage(request)
        try:
            response = pattern.callback(request, **_sample_kwargs(world, pattern))
        except Http404:
            answered.add(method)
            continue
        if response.status_code != 405:
            answered.add(method)
    return answered


def _write_routes(world: World) -> dict[tuple[str, str], str]:
    routes = {}
    for name, pattern in _patterns(get_resolver().url_patterns):
        for method in _write_methods(world, name, pattern):
            routes[(name, method)] = str(pattern.pattern)
    return routes


def test_every_write_route_is_in_the_matrix(world: World) -> None:
    routes = _write_routes(world)
    listed = {(a.route, a.method) for a in ACTIONS}
    missing = sorted(set(routes) - listed)
    assert not missing, f"write routes missing from the authorization matrix (tests/security/actions.py): {missing}"
    stale = sorted(listed - set(routes))
    assert not stale, f"the matrix lists routes that do not exist or do not accept the method: {stale}"
    pages = dict(_patterns(get_resolver().url_patterns))
    assert set(READ_PAGES) <= set(pages), sorted(set(READ_PAGES) - set(pages))


def test_every_api_write_endpoint_of_the_schema_is_in_the_matrix() -> None:
    """drf-spectacular's view of the API agrees: each write operation it documents has a matrix row."""
    listed = {(a.route, a.method) for a in ACTIONS}
    endpoints = EndpointEnumerator().get_api_endpoints()
    documented = set()
    for path, _regex, method, _callback in endpoints:
        if method not in WRITE_METHODS:
            continue
        match = get_resolver().resolve(_fill(path))
        name = f"{':'.join(match.namespaces)}:{match.url_name}" if match.namespaces else match.url_name
        documented.add((name, method))
    assert documented, "the enumerator found no write endpoint at all"
    assert documented <= listed, f"API write endpoints missing from the matrix: {sorted(documented - listed)}"


def _fill(path: str) -> str:
    values = {"{number}": "1", "{address}": "0x" + "11" * 20, "{relay_id}": str(uuid.uuid4()),
              "{vote_id}": "0x" + "00" * 32, "{sequence}": "1", "{pk}": "1"}
    for key, value in values.items():
        path = path.replace(key, value)
    return path


@pytest.mark.parametrize("name", sorted(READ_PAGES))
def test_a_read_page_refuses_writes_and_changes_nothing(world: World, name: str) -> None:
    pattern = dict(_patterns(get_resolver().url_patterns))[name]
    path = reverse(name, kwargs=_sample_kwargs(world, pattern))
    for role in ("anonymous", "staff"):
        before = portal_state()
        response = world.client(role).post(path, {"to": "withdrawn", "title": "x"})
        assert response.status_code == 405 and "GET" in response["Allow"], (path, role, response.status_code)
        assert portal_state() == before, f"POST {path} as {role} changed the database"


def test_no_read_changes_anything(world: World) -> None:
    """A GET is never a write (a link or an <img> on a hostile page can make the visitor's browser send one):
    every route of the resolver, fetched as each role, leaves the database as it was."""
    routes = list(_patterns(get_resolver().url_patterns))
    assert len(routes) > 40, len(routes)
    for role in ROLES:
        client = world.client(role)
        before = portal_state()
        for name, pattern in routes:
            if name == "api-docs":  # the Redoc shell: static
                continue
            path = reverse(name, kwargs=_sample_kwargs(world, pattern))
            response = client.get(path)
            assert response.status_code < 500, (role, path, response.status_code)
            if response.streaming:
                b"".join(response.streaming_content)
        assert portal_state() == before, f"a GET as {role} changed the database"


def test_every_route_that_answers_get_answers_head_alike(world: World) -> None:
    """HEAD is GET without the body (RFC 9110 §9.3.2): link checkers, monitors and caches send it. Each route of
    the resolver answers a HEAD with the status it gives the GET, and no body."""
    checked = 0
    for role in ("anonymous", "staff"):
        client = world.client(role)
        for name, pattern in _patterns(get_resolver().url_patterns):
            path = reverse(name, kwargs=_sample_kwargs(world, pattern))
            got = client.get(path)
            if got.streaming:
                b"".join(got.streaming_content)
            if got.status_code == 405:  # write-only routes
                continue
            head = client.head(path)
            body = b"".join(head.streaming_content) if head.streaming else head.content
            assert (head.status_code, body) == (got.status_code, b""), (role, path, head.status_code, got.status_code)
            checked += 1
    assert checked > 60, checked
