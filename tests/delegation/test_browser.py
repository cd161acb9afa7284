"""The delegation pages in real Chromium with the test wallet (dev account 4) on the real chain.

Three flows: delegate directly (GovernanceToken.delegate through eth_sendTransaction), delegate
gaslessly (eth_signTypedData_v4 of the token's Delegation, sent by the portal's relayer), and sign
and publish a delegate statement. The relayer's Celery task runs in-process (eager), as a worker would.
"""

from __future__ import annotations

import re

import pytest
from eth_account import Account

from delegation.models import DelegateStatement, RelayedDelegation, RelayStatus
from delegation.testing import DELEGATE, Chain
from govapp.celery import app as celery_app

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def eager_celery():
    before = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = True
    celery_app.conf.task_eager_propagates = True
    yield
    celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = before


def _index() -> None:
    from chain.indexer import follow_once
    from delegation import directory

    assert follow_once(respect_backoff=False)["status"] == "ok"
    directory.refresh_all()


def _settled_status(portal) -> object:
    """The delegate card's status once it is final (confirmed or failed); a failure shows the page's error."""
    page = portal.page
    status = page.locator(".dg-card [data-status]")
    status.and_(page.locator("[data-state=confirmed], [data-state=failed]")).wait_for(timeout=30_000)
    error = page.locator(".dg-card [data-error]").inner_text()
    assert status.get_attribute("data-state") == "confirmed", (error, [m for m, _ in portal.wallet.calls])
    return status


def test_delegate_directly_from_the_delegate_page(portal):
    chain = Chain(portal.chain)
    wallet = portal.wallet.address
    delegatee = portal.chain.address(DELEGATE)
    chain.mint(wallet, 50)
    page = portal.page
    page.goto(portal.url(f"/delegates/{delegatee}/"))
    page.get_by_role("button", name=re.compile(r"^Delegate to [^ ]+$")).click()
    status = _settled_status(portal)
    assert "Confirmed in block" in status.inner_text()
    assert chain.delegates(wallet) == delegatee
    sent = [params for method, params in portal.wallet.calls if method == "eth_sendTransaction"]
    assert len(sent) == 1
    tx = sent[0][0]
    assert tx["to"].lower() == portal.chain.token.address.lower()
    assert tx["data"] == "0x5c19a95c" + "0" * 24 + delegatee[2:].lower()
    assert any(method == "eth_getTransactionReceipt" for method, _ in portal.wallet.calls)

    _index()
    page.goto(portal.url("/delegates/?sort=power"))
    row = page.locator(f"#delegates tr[data-address='{delegatee}']")
    assert "50.00" in row.inner_text()


def test_delegate_gaslessly_through_the_relayer(portal, eager_celery, settings):
    chain = Chain(portal.chain)
    wallet = portal.wallet.address
    delegatee = portal.chain.address(DELEGATE)
    chain.mint(wallet, 20)
    relayer = Account.from_key(settings.RELAYER_PRIVATE_KEY).address
    wallet_txs, relayer_txs = chain.tx_count(wallet), chain.tx_count(relayer)
    page = portal.page
    page.goto(portal.url(f"/delegates/{delegatee}/"))
    page.get_by_role("button", name=re.compile(r"without gas$")).click()
    status = _settled_status(portal)
    assert "Confirmed in block" in status.inner_text()
    methods = [method for method, _ in portal.wallet.calls]
    assert "eth_signTypedData_v4" in methods and "eth_sendTransaction" not in methods
    relay = RelayedDelegation.objects.get()
    assert relay.status == RelayStatus.CONFIRMED and relay.holder == wallet and relay.delegatee == delegatee
    assert relay.tx_hash in status.inner_text()
    assert chain.delegates(wallet) == delegatee
    assert chain.tx_count(wallet) == wallet_txs and chain.tx_count(relayer) == relayer_txs + 1


def test_holder_without_delegate_is_prompted_to_self_delegate(portal):
    chain = Chain(portal.chain)
    wallet = portal.wallet.address
    chain.mint(wallet, 9)
    _index()
    page = portal.page
    page.goto(portal.url("/delegates/me/"))
    page.get_by_role("button", name="Connect wallet").click()  # wallet sign-in (EIP-4361)
    page.locator("#activate-banner").wait_for()
    assert "9.00 tokens carry no votes" in page.locator("#activate-banner").inner_text()
    page.get_by_role("button", name="Delegate to myself", exact=True).click()
    page.locator("#activate-banner [data-state=confirmed]").wait_for()
    assert chain.delegates(wallet) == wallet
    _index()
    page.reload()
    assert page.locator("#my-delegate").inner_text() == "Yourself"
    assert page.locator("#my-power").inner_text() == "9.00"
    assert page.locator("#activate-banner").count() == 0
    assert page.locator("#delegation-history tbody tr").count() == 1


def test_publish_a_statement_from_the_browser(portal):
    wallet = portal.wallet.address
    page = portal.page
    page.goto(portal.url("/delegates/statement/"))
    page.fill("#display-name", "Browser Delegate")
    page.fill("#statement-text", "I **vote** on every proposal.\n\n<script>window.pwned = 1</script>")
    page.check("input[name=interests][value=governance]")
    page.check("input[name=interests][value=defi]")
    page.fill("#statement-links", "https://example.org/me\n")
    page.click("#publish-statement")
    page.wait_for_url(re.compile(rf"/delegates/{wallet}/$"))
    assert page.locator("#delegate-name").inner_text() == "Browser Delegate"
    assert page.locator("#statement strong").inner_text() == "vote"
    assert page.evaluate("window.pwned") is None
    statement = DelegateStatement.objects.get(delegate=wallet)
    assert statement.interests == ["governance", "defi"] and statement.links == ["https://example.org/me"]
    assert [m for m, _ in portal.wallet.calls].count("eth_signTypedData_v4") == 1

    # A refused statement shows the portal's message and publishes nothing.
    page.goto(portal.url("/delegates/statement/"))
    page.fill("#display-name", "Browser Delegate")
    page.fill("#statement-text", "Version two")
    page.fill("#statement-links", "javascript:alert(1)")
    page.click("#publish-statement")
    error = page.locator("#statement-error")
    error.filter(has_text="only http:// and https:// links").wait_for()
    assert DelegateStatement.objects.filter(delegate=wallet).count() == 1
