"""The vote panel in real Chromium: sign in with the injected test wallet (dev account 4), vote with
eth_signTypedData_v4, see the receipt and the server-rendered results change; vote again, see it changed."""

from __future__ import annotations

import json

import pytest

from voting.models import Tally, Vote

from .conftest import T, build_world

pytestmark = pytest.mark.django_db(transaction=True)


def test_sign_in_vote_and_see_the_results_change(portal):
    world = build_world(portal.chain, proposals=1)
    proposal = world.proposals[0]
    page = portal.page
    page.goto(portal.url(f"/votes/proposals/{proposal.number}/"))
    assert page.inner_text("#result-voters") == "0"
    assert page.is_visible("#no-votes")

    page.click("#connect-wallet")  # the header's wallet sign-in (EIP-4361); the page reloads
    page.wait_for_selector("#sign-out")
    page.wait_for_function("() => document.querySelector('#vote-power').textContent.includes('300')")
    assert f"block {proposal.snapshot_block}" in page.inner_text("#vote-power")

    page.check("input[name=support][value='1']")
    page.fill("#vote-reason", "Ship it — tested in the browser")
    page.click("#vote-submit")
    page.wait_for_selector("#vote-receipt:not([hidden])")
    vote = Vote.objects.get(voter=portal.wallet.address, is_current=True)
    assert page.inner_text("#vote-receipt-id") == vote.id
    assert "recorded" in page.inner_text("#vote-receipt")
    page.wait_for_function("() => document.querySelector('#result-voters').textContent === '1'")
    assert page.text_content("#result-for").startswith("300 (100.00 %)")
    assert "Ship it" in page.inner_text("#vote-list")
    typed = [json.loads(p[1]) for m, p in portal.wallet.calls if m == "eth_signTypedData_v4"]
    assert len(typed) == 1 and typed[0]["primaryType"] == "Vote" and typed[0]["message"]["support"] == 1

    page.check("input[name=support][value='0']")
    page.fill("#vote-reason", "Changed my mind")
    page.click("#vote-submit")
    page.wait_for_function("() => document.querySelector('#vote-receipt').textContent.includes('changed')")
    assert vote.id in page.inner_text("#vote-receipt")  # it names the vote it replaced
    page.wait_for_function("() => document.querySelector('#result-against').textContent.startsWith('300')")
    assert page.text_content("#result-for").startswith("0 (0.00 %)")
    assert page.inner_text("#result-voters") == "1"
    assert "changed" in page.inner_text("#vote-list")
    tally = Tally.objects.get(pk=proposal.pk)
    assert (int(tally.for_power), int(tally.against_power), tally.votes_received) == (0, T(300), 2)
