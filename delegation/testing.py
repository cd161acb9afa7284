"""Test helpers of delegation (tests/delegation): real keys, real signatures, token helpers on the test chain."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.test import Client

from chain.deploy import TOKEN_UNIT
from chain.testing import sign_typed  # noqa: F401 - shared test helpers, imported from here too

#: Dev accounts used as holders/delegates here (0 deploys and owns the token, 1 executes, 2 relays,
#: 4 is the browser wallet, 7-9 guardians).
HOLDER, DELEGATE, OTHER = 3, 5, 6


@dataclass
class Api:
    client: Client

    def get(self, path: str, **params: Any):
        return self.client.get(path, params)

    def post(self, path: str, body: Any):
        return self.client.post(path, json.dumps(body), content_type="application/json")


@dataclass
class Chain:
    """The test chain plus the token helpers these tests need."""

    ctx: Any

    def mint(self, index_or_address: int | str, whole_tokens: int) -> int:
        to = self.ctx.address(index_or_address) if isinstance(index_or_address, int) else index_or_address
        amount = whole_tokens * TOKEN_UNIT
        self.ctx.send(self.ctx.token.functions.mint(to, amount), 0)
        return amount

    def delegate(self, holder_index: int, delegatee: str) -> None:
        self.ctx.send(self.ctx.token.functions.delegate(delegatee), holder_index)

    def nonce(self, address: str) -> int:
        return self.ctx.token.functions.nonces(address).call()

    def delegates(self, address: str) -> str:
        return self.ctx.token.functions.delegates(address).call()

    def tx_count(self, address: str) -> int:
        return self.ctx.w3.eth.get_transaction_count(address, "pending")

    def votes(self, address: str) -> int:
        return self.ctx.token.functions.getVotes(address).call()


def publish(api: Api, key: str, typed: dict[str, Any]):
    """POST a statement signed with `key`."""
    from django.urls import reverse

    body = {"typed_data": typed, "signature": sign_typed(key, typed)}
    return api.post(reverse("delegation-api:statement-list"), body)
