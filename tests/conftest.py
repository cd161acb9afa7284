"""Shared fixtures: the real chain (chain.testing) wired into the portal's settings."""

import os
import uuid

import pytest
from hypothesis import settings as hypothesis_settings

from chain.deploy import write_deployment_file

pytest_plugins = ["chain.testing", "govapp.testing", "archive.testing"]

# `make test` explores the same property-test examples on every run, so CI's verdict does not depend on luck;
# HYPOTHESIS_PROFILE=explore searches new ones (and keeps failures in .hypothesis/ for replay).
hypothesis_settings.register_profile("deterministic", derandomize=True)
hypothesis_settings.register_profile("explore", derandomize=False)
hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "deterministic"))


@pytest.fixture
def chain_settings(settings, anvil, chain, tmp_path):
    """Point the portal at the test anvil and its deployment (and revert the chain afterwards)."""
    settings.CHAIN_RPC_URL = anvil.rpc_url
    settings.CHAIN_ID = chain.w3.eth.chain_id
    settings.CHAIN_DEPLOYMENT_FILE = write_deployment_file(
        tmp_path / "deployment.json", chain.deployment, settings.CHAIN_ID)
    return chain


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(settings):
    """The test suite's rate limits: the deployment defaults (settings.RATE_LIMITS) stay in force, but each
    test counts in its own key space, so writes of earlier tests (or of a parallel worker) never add up.
    A test that writes more than the limits allow in a minute raises settings.RATE_LIMITS itself."""
    settings.RATE_LIMIT_KEY_PREFIX = f"govapp:ratelimit:test:{uuid.uuid4().hex}"
