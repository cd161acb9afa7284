"""The proposals API: the same rules through DRF, each refusal a 4xx with its own code and nothing changed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test import Client
from eth_account import Account

from accounts.models import User
from archive.models import ArchiveEntry
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Proposal

from .conftest import (
    OS_PAYLOAD,
    author_user,
    counts,
    new_proposal,
    sign_typed,
    to_endorsement,
    unchanged,
)

S = ProposalStatus
API = "/api/proposals/"
pytestmark = pytest.mark.django_db


def signed_in(user: User, *, csrf: bool = False) -> Client:
    """A client with the session a wallet sign-in gives `user`."""
    client = Client(enforce_csrf_checks=csrf)
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def post(client: Client, path: str, data: dict, **kw):
    return client.post(path, data, content_type="application/json", **kw)


def error_code(response) -> str:
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:500])
    return response.json()["error"]["code"]


VALID = {"title": "Raise the L1 data-gas multiplier", "body": "Because **blobs**.", "kind": "parameter_change",
         "payload": {"changes": [{"name": "fee.l1_data_gas_multiplier_bps", "value": 12000}]},
         "discussion_url": "https://forum.example.org/t/42"}


def test_create_then_read_through_the_api(chain_settings):
    client = signed_in(author_user())
    response = post(client, API, VALID)
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "draft" and data["revision_number"] == 1 and data["ref"] == str(data["number"])
    assert data["payload"] == {"changes": [{"name": "fee.l1_data_gas_multiplier_bps", "value": "12000"}]}
    (action,) = data["actions"]
    assert action["function"] == "setParameter(bytes32,uint256)" and action["arguments"]["value"] == "12000"
    assert action["target"] == chain_settings.deployment.core_state_address
    assert data["archive_url"] == f"/archive/?proposal={data['number']}"
    assert "<strong>blobs</strong>" in data["body_html"]
    detail = client.get(f"{API}{data['number']}/").json()
    assert detail["timeline"][0]["to_status"] == "draft"
    revisions = client.get(f"{API}{data['number']}/revisions/").json()
    assert [r["content_hash"] for r in revisions] == [data["revision_hash"]]
    assert ArchiveEntry.objects.filter(proposal_ref=data["ref"], kind="proposal.created").count() == 1


@pytest.mark.parametrize(("change", "code"), [
    ({"title": "x" * 201}, "title_too_long"),
    ({"title": "  "}, "title_required"),
    ({"title": "Raise the fee \u202e%05 yb"}, "invalid_title"),  # bidi override reorders what readers see
    ({"title": "Bell\x07 title"}, "invalid_title"),
    ({"body": "y" * 10_001}, "body_too_long"),
    ({"discussion_url": "javascript:alert(1)"}, "invalid_discussion_url"),
    ({"kind": "os_upgrade", "payload": {**OS_PAYLOAD, "program_hash": "0xnothex"}}, "invalid_program_hash"),
    ({"kind": "os_upgrade", "payload": {**OS_PAYLOAD, "os_version": "fourteen"}}, "invalid_os_version"),
    ({"payload": {"changes": [{"name": "fee.l1_data_gas_multiplier_bps", "value": 999_999}]}},
     "parameter_out_of_bounds"),
    ({"payload": {"changes": [{"name": "fee.free_lunch", "value": 1}]}}, "unknown_parameter"),
    ({"kind": "treasury_grant", "payload": {"recipient": "0x12", "amount": "5"}}, "invalid_recipient"),
    ({"kind": "informational"}, "unexpected_payload"),
    ({"kind": "no_such_kind"}, "validation_error"),
])
def test_bad_input_is_refused_with_its_own_code_and_nothing_changes(change, code):
    client = signed_in(author_user())
    before = counts()
    response = post(client, API, {**VALID, **change})
    assert response.status_code == 400 and error_code(response) == code
    assert counts() == before


def test_script_tags_are_stored_but_never_rendered(client):
    author = author_user()
    body = "Intro\n\n<script>alert('x')</script>\n\n<img src=x onerror=\"alert(1)\"> end"
    number = post(signed_in(author), API, {**VALID, "body": body}).json()["number"]
    assert Proposal.objects.get(number=number).body == body  # stored as written
    page = client.get(f"/proposals/{number}/").content.decode()
    assert "alert('x')" not in page and "onerror" not in page
    assert page.count("<script") == page.count("<script src=")  # only the page's own script files
    assert "<script" not in client.get(f"{API}{number}/").json()["body_html"]


def test_signing_in_is_required_to_write(db):
    before = counts()
    response = post(Client(), API, VALID)
    assert response.status_code in (401, 403) and error_code(response) in ("not_authenticated",)
    assert counts() == before


def test_a_session_write_without_the_csrf_token_is_refused():
    author = author_user()
    proposal = new_proposal(author)
    with unchanged(proposal):
        response = post(signed_in(author, csrf=True), f"{API}{proposal.number}/transition/", {"to": "discussion"})
    assert response.status_code == 403 and error_code(response) == "permission_denied"
    assert "CSRF" in response.json()["error"]["message"]


def test_edit_rules(holders):
    author = author_user()
    proposal = new_proposal(author, ProposalKind.PROCESS)
    url = f"{API}{proposal.number}/"
    # Someone else.
    with unchanged(proposal):
        response = signed_in(author_user()).patch(url, {"title": "Hijacked"}, content_type="application/json")
    assert (response.status_code, error_code(response)) == (403, "not_author")
    # The author: a new revision, archived.
    response = signed_in(author).patch(url, {"body": "Second version.", "note": "rewrote"},
                                       content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["revision_number"] == 2 and response.json()["body"] == "Second version."
    diff = signed_in(author).get(f"{url}diff/?from=1&to=2").json()["diff"]
    assert "-Why and how." in diff and "+Second version." in diff
    # Nothing changed.
    with unchanged(proposal):
        response = signed_in(author).patch(url, {"body": "Second version."}, content_type="application/json")
    assert error_code(response) == "no_changes"
    # After Voting opens: no more edits.
    to_endorsement(proposal)
    from .conftest import endorse_as
    endorse_as(holders.key(6), proposal)
    proposal.refresh_from_db()
    assert proposal.status == S.VOTING
    with unchanged(proposal):
        response = signed_in(author).patch(url, {"title": "Too late"}, content_type="application/json")
    assert (response.status_code, error_code(response)) == (409, "not_editable")


def test_transitions_through_the_api():
    author = author_user()
    proposal = new_proposal(author)
    url = f"{API}{proposal.number}/transition/"
    with unchanged(proposal):
        response = post(signed_in(author), url, {"to": "voting"})
    assert (response.status_code, error_code(response)) == (409, "illegal_transition")
    with unchanged(proposal):
        response = post(signed_in(author_user()), url, {"to": "discussion"})
    assert (response.status_code, error_code(response)) == (403, "transition_not_permitted")
    response = post(signed_in(author), url, {"to": "discussion", "reason": "ready"})
    assert response.status_code == 200 and response.json()["status"] == "discussion"
    response = post(signed_in(author), url, {"to": "withdrawn"})
    assert response.json()["status"] == "withdrawn"


def test_endorse_and_review_through_the_api(holders):
    author = author_user()
    proposal = to_endorsement(new_proposal(author, ProposalKind.OS_UPGRADE))
    endorser = holders.user(4)
    client = signed_in(endorser)
    typed = client.get(f"{API}{proposal.number}/endorsement-template/").json()  # default: the session's address
    assert typed["primaryType"] == "Endorsement" and typed["message"]["endorser"] == endorser.address
    body = {"typed_data": typed, "signature": sign_typed(holders.key(4), typed)}
    response = post(client, f"{API}{proposal.number}/endorsements/", body)
    assert response.status_code == 201, response.content
    assert response.json()["proposal_status"] == "technical_review" and response.json()["counts"] is True
    with unchanged(proposal):
        replay = post(Client(), f"{API}{proposal.number}/endorsements/", body)  # no session needed: signed
    assert (replay.status_code, error_code(replay)) == (409, "already_endorsed")
    listed = Client().get(f"{API}{proposal.number}/endorsements/").json()
    assert [e["endorser"] for e in listed] == [endorser.address]
    # Review by a token holder who is not a core developer.
    template_url = f"{API}{proposal.number}/review-template/?reviewer={holders.address(3)}&approve=true&comment=ok"
    typed = Client().get(template_url).json()
    with unchanged(proposal):
        response = post(Client(), f"{API}{proposal.number}/reviews/",
                        {"typed_data": typed, "signature": sign_typed(holders.key(3), typed)})
    assert (response.status_code, error_code(response)) == (403, "not_core_developer")
    typed = Client().get(template_url.replace(holders.address(3), holders.address(5))).json()
    response = post(Client(), f"{API}{proposal.number}/reviews/",
                    {"typed_data": typed, "signature": sign_typed(holders.key(5), typed)})
    assert response.status_code == 201 and response.json()["approve"] is True
    assert Client().get(f"{API}{proposal.number}/").json()["review"]["approvals"] == 1


def test_list_search_filters_sorting_and_pagination():
    alice, bob = author_user(), author_user()
    new_proposal(alice, ProposalKind.OS_UPGRADE, title="Upgrade the sequencer OS",
                 body="Faster blocks through parallel execution.")
    new_proposal(bob, ProposalKind.PROCESS, title="Call notes", body="Publish the notes of every upgrade call.")
    new_proposal(bob, ProposalKind.INFORMATIONAL, title="Roadmap", body="Where the network is going.")
    client = Client()
    titles = lambda r: [p["title"] for p in r.json()["results"]]  # noqa: E731
    if connection.vendor == "postgresql":  # stemming and ranking of PostgreSQL full-text search
        assert titles(client.get(API + "?q=upgrades")) == ["Upgrade the sequencer OS", "Call notes"]
    else:  # SQLite: every word, as written, newest first
        assert titles(client.get(API + "?q=upgrade")) == ["Call notes", "Upgrade the sequencer OS"]
        assert titles(client.get(API + "?q=sequencer+parallel")) == ["Upgrade the sequencer OS"]
    assert titles(client.get(API + "?q=parallel")) == ["Upgrade the sequencer OS"]
    assert titles(client.get(API + "?kind=process")) == ["Call notes"]
    assert titles(client.get(API + f"?author={bob.address.lower()}&sort=title")) == ["Call notes", "Roadmap"]
    assert titles(client.get(API + "?sort=oldest&limit=2")) == ["Upgrade the sequencer OS", "Call notes"]
    page = client.get(API + "?sort=oldest&limit=2&offset=2").json()
    assert page["count"] == 3 and [p["title"] for p in page["results"]] == ["Roadmap"]
    assert error_code(client.get(API + "?status=nonsense")) == "validation_error"
    assert error_code(client.get(API + "?author=0x123")) == "validation_error"


def test_lists_do_not_run_a_query_per_proposal(django_assert_max_num_queries):
    for i in range(25):
        new_proposal(author_user(Account.create().address), title=f"Proposal {i}")
    client = Client()
    with django_assert_max_num_queries(4):
        response = client.get(API + "?limit=25")
    assert len(response.json()["results"]) == 25
    with django_assert_max_num_queries(6):
        response = client.get("/proposals/?sort=title")
    assert response.content.decode().count('class="status status-') == 20


def test_schema_documents_the_proposals_api():
    schema = Client().get("/api/schema/?format=json").json()
    paths = schema["paths"]
    for path in ("/api/proposals/", "/api/proposals/{number}/", "/api/proposals/{number}/endorsements/",
                 "/api/proposals/{number}/endorsement-template/", "/api/proposals/{number}/reviews/",
                 "/api/proposals/{number}/transition/", "/api/proposals/{number}/revisions/"):
        assert path in paths, path
    endorse = paths["/api/proposals/{number}/endorsements/"]["post"]
    assert "already_endorsed" in endorse["description"] and "409" in endorse["responses"]
    assert "parameter_out_of_bounds" in paths["/api/proposals/"]["post"]["description"]
    lifecycle = Client().get(API + "lifecycle/").json()
    assert {"source": "draft", "target": "discussion", "actors": ["author"]}.items() <= lifecycle[0].items()
