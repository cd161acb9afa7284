"""The portal's view of the chain: one configured Web3 client and the deployed contracts."""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings
from web3 import Web3
from web3.contract import Contract

from chain.deploy import Deployment, read_deployment_file
from govapp.errors import DomainError


class ChainUnavailable(DomainError):
    code = "chain_unavailable"
    status = 503


@lru_cache(maxsize=4)
def _web3_for(url: str, timeout: float) -> Web3:
    return Web3(Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}))


def get_web3() -> Web3:
    """The Web3 client for CHAIN_RPC_URL (cached per URL)."""
    return _web3_for(settings.CHAIN_RPC_URL, settings.CHAIN_RPC_TIMEOUT)


def get_deployment() -> Deployment:
    """The contracts of CHAIN_DEPLOYMENT_FILE, checked against CHAIN_ID."""
    path = settings.CHAIN_DEPLOYMENT_FILE
    try:
        deployment = read_deployment_file(path)
    except FileNotFoundError as exc:
        raise ChainUnavailable(
            f"No deployment file at {path}; run `make run` or set CHAIN_DEPLOYMENT_FILE."
        ) from exc
    if deployment.chain_id != settings.CHAIN_ID:
        raise ChainUnavailable(
            f"The deployment file is for chain {deployment.chain_id}, but CHAIN_ID is {settings.CHAIN_ID}."
        )
    return deployment


def get_contract(name: str, w3: Web3 | None = None) -> Contract:
    """A deployed contract by artifact name, e.g. get_contract("GovernanceToken")."""
    return get_deployment().contract(w3 or get_web3(), name)
