"""Deploy the govapp contracts, describe the deployment, and seed a demo state. Plain Python, no Django.

    deployment = deploy_all(w3, deployer_key, executor_key_address=worker, guardian_addresses=council)
    write_deployment_file("var/deployment.json", deployment, w3.eth.chain_id)
    seed_demo_state(w3, deployment, deployer_key, holder_keys)

Deployment file format (read by the portal)::

    {"chain_id": 31337,
     "contracts": {"GovernanceToken": {"address": "0x..", "block": 1}, "UpgradeExecutor": {...},
                   "StarknetCoreState": {...}, "ArchiveAnchor": {...}}}
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract

from chain.tx import as_account, contract_at, deploy_contract, send_tx

TOKEN = "GovernanceToken"
EXECUTOR = "UpgradeExecutor"
CORE_STATE = "StarknetCoreState"
ANCHOR = "ArchiveAnchor"
#: The contracts deploy_all deploys, in deployment order.
DEPLOYED_CONTRACTS = (TOKEN, EXECUTOR, CORE_STATE, ANCHOR)

DEFAULT_TOKEN_NAME = "Governance Token"
DEFAULT_TOKEN_SYMBOL = "GOV"
DEFAULT_DELAY_SECONDS = 3600
#: Initial OS of the stand-in core contract (dev values; the hashes are arbitrary but fixed).
DEFAULT_OS_VERSION = "0.13.1"
DEFAULT_PROGRAM_HASH = Web3.keccak(text=f"govapp/starknet-os/{DEFAULT_OS_VERSION}/program")
DEFAULT_CONFIG_HASH = Web3.keccak(text=f"govapp/starknet-os/{DEFAULT_OS_VERSION}/config")

TOKEN_UNIT = 10**18


def bytes32_name(text: str) -> bytes:
    """UTF-8 bytes of `text` right-padded to 32 bytes (a readable bytes32 key, e.g. a parameter name).

    One possible encoding of StarknetCoreState parameter names; the portal may instead use keccak256.
    """
    raw = text.encode("utf-8")
    if len(raw) > 32:
        raise ValueError(f"{text!r} is longer than 32 bytes; hash it instead")
    return raw.ljust(32, b"\0")


# -- the deployment description ---------------------------------------------------------------


@dataclass(frozen=True)
class DeployedContract:
    """Address (checksummed) and deployment block of one contract."""

    address: str
    block: int


@dataclass
class Deployment:
    """Addresses and deployment blocks of the deployed contracts, keyed by contract name."""

    contracts: dict[str, DeployedContract]
    chain_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    # accessors
    def address(self, name: str) -> str:
        try:
            return self.contracts[name].address
        except KeyError:
            raise KeyError(f"the deployment has no {name} contract (has: {', '.join(self.contracts)})") from None

    def block(self, name: str) -> int:
        return self.contracts[name].block

    @property
    def token_address(self) -> str:
        return self.address(TOKEN)

    @property
    def executor_address(self) -> str:
        return self.address(EXECUTOR)

    @property
    def core_state_address(self) -> str:
        return self.address(CORE_STATE)

    @property
    def anchor_address(self) -> str:
        return self.address(ANCHOR)

    @property
    def start_block(self) -> int:
        """Earliest deployment block: where an indexer starts scanning."""
        return min(c.block for c in self.contracts.values())

    # web3 contract objects
    def contract(self, w3: Web3, name: str) -> Contract:
        return contract_at(w3, name, self.address(name))

    def token(self, w3: Web3) -> Contract:
        return self.contract(w3, TOKEN)

    def executor(self, w3: Web3) -> Contract:
        return self.contract(w3, EXECUTOR)

    def core_state(self, w3: Web3) -> Contract:
        return self.contract(w3, CORE_STATE)

    def anchor(self, w3: Web3) -> Contract:
        return self.contract(w3, ANCHOR)

    # (de)serialisation
    def to_dict(self, chain_id: int | None = None) -> dict[str, Any]:
        """{"chain_id": ..., "contracts": {name: {"address", "block"}}} (plus any extra keys)."""
        data: dict[str, Any] = {
            "chain_id": chain_id if chain_id is not None else self.chain_id,
            "contracts": {name: {"address": c.address, "block": c.block} for name, c in sorted(self.contracts.items())},
        }
        data.update(self.extra)
        return data

    def to_json(self, chain_id: int | None = None) -> str:
        """The deployment file text (pretty, sorted keys, trailing newline)."""
        return json.dumps(self.to_dict(chain_id), indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Deployment:
        contracts = {
            name: DeployedContract(Web3.to_checksum_address(entry["address"]), int(entry["block"]))
            for name, entry in data["contracts"].items()
        }
        chain_id = data.get("chain_id")
        extra = {k: v for k, v in data.items() if k not in ("chain_id", "contracts")}
        return cls(contracts=contracts, chain_id=int(chain_id) if chain_id is not None else None, extra=extra)

    @classmethod
    def from_json(cls, text: str | bytes | dict[str, Any]) -> Deployment:
        return cls.from_dict(text if isinstance(text, dict) else json.loads(text))


def write_deployment_file(path: str | os.PathLike, deployment: Deployment, chain_id: int) -> Path:
    """Write the deployment file atomically (temp file + rename); creates parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = deployment.to_json(chain_id)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_deployment_file(path: str | os.PathLike) -> Deployment:
    """Read a file written by write_deployment_file (chain_id included)."""
    return Deployment.from_json(Path(path).read_text(encoding="utf-8"))


# -- deploying ----------------------------------------------------------------------------------


