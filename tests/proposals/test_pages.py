"""The proposal pages: list, detail, forms (refusals shown with their code and a 4xx), diffs."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from chain.deploy import TOKEN_UNIT
from proposals.lifecycle import ProposalKind, ProposalStatus
from proposals.models import Proposal

from .conftest import OS_PAYLOAD, author_user, counts, endorse_as, new_proposal, to_endorsement, unchanged

S = ProposalStatus
pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


FORM = {"kind": "os_upgrade", "title": "Upgrade to 0.14.0", "body": "Bundles SNIP-12.\n\n<script>alert(1)</script>",
        "discussion_url": "https://forum.example.org/t/7", "program_hash": OS_PAYLOAD["program_hash"],
        "config_hash": OS_PAYLOAD["config_hash"], "os_version": "0.14.0", "snips": "SNIP-12, SNIP-15",
        "changes": "", "recipient": "", "amount": ""}


def test_submit_form_creates_a_draft_and_the_detail_page_shows_it(chain_settings):
    author = author_user()
    client = signed_in(author)
    assert client.get("/proposals/new/").status_code == 200
    response = client.post("/proposals/new/", FORM)
    assert response.status_code == 302
    proposal = Proposal.objects.get()
    assert response["Location"] == f"/proposals/{proposal.number}/"
    assert proposal.payload["snips"] == ["SNIP-12", "SNIP-15"] and proposal.author == author
    page = client.get(response["Location"]).content.decode()
    assert "Upgrade to 0.14.0" in page and 'class="current" data-status="draft"' in page
    assert 'data-status="technical_review"' in page  # upcoming on an OS upgrade's path
    assert "upgradeOs(bytes32,bytes32,string)" in page and OS_PAYLOAD["program_hash"] in page
    assert f'href="/archive/?proposal={proposal.number}"' in page
    body = re.search(r'<div class="proposal-body" id="proposal-body">(.*?)</div>', page, re.S).group(1)
    assert "<script" not in body and "alert(1)" not in body
    assert 'data-transition="discussion"' in page and 'id="edit-proposal"' in page


@pytest.mark.parametrize(("change", "code"), [
    ({"title": "t" * 201}, "title_too_long"),
    ({"body": "b" * 10_001}, "body_too_long"),
    ({"program_hash": "0x1234"}, "invalid_program_hash"),
    ({"os_version": "latest"}, "invalid_os_version"),
    ({"kind": "parameter_change", "changes": "fee.min_gas_price = 0"}, "parameter_out_of_bounds"),
    ({"kind": "parameter_change", "changes": "fee.nope = 5"}, "unknown_parameter"),
])
def test_form_refusals_are_shown_with_their_code(change, code):
    client = signed_in(author_user())
    before = counts()
    response = client.post("/proposals/new/", {**FORM, **change})
    assert response.status_code == 400
    assert f'data-code="{code}"' in response.content.decode()
    assert counts() == before


def test_forms_are_for_signed_in_authors():
    assert Client().get("/proposals/new/").status_code == 403
    before = counts()
    assert Client().post("/proposals/new/", FORM).status_code == 403
    assert counts() == before
    proposal = new_proposal(author_user(), ProposalKind.OS_UPGRADE)
    stranger = signed_in(author_user())
    assert stranger.get(f"/proposals/{proposal.number}/edit/").status_code == 403
    with unchanged(proposal):
        response = stranger.post(f"/proposals/{proposal.number}/edit/", {**FORM, "title": "Hijack"})
    assert response.status_code == 403 and 'data-code="not_author"' in response.content.decode()


def test_edit_form_revision_and_diff(chain_settings):
    proposal = new_proposal(author_user(), ProposalKind.TREASURY_GRANT, body="Grant for the debugger team.")
    client = signed_in(proposal.author)
    page = client.get(f"/proposals/{proposal.number}/edit/").content.decode()
    assert 'value="250.5"' in page  # the form starts from the current revision
    response = client.post(f"/proposals/{proposal.number}/edit/", {
        **FORM, "kind": "treasury_grant", "title": proposal.title, "body": "Grant for the Cairo debugger team.",
        "recipient": proposal.payload["recipient"], "amount": "300", "note": "bigger team"})
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.revision_number == 2 and proposal.payload["amount"] == "300"
    diff = client.get(f"/proposals/{proposal.number}/revisions/").content.decode()
    assert '<span class="removed">-Grant for the debugger team.</span>' in diff
    assert '<span class="added">+Grant for the Cairo debugger team.</span>' in diff
    assert "&quot;amount&quot;: &quot;300&quot;" in diff
    assert Client().get(f"/proposals/{proposal.number}/revisions/?from=1&to=9").status_code == 404


def test_transition_buttons_and_refusals_on_the_page():
    proposal = new_proposal(author_user())
    client = signed_in(proposal.author)
    with unchanged(proposal):
        response = client.post(f"/proposals/{proposal.number}/transition/", {"to": "voting"})
    assert response.status_code == 409 and 'data-code="illegal_transition"' in response.content.decode()
    assert client.post(f"/proposals/{proposal.number}/transition/", {"to": "discussion"}).status_code == 302
    assert Proposal.objects.get(pk=proposal.pk).status == S.DISCUSSION
    with unchanged(proposal):
        response = signed_in(author_user()).post(f"/proposals/{proposal.number}/transition/", {"to": "withdrawn"})
    assert response.status_code == 403 and 'data-code="transition_not_permitted"' in response.content.decode()


def test_endorsement_progress_bar_and_list(holders, governance):
    governance(ENDORSEMENT_THRESHOLD={**governance()["ENDORSEMENT_THRESHOLD"], "process": {"share_bps": 8000}})
    proposal = to_endorsement(new_proposal(author_user()))
    endorse_as(holders.key(4), proposal)  # 300 of the 800 needed
    client = signed_in(holders.user(3))
    page = client.get(f"/proposals/{proposal.number}/").content.decode()
    assert 'aria-valuenow="37"' in page and '<rect class="progress-fill" width="37"' in page
    assert f'data-endorser="{holders.address(4)}"' in page and "300" in page and "800" in page
    assert 'id="endorse-button"' in page  # account 3 has not endorsed yet
    page = signed_in(holders.user(4)).get(f"/proposals/{proposal.number}/").content.decode()
    assert 'id="endorse-button"' not in page  # account 4 has
    assert str(300 * TOKEN_UNIT) not in page  # amounts shown in tokens, not base units


def test_list_page_filters_and_paginates():
    author = author_user()
    for i in range(23):
        new_proposal(author, ProposalKind.INFORMATIONAL if i % 2 else ProposalKind.PROCESS, title=f"Item {i:02d}")
    client = Client()
    first = client.get("/proposals/?sort=title").content.decode()
    assert first.count('class="status status-') == 20 and "Item 00" in first and "Page 1 of 2" in first
    second = client.get("/proposals/?sort=title&page=2").content.decode()
    assert second.count('class="status status-') == 3 and "Item 22" in second
    only = client.get("/proposals/?kind=informational").content.decode()
    assert only.count('class="status status-') == 11
    assert client.get("/proposals/?q=Item+07").content.decode().count('class="status status-') == 1
    assert client.get("/proposals/?status=bogus").status_code == 400
    assert Client().get("/proposals/999/").status_code == 404
