"""Signed delegate statements: publish, versions, archive, and every refusal (real chain, real signatures)."""

from __future__ import annotations

import time

import pytest
from django.urls import reverse

from archive.models import ArchiveEntry
from archive.verify import signed_problem
from chain.signing import typed_data_for
from delegation import constants as C
from delegation.content import encode_list
from delegation.models import Delegate, DelegateStatement, ImmutableRowError
from delegation.testing import DELEGATE, OTHER, publish, sign_typed

pytestmark = pytest.mark.django_db

TEMPLATE = reverse("delegation-api:statement-template")
PUBLISH = reverse("delegation-api:statement-list")


def content(**overrides):
    body = {"display_name": "Ada", "statement": "I review **Cairo** upgrades. [site](https://ada.example)",
            "interests": ["cairo_dev", "security"], "links": ["https://ada.example", "http://forum.example/u/ada"]}
    body.update(overrides)
    return body


def template(api, address, **overrides):
    response = api.post(TEMPLATE, {"delegate": address, **content(**overrides)})
    assert response.status_code == 200, response.content
    return response.json()["typed_data"]


def raw_typed(address, *, timestamp=None, **fields):
    """Typed data built by a client itself (bypassing the template's checks)."""
    message = {"delegate": address, "displayName": "Ada", "statement": "Hello", "interests": "[]", "links": "[]",
               "timestamp": int(time.time()) if timestamp is None else timestamp}
    message.update(fields)
    return typed_data_for("DelegateStatement", message)


def test_publish_keeps_every_version_and_archives_the_signed_typed_data(api, onchain):
    ctx = onchain.ctx
    address, key = ctx.address(DELEGATE), ctx.key(DELEGATE)
    typed = template(api, address.lower())
    assert typed["message"]["interests"] == '["cairo_dev","security"]'
    assert typed["message"]["links"] == '["https://ada.example","http://forum.example/u/ada"]'
    assert typed["message"]["delegate"] == address
    signature = sign_typed(key, typed)

    response = api.post(PUBLISH, {"typed_data": typed, "signature": signature})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["version"] == 1 and body["delegate"] == address
    assert body["page_url"] == reverse("delegation:detail", args=[address])
    first = DelegateStatement.objects.get(delegate=address)
    assert first.typed_data == typed and first.signature == signature.lower()
    assert first.interests == ["cairo_dev", "security"]
    assert "<strong>Cairo</strong>" in first.statement_html
    assert 'href="https://ada.example"' in first.statement_html

    entry = ArchiveEntry.objects.get(sequence=first.archive_sequence)
    assert entry.kind == "delegate.statement" and entry.address == address
    assert entry.signed["typed_data"] == typed and entry.signed["signer"] == address
    assert signed_problem(entry.signed) is None  # the archive alone proves who said it
    assert entry.payload["version"] == 1

    row = Delegate.objects.get(address=address)
    assert row.display_name == "Ada" and row.statement_id == first.pk and row.interests == ["cairo_dev", "security"]

    time.sleep(1.05)  # a later timestamp: versions are ordered by their signed time
    typed2 = template(api, address, display_name="Ada L.", statement="Version two", interests=["defi"], links=[])
    response = api.post(PUBLISH, {"typed_data": typed2, "signature": sign_typed(key, typed2)})
    assert response.status_code == 201, response.content
    assert response.json()["version"] == 2
    assert list(DelegateStatement.objects.filter(delegate=address).values_list("version", "display_name")
                .order_by("version")) == [(1, "Ada"), (2, "Ada L.")]
    row.refresh_from_db()
    assert row.display_name == "Ada L." and row.interests == ["defi"]

    versions = api.get(reverse("delegation-api:statements", args=[address])).json()["results"]
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["typed_data"] == typed and versions[1]["signature"] == signature.lower()

    page = api.get(reverse("delegation:detail", args=[address]))
    assert page.status_code == 200
    assert b"Version two" in page.content and b"Ada L." in page.content


def test_statement_versions_are_immutable(api, onchain):
    ctx = onchain.ctx
    typed = template(api, ctx.address(DELEGATE))
    assert publish(api, ctx.key(DELEGATE), typed).status_code == 201
    statement = DelegateStatement.objects.get()
    statement.display_name = "Changed"
    with pytest.raises(ImmutableRowError):
        statement.save()
    with pytest.raises(ImmutableRowError):
        statement.delete()
    assert DelegateStatement.objects.get().display_name == "Ada"


def test_markdown_is_sanitised(api, onchain):
    ctx = onchain.ctx
    nasty = ("<script>alert(1)</script><img src=x onerror=alert(2)> [click](javascript:alert(3)) "
             '<a href="https://ok.example" onclick="x()">ok</a>')
    typed = template(api, ctx.address(DELEGATE), statement=nasty)
    assert publish(api, ctx.key(DELEGATE), typed).status_code == 201
    html = DelegateStatement.objects.get().statement_html
    for bad in ("<script", "onerror", "javascript:", "onclick", "<img"):
        assert bad not in html
    assert DelegateStatement.objects.get().statement == nasty  # the signed source is kept verbatim