def deploy_all(
    w3: Web3,
    deployer_key: str | bytes | LocalAccount,
    *,
    executor_key_address: str,
    guardian_addresses: Sequence[str],
    delay_seconds: int = DEFAULT_DELAY_SECONDS,
    token_name: str = DEFAULT_TOKEN_NAME,
    token_symbol: str = DEFAULT_TOKEN_SYMBOL,
    initial_program_hash: bytes = DEFAULT_PROGRAM_HASH,
    initial_config_hash: bytes = DEFAULT_CONFIG_HASH,
    initial_os_version: str = DEFAULT_OS_VERSION,
    anchorer_address: str | None = None,
    admin_address: str | None = None,
) -> Deployment:
    """Deploy GovernanceToken, UpgradeExecutor, StarknetCoreState and ArchiveAnchor.

    * GovernanceToken(token_name, token_symbol): owner (minter) = the deployer.
    * UpgradeExecutor(delay_seconds, admin, [executor_key_address], guardian_addresses):
      DEFAULT_ADMIN_ROLE to `admin_address` (default: the deployer), EXECUTOR_ROLE to the portal's
      worker key `executor_key_address`, GUARDIAN_ROLE to each guardian.
    * StarknetCoreState(governor = the UpgradeExecutor, initial program/config hash, OS version).
    * ArchiveAnchor(owner = `anchorer_address`, default: the deployer).
    """
    deployer = as_account(deployer_key)
    admin = Web3.to_checksum_address(admin_address or deployer.address)
    anchorer = Web3.to_checksum_address(anchorer_address or deployer.address)
    executor_key = Web3.to_checksum_address(executor_key_address)
    guardians = [Web3.to_checksum_address(a) for a in guardian_addresses]

    contracts: dict[str, DeployedContract] = {}

    def deploy(name: str, *args: Any) -> Contract:
        contract, receipt = deploy_contract(w3, name, deployer, *args)
        contracts[name] = DeployedContract(contract.address, int(receipt["blockNumber"]))
        return contract

    deploy(TOKEN, token_name, token_symbol)
    executor = deploy(EXECUTOR, int(delay_seconds), admin, [executor_key], guardians)
    deploy(CORE_STATE, executor.address, bytes(initial_program_hash), bytes(initial_config_hash), initial_os_version)
    deploy(ANCHOR, anchorer)
    return Deployment(contracts=contracts, chain_id=w3.eth.chain_id)


# -- demo state ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoState:
    """What seed_demo_state did: token balances and delegates (None = undelegated) by holder."""

    balances: dict[str, int]
    delegates: dict[str, str | None]
    treasury: int
    block: int


#: Default demo balances in whole tokens, by holder position (cycled if there are more holders).
DEMO_AMOUNTS = (400_000, 250_000, 150_000, 120_000, 80_000, 60_000, 40_000, 25_000, 10_000)
DEMO_TREASURY = 1_000_000


def demo_delegation_plan(addresses: Sequence[str]) -> dict[str, str | None]:
    """Who delegates to whom in the demo: the first third self-delegate, the next holders delegate to
    one of them (round-robin), and the last holder stays undelegated (no votes)."""
    n = len(addresses)
    if n == 0:
        return {}
    if n == 1:
        return {addresses[0]: addresses[0]}
    n_self = max(1, n // 3)
    plan: dict[str, str | None] = {}
    for i, address in enumerate(addresses):
        if i == n - 1:
            plan[address] = None
        elif i < n_self:
            plan[address] = address
        else:
            plan[address] = addresses[i % n_self]
    return plan


def seed_demo_state(
    w3: Web3,
    deployment: Deployment,
    owner_key: str | bytes | LocalAccount,
    holders: Sequence[str | bytes | LocalAccount],
    *,
    amounts: Sequence[int] | None = None,
    delegations: dict[str, str | None] | None = None,
    treasury_amount: int = DEMO_TREASURY * TOKEN_UNIT,
) -> DemoState:
    """Mint demo balances to `holders` (private keys, e.g. anvil accounts 1..9), fund the treasury
    (the UpgradeExecutor) and set delegations.

    `owner_key` is the token owner (the deployer). `amounts` are in token base units (default:
    DEMO_AMOUNTS whole tokens). `delegations` maps holder address -> delegatee (None: leave
    undelegated); default demo_delegation_plan (some self-delegate, some delegate to others, the
    last one stays undelegated). Each holder sends its own delegate transaction.
    """
    token = deployment.token(w3)
    accounts = [as_account(h) for h in holders]
    addresses = [a.address for a in accounts]
    if amounts is None:
        amounts = [DEMO_AMOUNTS[i % len(DEMO_AMOUNTS)] * TOKEN_UNIT for i in range(len(accounts))]
    if len(amounts) != len(accounts):
        raise ValueError(f"{len(amounts)} amounts for {len(accounts)} holders")
    plan = demo_delegation_plan(addresses) if delegations is None else dict(delegations)

    recipients = list(addresses)
    values = [int(a) for a in amounts]
    if treasury_amount:
        recipients.append(deployment.executor_address)
        values.append(int(treasury_amount))
    receipt = send_tx(w3, token.functions.mintBatch(recipients, values), owner_key)

    for account in accounts:
        delegatee = plan.get(account.address)
        if delegatee is not None:
            receipt = send_tx(w3, token.functions.delegate(Web3.to_checksum_address(delegatee)), account)

    return DemoState(
        balances=dict(zip(addresses, values, strict=False)),
        delegates={a: (Web3.to_checksum_address(plan[a]) if plan.get(a) else None) for a in addresses},
        treasury=int(treasury_amount),
        block=int(receipt["blockNumber"]),
    )
