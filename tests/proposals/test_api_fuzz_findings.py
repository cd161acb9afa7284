"""Bugs the API fuzzer (tests/govapp/test_api_fuzz.py) found in the proposals API, each pinned by a test."""

from __future__ import annotations

import pytest
from django.test import Client

from proposals.models import Proposal

from .conftest import author_user, counts, new_proposal

API = "/api/proposals/"
pytestmark = pytest.mark.django_db


def signed_in_client() -> Client:
    client = Client()
    client.force_login(author_user(), backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.mark.parametrize("body", [{"kind": "process"}, {"kind": "process", "title": "Only a title"},
                                  {"kind": "process", "body": "Only a body"}])
def test_create_without_title_or_body_is_a_400_not_a_500(body):
    client = signed_in_client()
    before = counts()
    response = client.post(API, body, content_type="application/json")
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in {"title_required", "body_required"}
    assert counts() == before


def test_a_proposal_without_discussion_url_matches_its_documented_schema():
    """discussion_url is "" when none was given: the schema must not declare it a URI (format: uri)."""
    number = new_proposal(author_user()).number
    assert Proposal.objects.get(number=number).discussion_url == ""
    client = Client()
    schema = client.get("/api/schema/?format=json").json()["components"]["schemas"]
    for name in ("Proposal", "ProposalDetail", "Revision"):
        assert "format" not in schema[name]["properties"]["discussion_url"], name
    assert client.get(f"{API}{number}/").json()["discussion_url"] == ""
    assert client.get(API).json()["results"][0]["discussion_url"] == ""
    assert client.get(f"{API}{number}/revisions/").json()[0]["discussion_url"] == ""
