"""Fixtures of the archive tests (helpers live in archive.testing)."""

from __future__ import annotations

import pytest
from eth_account import Account

from archive.testing import (
    TEST_KEYS,
    Builder,
    archive_flushable,  # noqa: F401 - autouse: lets flushes empty the archive
)


@pytest.fixture
def accounts():
    return [Account.from_key(key) for key in TEST_KEYS]


@pytest.fixture
def staff_user(django_user_model, accounts):
    return django_user_model.objects.create_user(accounts[0].address, is_staff=True)


@pytest.fixture
def plain_user(django_user_model, accounts):
    return django_user_model.objects.create_user(accounts[1].address)


@pytest.fixture
def builder(accounts):
    return Builder(accounts)
