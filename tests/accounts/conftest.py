"""Fixtures for the wallet sign-in tests: real keys, real signatures, a CSRF-enforcing client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount


def personal_sign(account: LocalAccount, message: str) -> str:
    """EIP-191 personal_sign of `message` by `account`, as 0x-hex (what wallets return)."""
    return account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()


@pytest.fixture
def sign():
    """sign(account, message) -> the personal_sign signature, as a wallet returns it."""
    return personal_sign


@pytest.fixture
def wallet() -> LocalAccount:
    return Account.create()


@pytest.fixture
def other_wallet() -> LocalAccount:
    return Account.create()


@dataclass
class Api:
    """A browser-like client: CSRF enforced, token taken from the csrftoken cookie."""

    client: Client

    @property
    def csrf_token(self) -> str:
        return self.client.cookies["csrftoken"].value

    def fetch_csrf(self) -> None:
        response = self.client.get(reverse("accounts:me"))
        assert "csrftoken" in response.cookies, "GET /accounts/me must set the CSRF cookie"

    def post(self, name: str, data: Any = None, *, csrf: bool = True, **extra: Any):
        headers = {"X-CSRFToken": self.csrf_token} if csrf else {}
        return self.client.post(reverse(name), data if data is not None else {},
                                content_type="application/json", headers=headers, **extra)

    def me(self):
        return self.client.get(reverse("accounts:me"))

    def nonce(self, address: str) -> dict:
        response = self.post("accounts:nonce", {"address": address})
        assert response.status_code == 200, response.content
        return response.json()

    def login(self, message: str, signature: str):
        return self.post("accounts:login", {"message": message, "signature": signature})

    def logout(self):
        return self.post("accounts:logout")

    def signed_in_as(self) -> str | None:
        """The address /accounts/me reports, None when it answers 401 (checked, not assumed)."""
        response = self.me()
        if response.status_code == 401:
            assert response.json()["error"]["code"] == "not_authenticated"
            assert "_auth_user_id" not in self.client.session
            return None
        assert response.status_code == 200, response.content
        return response.json()["address"]


def make_api() -> Api:
    api = Api(Client(enforce_csrf_checks=True))
    api.fetch_csrf()
    return api


@pytest.fixture
def api(db) -> Api:
    return make_api()


@pytest.fixture
def new_api(db):
    """A factory of further independent browsers (e.g. an attacker's)."""
    return make_api
