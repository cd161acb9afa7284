"""Wallet sign-in in real Chromium with the injected test wallet (a real key signs the EIP-4361 text)."""

import pytest
from eth_account import Account

from accounts.models import SignInNonce, User

pytestmark = pytest.mark.django_db(transaction=True)


def test_connect_wallet_signs_in_and_sign_out_signs_out(portal):
    page = portal.page
    page.goto(portal.url("/"))
    page.click("#connect-wallet")
    page.wait_for_selector("#sign-out")
    address = portal.wallet.address
    assert page.get_attribute("#wallet", "data-address") == address
    assert User.objects.filter(address=address).exists()
    assert SignInNonce.objects.filter(used_at__isnull=False).count() == 1
    methods = [method for method, _ in portal.wallet.calls]
    assert "personal_sign" in methods

    page.click("#sign-out")
    page.wait_for_selector("#connect-wallet")
    assert page.get_attribute("#wallet", "data-address") == ""


def test_a_rejected_signature_shows_an_error_and_signs_nobody_in(portal):
    portal.wallet.rejecting = True
    page = portal.page
    page.goto(portal.url("/"))
    page.click("#connect-wallet")
    page.wait_for_function("() => document.querySelector('#wallet-error').textContent.length > 0")
    assert "reject" in page.text_content("#wallet-error").lower()
    assert not User.objects.filter(address=Account.from_key(portal.wallet.key).address).exists()
