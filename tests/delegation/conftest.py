"""Fixtures for delegation: the real chain (anvil), real keys and signatures, the portal's API client."""

from __future__ import annotations

import pytest
from eth_account import Account

from archive.testing import archive_flushable  # noqa: F401 - autouse: flushes may empty the archive
from delegation.testing import Api, Chain


@pytest.fixture
def api(client) -> Api:
    return Api(client)


@pytest.fixture
def onchain(chain_settings) -> Chain:
    return Chain(chain_settings)


@pytest.fixture
def relayer_address(settings) -> str:
    return Account.from_key(settings.RELAYER_PRIVATE_KEY).address
