"""CSRF: every POST form carries the token, and no session-authenticated write goes through without it.

* The pages the authorization matrix covers are crawled as each role that sees their forms: every
  <form method="post"> holds a non-empty csrfmiddlewaretoken input, and every page gives wallet.js its
  token (<meta name="csrf-token">). Posting a crawled form with its token is accepted (so the token is real).
* With Django's CSRF checks enforced (Client(enforce_csrf_checks=True)), each web write and each
  session-authenticated API write (and sign-in, which is CSRF-protected even when signed out) is refused
  with 403 — the API with the error shape — without the token and changes nothing; the same request with
  the token is accepted, so the 403 really is the CSRF check.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import resolve, reverse

from .actions import ACTIONS, Action, Request
from .conftest import World, portal_state

pytestmark = pytest.mark.django_db


class FormParser(HTMLParser):
    """The forms of a page: method, action, and their inputs (name -> value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict[str, Any]] = []
        self.meta_csrf: str | None = None
        self._current: dict[str, Any] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = {"method": values.get("method", "get").lower(), "action": values.get("action", ""),
                             "id": values.get("id", ""), "inputs": []}
            self.forms.append(self._current)
        elif tag in ("input", "textarea", "select", "button") and self._current is not None:
            self._current["inputs"].append((values.get("type", ""), values.get("name", ""), values.get("value", "")))
        elif tag == "meta" and values.get("name") == "csrf-token":
            self.meta_csrf = values.get("content", "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def parse(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    return parser


def _pages(world: World) -> list[tuple[str, str]]:
    """(role, path) of every page that shows a write form or a wallet action, as a role that sees it."""
    n = world.number
    pages = [
        ("holder", reverse("proposals:create")),
        ("author", reverse("proposals:edit", args=[n("draft")])),
        ("author", reverse("proposals:detail", args=[n("draft")])),  # open discussion / withdraw buttons
        ("staff", reverse("proposals:detail", args=[n("discussion")])),  # start endorsement
        ("holder", reverse("proposals:detail", args=[n("endorsement")])),
        ("core_dev", reverse("proposals:detail", args=[n("review")])),
        ("holder", reverse("proposals:detail", args=[n("voting")])),
        ("council", reverse("proposals:detail", args=[n("queued")])),
        ("staff", reverse("archive:document_new")),
        ("staff", reverse("archive:document_list")),
        ("holder", reverse("voting:page", args=[n("voting")])),
        ("council", reverse("execution:proposal", args=[n("queued")])),
        ("staff", reverse("execution:status")),
        ("holder", reverse("delegation:statement")),
        ("holder", reverse("delegation:mine")),
        ("holder", reverse("delegation:directory")),
        ("holder", reverse("delegation:detail", args=[world.address("holder")])),
        ("anonymous", reverse("home")),
        ("anonymous", reverse("proposals:list")),
        ("anonymous", reverse("archive:timeline")),
        # The DRF browsable API (an HTML page for browsers) has its own POST forms.
        ("holder", reverse("proposals-api:list")),
        ("author", reverse("proposals-api:detail", args=[n("draft")])),
        ("author", reverse("proposals-api:transition", args=[n("draft")])),
        ("staff", reverse("archive-api:documents")),
        ("holder", reverse("delegation-api:statement-list")),
    ]
    return pages


def test_every_post_form_carries_the_csrf_token(world: World) -> None:
    post_forms = 0
    form_routes = set()
    for role, path in _pages(world):
        response = world.client(role).get(path, HTTP_ACCEPT="text/html")
        assert response.status_code in (200, 405), (role, path, response.status_code)  # 405: a POST-only API view
        page = parse(response.content.decode())
        if not path.startswith("/api/"):
            assert page.meta_csrf, f"{path} gives wallet.js no CSRF token (<meta name=csrf-token>)"
        for form in page.forms:
            if form["method"] != "post":
                continue
            post_forms += 1
            form_routes.add(resolve(urlsplit(form["action"] or path).path).view_name)
            tokens = [value for kind, name, value in form["inputs"] if name == "csrfmiddlewaretoken"]
            if not tokens and path.startswith("/api/") and ("", "_content", "") in form["inputs"]:
                # DRF's browsable API: its "raw data" form is sent by its ajax-form.js with the X-CSRFToken
                # header, read from the page's drf_csrf JSON (and refused without it, see below).
                assert re.search(r'"csrfToken": "[^"]{32,}"', response.content.decode()), path
                continue
            assert len(tokens) == 1 and tokens[0], f"a POST form on {path} (as {role}) has no CSRF token: {form}"
    # create, edit, open discussion, withdraw, start endorsement, publish a document: at least these
    assert post_forms >= 10, post_forms
    web_writes = {a.route for a in ACTIONS if a.web}
    assert web_writes <= form_routes, f"web write routes whose form the crawl did not find: {web_writes - form_routes}"


def test_a_crawled_form_posts_with_its_token(world: World) -> None:
    """The token in the form is the one the CSRF check accepts (the crawl above is not looking at a dummy)."""
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users["author"])
    page = parse(client.get(reverse("proposals:detail", args=[world.number("draft")])).content.decode())
    form = next(f for f in page.forms
                if f["method"] == "post" and ("hidden", "to", "discussion") in f["inputs"])
    data = {name: value for kind, name, value in form["inputs"] if name}
    response = client.post(form["action"], data)
    assert response.status_code == 302, response.content.decode()[:500]


