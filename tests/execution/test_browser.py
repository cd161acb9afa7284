"""The execution panel in real Chromium: the ETA countdown, two council members sign their veto with the
injected test wallet (eth_signTypedData_v4), the engine enacts it, the panel shows Vetoed and the cancel."""

from __future__ import annotations

import json

import pytest

from execution import engine
from execution.models import ExecutionState, VetoSignature
from proposals.lifecycle import ProposalKind

from .conftest import passed_proposal

pytestmark = pytest.mark.django_db(transaction=True)


def _sign_in_as(portal, index: int) -> None:
    page = portal.page
    if page.is_visible("#sign-out"):
        page.click("#sign-out")
        page.wait_for_selector("#connect-wallet")
    portal.wallet.use(portal.chain.key(index))
    page.click("#connect-wallet")  # the header's wallet sign-in (EIP-4361); the page reloads
    page.wait_for_selector("#sign-out")


def test_council_members_sign_a_veto_in_the_browser_and_it_is_enacted(portal, council):
    proposal = passed_proposal(ProposalKind.OS_UPGRADE)
    execution = engine.advance(engine.create_execution(proposal).pk)
    assert execution.state == ExecutionState.QUEUED
    page = portal.page
    page.goto(portal.url(f"/execution/proposals/{proposal.number}/"))
    assert page.get_attribute("#execution-state", "data-state") == "queued"
    page.wait_for_function("() => document.querySelector('#execution-countdown').textContent.includes('in ')")
    assert not page.is_visible("#veto-form")  # not signed in: no button

    _sign_in_as(portal, 4)  # a token holder, not a council member: still no button
    assert not page.is_visible("#veto-form")

    for count, index in enumerate((7, 8), start=1):
        _sign_in_as(portal, index)
        page.fill("#veto-reason", f"Member {index}: the config hash does not match the release.")
        page.click("#veto-submit")
        page.wait_for_selector("#veto-done")
        assert page.inner_text("#veto-count") == str(count)
        assert page.is_visible(f"#execution-vetoes tr[data-member='{portal.chain.address(index)}']")
    assert page.is_visible("#veto-reached")
    signed = [json.loads(p[1]) for m, p in portal.wallet.calls if m == "eth_signTypedData_v4"]
    assert [t["primaryType"] for t in signed] == ["Veto", "Veto"]
    assert VetoSignature.objects.filter(execution=execution).count() == 2

    execution = engine.advance(execution.pk)
    assert execution.state == ExecutionState.VETOED, execution.last_error
    page.reload()
    assert page.get_attribute("#execution-state", "data-state") == "vetoed"
    assert page.get_attribute("#execution-transactions tr[data-purpose='cancel']", "data-state") == "confirmed"
    assert not page.is_visible("#veto-form")
