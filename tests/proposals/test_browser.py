"""From draft to vote in real Chromium: wallet sign-in, the submit form, the discussion period run out by the
beat task, and endorsements signed (eth_signTypedData_v4) by several wallets until the threshold is crossed."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import expect

from archive import kinds
from archive.models import ArchiveEntry
from proposals.lifecycle import ProposalStatus
from proposals.models import Endorsement, Proposal
from proposals.tasks import advance_timed_transitions

from .conftest import endorse_as, new_proposal, to_endorsement

pytestmark = pytest.mark.django_db(transaction=True)


def sign_in(portal, key: str) -> None:
    page = portal.page
    if page.locator("#sign-out").count():
        page.click("#sign-out")
        page.wait_for_selector("#connect-wallet")
    portal.wallet.use(key)
    page.click("#connect-wallet")
    page.wait_for_selector("#sign-out")
    assert page.get_attribute("#wallet", "data-address") == portal.wallet.address


def test_submit_discuss_and_endorse_past_the_threshold(portal, holders, governance):
    # Process proposals need half of the voting power; the discussion lasts one second.
    governance(DISCUSSION_PERIOD_SECONDS=1,
               ENDORSEMENT_THRESHOLD={**governance()["ENDORSEMENT_THRESHOLD"], "process": {"share_bps": 5000}})
    page = portal.page
    page.goto(portal.url("/proposals/"))
    sign_in(portal, holders.key(3))

    # Submit through the form.
    page.click("#new-proposal")
    page.select_option("select[name=kind]", "process")
    expect(page.locator("fieldset[data-kind=os_upgrade]")).to_be_hidden()  # the form shows the type's fields
    page.fill("input[name=title]", "Publish the call notes")
    page.fill("textarea[name=body]", "Minutes of every **core developers' call**.\n\n<script>window.pwned=1</script>")
    page.fill("input[name=discussion_url]", "https://forum.example.org/t/notes")
    page.click("#proposal-submit")
    expect(page.locator("#proposal-status")).to_have_text("Draft")
    proposal = Proposal.objects.get()
    assert proposal.author.address == holders.address(3)
    assert page.evaluate("window.pwned === undefined")  # the script tag was stored, never run
    expect(page.locator("#proposal-body strong")).to_have_text("core developers' call")

    # The author opens the discussion; the beat task ends it once the period is over.
    page.click("button[data-transition=discussion]")
    expect(page.locator("#proposal-status")).to_have_text("Discussion")
    time.sleep(1.1)
    assert advance_timed_transitions.apply().get() == [proposal.number]
    page.reload()
    expect(page.locator("#proposal-status")).to_have_text("Endorsement")
    expect(page.locator("#endorsement-progress")).to_have_attribute("aria-valuenow", "0")

    # Endorsements from three wallets: 100 + 300 + 400 of 1,000 tokens, threshold 500.
    for index, percent in ((3, "20"), (4, "80")):
        sign_in(portal, holders.key(index))
        page.click("#endorse-button")
        expect(page.locator("#endorsement-progress")).to_have_attribute("aria-valuenow", percent)
        expect(page.locator("#proposal-status")).to_have_text("Endorsement")
        expect(page.locator(f"tr[data-endorser='{holders.address(index)}']")).to_be_visible()
        expect(page.locator("#endorse-button")).to_have_count(0)  # one endorsement per revision
    sign_in(portal, holders.key(6))
    page.click("#endorse-button")
    expect(page.locator("#proposal-status")).to_have_text("Voting")
    expect(page.locator("#snapshot-block")).to_have_text(str(holders.head))

    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.VOTING
    assert sorted(e.endorser for e in Endorsement.objects.filter(proposal=proposal)) == sorted(
        holders.address(i) for i in (3, 4, 6))
    signed_typed = [m for method, m in portal.wallet.calls if method == "eth_signTypedData_v4"]
    assert len(signed_typed) == 3
    trail = list(ArchiveEntry.objects.filter(proposal_ref=proposal.ref).order_by("sequence")
                 .values_list("kind", flat=True))
    assert trail == [kinds.PROPOSAL_CREATED, kinds.PROPOSAL_STATUS_CHANGED, kinds.PROPOSAL_STATUS_CHANGED,
                     kinds.ENDORSEMENT, kinds.ENDORSEMENT, kinds.ENDORSEMENT, kinds.PROPOSAL_STATUS_CHANGED]
    page.click("#archive-trail")
    expect(page).to_have_url(portal.url(f"/archive/?proposal={proposal.number}"))


def test_a_refused_endorsement_shows_its_error(portal, holders):
    page = portal.page
    proposal = to_endorsement(new_proposal(holders.user(3)))
    page.goto(portal.url(f"/proposals/{proposal.number}/"))
    sign_in(portal, holders.key(8))  # no voting power
    page.click("#endorse-button")
    expect(page.locator("#proposal-action-error")).to_have_attribute("data-code", "no_voting_power")
    assert Endorsement.objects.count() == 0


def test_core_developers_review_from_the_page(portal, holders):
    page = portal.page
    proposal = to_endorsement(new_proposal(holders.user(3), "os_upgrade"))
    endorse_as(holders.key(4), proposal)
    page.goto(portal.url(f"/proposals/{proposal.number}/"))
    expect(page.locator("#proposal-status")).to_have_text("Technical review")
    sign_in(portal, holders.key(4))  # a token holder, not a core developer: no review buttons
    expect(page.locator("#review-box")).to_have_count(0)

    sign_in(portal, holders.key(5))
    page.fill("#review-comment", "The program hash matches the release build.")
    page.click("#review-approve")
    expect(page.locator("#review-approvals")).to_have_text("1")
    expect(page.locator(f"tr[data-reviewer='{holders.address(5)}']")).to_contain_text("approve")

    sign_in(portal, holders.key(6))
    page.click("#review-reject")  # no comment yet: refused before signing
    expect(page.locator("#proposal-action-error")).to_have_attribute("data-code", "comment_required")
    page.fill("#review-comment", "The config hash is not the audited one.")
    page.click("#review-reject")
    expect(page.locator("#proposal-status")).to_have_text("Discussion")
    expect(page.locator(f"tr[data-reviewer='{holders.address(6)}']")).to_contain_text("not the audited one")
    assert [m for m, _ in portal.wallet.calls].count("eth_signTypedData_v4") == 2
