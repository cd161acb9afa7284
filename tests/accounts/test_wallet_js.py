"""static/js/wallet.js end to end: the real page and script against a live portal, in Node.

A fake EIP-1193 provider stands in for the wallet; its personal_sign is answered here, with a real
key, so the bytes the script asks the wallet to sign are exactly what the portal verifies.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.urls import path
from django.views.generic import TemplateView

from accounts.models import SignInNonce, User
from accounts.services import ERRORS
from govapp import urls as portal_urls

HARNESS = Path(__file__).with_name("wallet_harness.mjs")
NODE = shutil.which("node")

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(NODE is None, reason="node (a project dependency, see Makefile) is not installed"),
]

# The portal's own URLs, except that "/" renders base.html bare: these tests are about the header
# (base.html + wallet.js + the API), whatever the home page lists.
urlpatterns = [
    path("", TemplateView.as_view(template_name="base.html"), name="home"),
    *(pattern for pattern in portal_urls.urlpatterns if getattr(pattern, "name", None) != "home"),
]


@pytest.fixture(autouse=True)
def header_page_only(settings):
    settings.ROOT_URLCONF = sys.modules[__name__]  # a module object works where a dotted path would


def run_harness(live_server, scenario: str, address: str, answer_sign) -> tuple[dict, list]:
    """Run one scenario; `answer_sign(message_text, address)` answers personal_sign."""
    config = {"base": live_server.url, "scenario": scenario, "address": address}
    proc = subprocess.Popen([NODE, str(HARNESS), json.dumps(config)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, proc.kill)
    watchdog.start()
    sign_requests = []
    report = None
    try:
        for line in proc.stdout:
            message = json.loads(line)
            if message["op"] == "done":
                report = message["report"]
                break
            assert message["op"] == "personal_sign"
            hex_text, signer = message["params"]
            assert hex_text.startswith("0x")
            text = bytes.fromhex(hex_text[2:]).decode("utf-8")
            sign_requests.append((text, signer))
            proc.stdin.write(json.dumps(answer_sign(text, signer)) + "\n")
            proc.stdin.flush()
        proc.wait(timeout=30)
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
    assert report is not None, proc.stderr.read()
    assert "crash" not in report, report["crash"]
    return report, sign_requests


def test_sign_in_and_out_through_the_page(live_server, wallet, sign):
    report, sign_requests = run_harness(
        live_server, "sign-in-and-out", wallet.address,
        lambda text, signer: {"result": sign(wallet, text)})

    assert report["signedOutPage"] == {"address": "", "connect": True, "signOut": False}
    assert report["connectListeners"] == 1
    assert report["frozen"] is True
    assert {"request", "postJSON", "getJSON", "csrfToken", "connect", "signTypedData", "sendTransaction",
            "personalSign", "ensureChain", "showError", "signIn", "signOut"} <= set(report["helpers"])
    assert report["hex"] == "0x" + "é€".encode().hex()

    # The wallet was asked to sign exactly the message the portal issued, for the connected account.
    issued = SignInNonce.objects.get()
    assert sign_requests == [(issued.message, wallet.address.lower())]
    assert report["signIn"] == {"error": "", "reloads": 1, "walletCalls": ["eth_requestAccounts", "personal_sign"],
                                "disabledAfter": False}
    assert report["meAfterSignIn"] == {"status": 200, "body": {"address": wallet.address, "is_staff": False}}
    assert issued.used_at is not None and User.objects.get().address == wallet.address

    assert report["signedInPage"] == {"address": wallet.address, "connect": False, "signOut": True}
    assert report["signOut"] == {"error": "", "reloads": 1}
    assert report["meAfterSignOut"]["status"] == 401
    assert [s for s in report["steps"] if s.startswith("POST")] == [
        "POST /accounts/nonce 200", "POST /accounts/login 200", "POST /accounts/logout 204"]


def test_no_wallet_is_reported(live_server, wallet):
    report, sign_requests = run_harness(live_server, "no-wallet", wallet.address, lambda *a: {})
    assert report["signIn"]["error"].startswith("No Ethereum wallet found.")
    assert report["signIn"]["reloads"] == 0 and sign_requests == []
    assert report["meAfterSignIn"]["status"] == 401
    assert not SignInNonce.objects.exists()


def test_user_rejecting_the_signature_is_reported(live_server, wallet):
    report, sign_requests = run_harness(
        live_server, "user-rejects", wallet.address,
        lambda text, signer: {"error": {"code": 4001, "message": "User denied message signature."}})
    assert len(sign_requests) == 1
    assert report["signIn"]["error"] == "You rejected the request in your wallet."
    assert report["signIn"]["reloads"] == 0
    assert report["meAfterSignIn"]["status"] == 401
    assert SignInNonce.objects.get().used_at is None and not User.objects.exists()


def test_server_refusal_message_is_shown(live_server, wallet, other_wallet, sign):
    report, _ = run_harness(live_server, "wrong-key", wallet.address,
                            lambda text, signer: {"result": sign(other_wallet, text)})
    assert report["signIn"]["error"] == ERRORS["signer_mismatch"]
    assert report["signIn"]["reloads"] == 0
    assert report["meAfterSignIn"]["status"] == 401
    assert not User.objects.exists()