# --------------------------------------------------------------------------- writes without the token

def _allowed_role(action: Action) -> str | None:
    return next((r for r in ("author", "staff", "holder", "core_dev", "council")
                 if action.expect[r].allowed), None)


CSRF_CASES = [a for a in ACTIONS if a.authority == "session" and _allowed_role(a) is not None]
#: Sign-in / sign-out: CSRF-checked for everyone (login CSRF), signed in or not.
ACCOUNT_CASES = [a for a in ACTIONS if a.route.startswith("accounts:")]


def _send(client: Client, req: Request, token: str | None) -> Any:
    headers = {"HTTP_X_CSRFTOKEN": token} if token and req.format == "json" else {}
    call = getattr(client, req.method.lower())
    if req.format == "form":
        data = dict(req.body or {})
        if token:
            data["csrfmiddlewaretoken"] = token
        return call(req.path, data)
    return call(req.path, json.dumps(req.body if req.body is not None else {}), content_type="application/json",
                **headers)


def _csrf_client(world: World, role: str) -> tuple[Client, str]:
    client = Client(enforce_csrf_checks=True)
    user = world.users.get(role)
    if user is not None:
        client.force_login(user)
    client.get(reverse("accounts:me"))  # sets the csrftoken cookie
    return client, client.cookies["csrftoken"].value


@pytest.mark.parametrize("action", CSRF_CASES + ACCOUNT_CASES, ids=lambda a: a.name)
def test_a_write_without_the_csrf_token_is_refused(world: World, action: Action) -> None:
    role = "anonymous" if action.route.startswith("accounts:") else _allowed_role(action)
    assert role is not None
    client, token = _csrf_client(world, role)
    request = action.request(world, role)
    before = portal_state()
    response = _send(client, request, None)
    assert response.status_code == 403, f"{action.name} without a CSRF token: {response.status_code}"
    if not action.web:
        body = response.json()
        assert set(body) == {"error"} and body["error"]["code"] in ("csrf_failed", "permission_denied"), body
        assert "CSRF" in body["error"]["message"], body
    assert portal_state() == before, f"{action.name} without a CSRF token changed the database"
    # The same request with the token goes through: the refusal above was the CSRF check.
    response = _send(client, action.request(world, role), token)
    assert response.status_code == action.expect[role].status, response.content.decode()[:500]


@pytest.mark.parametrize("action", [a for a in ACTIONS if a.authority == "signature"
                                    and not a.route.startswith("accounts:")], ids=lambda a: a.name)
def test_a_signed_write_never_rides_on_a_session_without_the_token(world: World, action: Action) -> None:
    """Signed writes need no session. Sent WITH a session cookie, they are either CSRF-checked (DRF session
    views: 403 without the token) or ignore the session altogether (no authentication classes): in both cases
    a hostile page gains nothing from the visitor's session."""
    allowed = _allowed_role(action) or "holder"
    client, _ = _csrf_client(world, "staff")
    response = _send(client, action.request(world, allowed), None)
    from django.urls import resolve

    view = resolve(action.request(world, allowed).path).func
    if getattr(view, "cls", None) is not None and view.cls.authentication_classes == []:
        assert response.status_code == action.expect[allowed].status, response.content.decode()[:300]
    else:
        assert response.status_code == 403, response.content.decode()[:300]
        assert "CSRF" in response.json()["error"]["message"]
