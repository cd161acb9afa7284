"""Pytest plugin for browser tests: Debian's Chromium driven by Playwright, and a test wallet.

The wallet is injected as `window.ethereum` (EIP-1193) before any page script runs; every request
goes to Python, which signs with a real private key (eth-account) and sends transactions to the
test anvil. Signatures made this way are exactly what a browser wallet would produce.

Fixtures: `browser` (session), `portal` (function): a live server wired to the test chain, with
`portal.page`, `portal.wallet`, `portal.url(path)`.

`portal` fails the test on a page error and on any Content-Security-Policy violation Chromium reports
("Refused to ..."). Under the policy (no 'unsafe-eval') give `page.wait_for_function` an arrow function,
"() => document....": a bare expression string is eval'd inside the page, which the policy refuses.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from web3 import Web3

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]

# The injected provider: a minimal EIP-1193 object forwarding every request to Python.
WALLET_INIT_SCRIPT = """
(() => {
  const listeners = {};
  window.ethereum = {
    isTestWallet: true,
    async request({ method, params }) {
      const reply = JSON.parse(await window.__testWalletRequest(method, JSON.stringify(params || [])));
      if (reply.error) { const e = new Error(reply.error.message); e.code = reply.error.code; throw e; }
      return reply.result;
    },
    on(event, fn) { (listeners[event] = listeners[event] || []).push(fn); },
    removeListener(event, fn) { listeners[event] = (listeners[event] || []).filter((f) => f !== fn); },
  };
})();
"""


@dataclass
class TestWallet:
    """Signs with `key` (switchable with `use`), sends transactions through `w3`."""

    w3: Web3
    key: str
    rejecting: bool = False
    calls: list[tuple[str, list[Any]]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return Account.from_key(self.key).address

    def use(self, key: str) -> None:
        self.key = key

    def handle(self, method: str, params_json: str) -> str:
        params = json.loads(params_json)
        self.calls.append((method, params))
        if self.rejecting and method in {"eth_requestAccounts", "personal_sign", "eth_signTypedData_v4",
                                         "eth_sendTransaction"}:
            return json.dumps({"error": {"code": 4001, "message": "User rejected the request."}})
        try:
            return json.dumps({"result": self._dispatch(method, params)})
        except Exception as exc:  # a wallet reports failures to the page, it does not crash
            return json.dumps({"error": {"code": -32603, "message": f"{type(exc).__name__}: {exc}"}})

    def _dispatch(self, method: str, params: list[Any]) -> Any:
        if method in ("eth_requestAccounts", "eth_accounts"):
            return [self.address]
        if method == "eth_chainId":
            return hex(self.w3.eth.chain_id)
        if method == "personal_sign":
            message, address = params
            self._check_account(address)
            text = bytes.fromhex(message[2:]) if message.startswith("0x") else message.encode()
            return Account.sign_message(encode_defunct(primitive=text), self.key).signature.to_0x_hex()
        if method == "eth_signTypedData_v4":
            address, typed = params
            self._check_account(address)
            data = json.loads(typed) if isinstance(typed, str) else typed
            return Account.sign_typed_data(self.key, full_message=data).signature.to_0x_hex()
        if method == "eth_sendTransaction":
            (tx,) = params
            self._check_account(tx["from"])
            built = {
                "from": self.address,
                "to": Web3.to_checksum_address(tx["to"]),
                "data": tx.get("data", "0x"),
                "value": int(tx.get("value", "0x0"), 16),
                "chainId": self.w3.eth.chain_id,
                "nonce": self.w3.eth.get_transaction_count(self.address, "pending"),
            }
            built["gas"] = self.w3.eth.estimate_gas(built)
            built["maxFeePerGas"] = self.w3.eth.gas_price * 2
            built["maxPriorityFeePerGas"] = 1
            signed = Account.sign_transaction(built, self.key)
            return self.w3.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()
        if method in ("wallet_switchEthereumChain", "wallet_addEthereumChain"):
            return None
        if method == "eth_getTransactionReceipt":
            # Like a real wallet: null while the transaction is not mined yet (anvil's automine can lag
            # the eth_sendRawTransaction answer by a moment on a busy machine), not an error.
            receipt = self.w3.provider.make_request("eth_getTransactionReceipt", [params[0]]).get("result")
            if not receipt:
                return None
            return {"status": receipt["status"], "blockNumber": receipt["blockNumber"]}
        raise ValueError(f"the test wallet does not support {method}")

    def _check_account(self, address: str) -> None:
        if address.lower() != self.address.lower():
            raise ValueError(f"the wallet holds {self.address}, not {address}")


@dataclass
class Portal:
    base_url: str
    page: Any
    wallet: TestWallet
    chain: Any

    def url(self, path: str = "/") -> str:
        return self.base_url.rstrip("/") + path


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (the CI script installs it)")
    # Playwright's sync API keeps an event loop running in this thread from here on; the ORM calls
    # tests and fixtures make here are still synchronous, so Django's async-safety guard is lifted
    # for as long as the browser lives.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            yield chromium
            chromium.close()
    finally:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def portal(browser: Any, live_server: Any, settings: Any, chain_settings: Any) -> Iterator[Portal]:
    """A live portal on the test chain, a fresh browser context and a wallet holding dev account 4."""
    host = urlparse(live_server.url).netloc
    settings.SIWE_DOMAIN = host
    settings.SIWE_URI = live_server.url
    settings.ALLOWED_HOSTS = ["*"]
    wallet = TestWallet(w3=chain_settings.w3, key=chain_settings.key(4))
    context = browser.new_context()
    context.expose_function("__testWalletRequest", wallet.handle)
    context.add_init_script(WALLET_INIT_SCRIPT)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    csp_violations: list[str] = []
    page.on("console", lambda message: _record_csp_violation(message, csp_violations))
    try:
        yield Portal(base_url=live_server.url, page=page, wallet=wallet, chain=chain_settings)
    finally:
        context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"
    assert not csp_violations, f"Content-Security-Policy violations on the page: {csp_violations}"


def is_csp_violation(text: str) -> bool:
    """Chromium's console report of a Content-Security-Policy refusal ("Refused to load/apply/execute ...")."""
    return text.startswith("Refused to ") or "Content Security Policy" in text


def _record_csp_violation(message: Any, violations: list[str]) -> None:
    if message.type == "error" and is_csp_violation(message.text):
        violations.append(f"{message.text} (at {message.location.get('url', '?')})")