def assert_refused(response, code, status=400):
    assert response.status_code == status, response.content
    assert response.json()["error"]["code"] == code, response.json()
    assert DelegateStatement.objects.count() == 0
    assert not ArchiveEntry.objects.filter(kind="delegate.statement").exists()
    assert not Delegate.objects.exists()


@pytest.mark.parametrize(("overrides", "code"), [
    ({"statement": "x" * (C.STATEMENT_MAX_CHARS + 1)}, "statement_too_long"),
    ({"interests": ["defi", "memes"]}, "unknown_interest"),
    ({"interests": ["defi", "defi"]}, "duplicate_interest"),
    ({"links": ["javascript:alert(1)"]}, "invalid_link"),
    ({"links": ["JavaScript://example.com/%0Aalert(1)"]}, "invalid_link"),
    ({"links": ["ftp://files.example"]}, "invalid_link"),
    ({"links": [f"https://example.com/{i}" for i in range(C.LINKS_MAX + 1)]}, "too_many_links"),
    ({"display_name": ""}, "display_name_required"),
    ({"display_name": "n" * (C.DISPLAY_NAME_MAX_CHARS + 1)}, "display_name_too_long"),
    ({"display_name": "Ada \u202egnp.exe"}, "invalid_display_name"),  # bidi override: looks like "exe.png"
    ({"display_name": "Ada\u2066 Foundation"}, "invalid_display_name"),
    ({"statement": "  "}, "statement_required"),
])
def test_template_refuses_bad_content(api, onchain, overrides, code):
    response = api.post(TEMPLATE, {"delegate": onchain.ctx.address(DELEGATE), **content(**overrides)})
    assert_refused(response, code)


@pytest.mark.parametrize(("fields", "code"), [
    ({"statement": "y" * (C.STATEMENT_MAX_CHARS + 1)}, "statement_too_long"),
    ({"interests": encode_list(["gaming", "politics"])}, "unknown_interest"),
    ({"interests": "gaming,defi"}, "invalid_interests"),
    ({"links": encode_list(["javascript:alert(document.cookie)"])}, "invalid_link"),
    ({"links": encode_list(["data:text/html,<script>alert(1)</script>"])}, "invalid_link"),
])
def test_publish_rechecks_content_of_self_built_typed_data(api, onchain, fields, code):
    """A client that skips the template and signs bad content itself is refused on publication."""
    ctx = onchain.ctx
    typed = raw_typed(ctx.address(DELEGATE), **fields)
    assert_refused(api.post(PUBLISH, {"typed_data": typed, "signature": sign_typed(ctx.key(DELEGATE), typed)}), code)


def test_statement_signed_by_another_address_is_refused(api, onchain):
    ctx = onchain.ctx
    typed = template(api, ctx.address(DELEGATE))
    response = api.post(PUBLISH, {"typed_data": typed, "signature": sign_typed(ctx.key(OTHER), typed)})
    assert_refused(response, "signer_mismatch")


def test_statement_for_another_chain_is_refused(api, onchain):
    ctx = onchain.ctx
    typed = template(api, ctx.address(DELEGATE))
    typed["domain"]["chainId"] = 1
    response = api.post(PUBLISH, {"typed_data": typed, "signature": sign_typed(ctx.key(DELEGATE), typed)})
    assert_refused(response, "wrong_chain")


def test_tampered_statement_is_refused(api, onchain):
    ctx = onchain.ctx
    typed = template(api, ctx.address(DELEGATE))
    signature = sign_typed(ctx.key(DELEGATE), typed)
    typed["message"]["statement"] = "Something I never said"
    assert_refused(api.post(PUBLISH, {"typed_data": typed, "signature": signature}), "signer_mismatch")


def test_old_and_future_timestamps_are_refused(api, onchain):
    ctx = onchain.ctx
    old = raw_typed(ctx.address(DELEGATE), timestamp=int(time.time()) - C.STATEMENT_MAX_AGE_SECONDS - 60)
    assert_refused(api.post(PUBLISH, {"typed_data": old, "signature": sign_typed(ctx.key(DELEGATE), old)}),
                   "statement_expired")
    future = raw_typed(ctx.address(DELEGATE), timestamp=int(time.time()) + 3600)
    assert_refused(api.post(PUBLISH, {"typed_data": future, "signature": sign_typed(ctx.key(DELEGATE), future)}),
                   "timestamp_in_future")


def test_replayed_or_older_statement_is_refused(api, onchain):
    ctx = onchain.ctx
    address, key = ctx.address(DELEGATE), ctx.key(DELEGATE)
    older = raw_typed(address, timestamp=int(time.time()) - 100, statement="older")
    newer = raw_typed(address, timestamp=int(time.time()) - 50, statement="newer")
    assert api.post(PUBLISH, {"typed_data": newer, "signature": sign_typed(key, newer)}).status_code == 201
    replay = api.post(PUBLISH, {"typed_data": newer, "signature": sign_typed(key, newer)})
    assert replay.status_code == 409 and replay.json()["error"]["code"] == "duplicate_statement"
    stale = api.post(PUBLISH, {"typed_data": older, "signature": sign_typed(key, older)})
    assert stale.status_code == 409 and stale.json()["error"]["code"] == "stale_statement"
    assert DelegateStatement.objects.count() == 1
    assert ArchiveEntry.objects.filter(kind="delegate.statement").count() == 1
