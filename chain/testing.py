"""Pytest plugin: a real anvil chain with the govapp contracts deployed.

Register with ``pytest_plugins = ["chain.testing"]`` (tests/conftest.py). Fixtures:

* ``anvil`` (session): an AnvilProcess on a free port, stopped at the end of the session.
* ``w3`` (session): Web3 HTTPProvider on it.
* ``dev_keys`` (session): private keys of anvil's 10 default accounts.
* ``deployment`` (session): deploy_all with account 0 as deployer/admin/token owner/anchorer,
  account 1 as the portal's executor key, accounts 7, 8, 9 as guardians, delay 3600 s.
* ``chain`` (function): takes an evm_snapshot before the test and reverts to it afterwards (state,
  blocks and time), and gives a ChainContext with handy helpers.

Each pytest-xdist worker gets its own anvil. No Django needed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3
from web3.contract import Contract
from web3.types import TxReceipt

from chain.anvil import AnvilProcess, dev_private_keys
from chain.deploy import Deployment, deploy_all
from chain.tx import deploy_contract, send_tx

DEPLOYER_INDEX = 0
EXECUTOR_KEY_INDEX = 1
GUARDIAN_INDICES = (7, 8, 9)
TEST_DELAY_SECONDS = 3600


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    """Raw JSON-RPC call (anvil_*/evm_* methods); returns the result, raises on error."""
    response = w3.provider.make_request(method, list(params))
    if response.get("error"):
        raise RuntimeError(f"{method} failed: {response['error']}")
    return response.get("result")


def sign_typed(key: str, typed_data: dict[str, Any]) -> str:
    """What a wallet's eth_signTypedData_v4 returns for `typed_data` (as JSON would carry it) signed by `key`."""
    return Account.sign_typed_data(key, full_message=json.loads(json.dumps(typed_data))).signature.to_0x_hex()


def index_chain() -> int:
    """Index the chain up to its head with the portal's indexer (needs Django); returns the indexed head."""
    from chain.indexer import follow_once
    from chain.selectors import indexer_status

    result = follow_once(respect_backoff=False)
    assert result["status"] == "ok", result
    return int(indexer_status()["head_block"])


@dataclass
class ChainContext:
    """What the ``chain`` fixture yields: web3, the deployment, the dev keys and helpers."""

    w3: Web3
    deployment: Deployment
    keys: list[str]
    snapshot_id: str

    # accounts
    def key(self, index: int) -> str:
        return self.keys[index]

    def address(self, index: int) -> str:
        return Account.from_key(self.keys[index]).address

    @property
    def deployer_key(self) -> str:
        return self.keys[DEPLOYER_INDEX]

    @property
    def executor_key(self) -> str:
        return self.keys[EXECUTOR_KEY_INDEX]

    @property
    def guardian_keys(self) -> list[str]:
        return [self.keys[i] for i in GUARDIAN_INDICES]

    # contracts
    @property
    def token(self) -> Contract:
        return self.deployment.token(self.w3)

    @property
    def executor(self) -> Contract:
        return self.deployment.executor(self.w3)

    @property
    def core_state(self) -> Contract:
        return self.deployment.core_state(self.w3)

    @property
    def anchor(self) -> Contract:
        return self.deployment.anchor(self.w3)

    # transactions
    def send(self, contract_fn: Any, key: str | int, **kw: Any) -> TxReceipt:
        """send_tx with a key or a dev account index."""
        return send_tx(self.w3, contract_fn, self.keys[key] if isinstance(key, int) else key, **kw)

    def deploy(self, name: str, *args: Any, key: str | int = DEPLOYER_INDEX) -> Contract:
        """Deploy another instance of artifact `name`."""
        contract, _ = deploy_contract(self.w3, name, self.keys[key] if isinstance(key, int) else key, *args)
        return contract

    # chain control
    def rpc(self, method: str, *params: Any) -> Any:
        return rpc(self.w3, method, *params)

    @property
    def block_number(self) -> int:
        return self.w3.eth.block_number

    @property
    def timestamp(self) -> int:
        return self.w3.eth.get_block("latest")["timestamp"]

    def mine(self, blocks: int = 1) -> int:
        """Mine `blocks` empty blocks; returns the new block number."""
        self.rpc("anvil_mine", hex(blocks))
        return self.block_number

    def increase_time(self, seconds: int) -> int:
        """Advance time by `seconds` and mine a block; returns the new latest timestamp."""
        self.rpc("evm_increaseTime", int(seconds))
        self.rpc("evm_mine")
        return self.timestamp

    def snapshot(self) -> str:
        return self.rpc("evm_snapshot")

    def revert(self, snapshot_id: str) -> bool:
        return bool(self.rpc("evm_revert", snapshot_id))


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilProcess]:
    node = AnvilProcess()
    node.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def w3(anvil: AnvilProcess) -> Web3:
    return Web3(Web3.HTTPProvider(anvil.rpc_url, request_kwargs={"timeout": 60}))


@pytest.fixture(scope="session")
def dev_keys() -> list[str]:
    return dev_private_keys(10)


@pytest.fixture(scope="session")
def deployment(w3: Web3, dev_keys: list[str]) -> Deployment:
    return deploy_all(
        w3,
        dev_keys[DEPLOYER_INDEX],
        executor_key_address=Account.from_key(dev_keys[EXECUTOR_KEY_INDEX]).address,
        guardian_addresses=[Account.from_key(dev_keys[i]).address for i in GUARDIAN_INDICES],
        delay_seconds=TEST_DELAY_SECONDS,
    )


@pytest.fixture
def chain(w3: Web3, deployment: Deployment, dev_keys: list[str]) -> Iterator[ChainContext]:
    snapshot_id = rpc(w3, "evm_snapshot")
    try:
        yield ChainContext(w3=w3, deployment=deployment, keys=list(dev_keys), snapshot_id=snapshot_id)
    finally:
        if not rpc(w3, "evm_revert", snapshot_id):
            raise RuntimeError(f"evm_revert({snapshot_id}) failed: later tests would see this test's state")
