"""The API's shared contract: every refusal documented in one error shape, JSON 404s under /api/, bounded
pagination, a schema generated without warnings. (The fuzzer, test_api_fuzz.py, found what these pin.)"""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.django_db

HUGE = str(2**256)  # past PostgreSQL's bigint: a LIMIT/OFFSET this large made the query fail (500)
WRITES = {"post", "put", "patch", "delete"}


@pytest.fixture
def schema() -> dict[str, Any]:
    return Client().get("/api/schema/?format=json").json()


def test_every_operation_documents_its_refusals_with_the_shared_error_component(schema):
    assert set(schema["components"]["schemas"]["Error"]["properties"]) == {"error"}
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            responses = operation["responses"]
            expected = {"400", "404"} | ({"409", "415", "429"} if method in WRITES else set())
            assert expected <= set(responses), (method, path, sorted(responses))
            for code in expected:
                ref = responses[code]["content"]["application/json"]["schema"]["$ref"]
                assert ref == "#/components/schemas/Error", (method, path, code)


def test_the_schema_generates_without_warnings(tmp_path):
    """--fail-on-warn: e.g. the enum name collisions of kind/status (settings ENUM_NAME_OVERRIDES)."""
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_shared_choice_sets_have_one_name(schema):
    names = set(schema["components"]["schemas"])
    assert {"ProposalKindEnum", "ProposalStatusEnum"} <= names
    assert not [n for n in names if n.endswith("Enum") and any(c.isdigit() for c in n)], sorted(names)
    assert not {"ToEnum", "ToStatusEnum", "FromStatusEnum"} & names


@pytest.mark.parametrize("path", ["/api/delegates/not-an-address/", "/api/proposals/1.5/", "/api/nothing-here",
                                  "/api/relay/delegations/not-a-uuid/"])
def test_an_api_url_no_route_matches_is_a_json_404(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"error": {"code": "not_found", "message": "There is no such API resource."}}


def test_a_page_url_no_route_matches_is_still_an_html_404():
    response = Client().get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/archive/documents/", "/api/delegates/", "/api/proposals/",
                                  "/api/accounts/0x70997970C51812dc3A010C7d01b50e0d17dc79C8/history"])
def test_limit_and_offset_past_bigint_are_bounded_not_a_500(path):
    client = Client()
    response = client.get(path, {"limit": HUGE, "offset": HUGE})
    assert response.status_code == 200, response.content[:300]
    assert response.json()["results"] == []
    assert client.get(path, {"limit": HUGE}).status_code == 200


def test_the_pagination_caps_limit_and_offset():
    from rest_framework.request import Request
    from rest_framework.test import APIRequestFactory

    from govapp.pagination import LimitOffsetPagination

    request = Request(APIRequestFactory().get("/api/x", {"limit": HUGE, "offset": HUGE}))
    paginator = LimitOffsetPagination()
    assert (paginator.get_limit(request), paginator.get_offset(request)) == (500, 2**62)


@pytest.mark.parametrize(("path", "schema_path"), [("/api/votes/", "/api/votes/"),
                                                   ("/api/delegates/statements/", "/api/delegates/statements/")])
def test_a_rate_limited_write_is_a_documented_429_in_the_error_shape(settings, schema, path, schema_path):
    settings.RATE_LIMIT_ENABLED = True
    settings.RATE_LIMITS = {"ip": "1/minute"}
    settings.RATE_LIMIT_REDIS_URL = ""  # process-local counters
    client = Client(REMOTE_ADDR=f"198.51.100.{len(path)}")  # an address no other test uses
    first = client.post(path, {}, content_type="application/json")
    assert first.status_code == 400, first.content  # counted, refused by the view
    second = client.post(path, {}, content_type="application/json")
    assert second.status_code == 429, second.content
    assert second.json()["error"]["code"] == "rate_limited" and second.json()["error"]["message"]
    assert set(second.json()) == {"error"} and "Retry-After" in second
    documented = schema["paths"][schema_path]["post"]["responses"]["429"]
    assert documented["content"]["application/json"]["schema"]["$ref"] == "#/components/schemas/Error"
