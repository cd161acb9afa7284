"""chain.anvil / chain.deploy / chain.errors / chain.tx helpers against a real anvil."""

from __future__ import annotations

import json

import pytest
from eth_abi import encode as abi_encode
from hexbytes import HexBytes
from web3 import Web3

from chain.anvil import DEV_MNEMONIC, AnvilError, AnvilProcess, dev_address, dev_private_keys, rpc_call
from chain.artifacts import load_artifact
from chain.deploy import (
    Deployment,
    demo_delegation_plan,
    read_deployment_file,
    seed_demo_state,
    write_deployment_file,
)
from chain.errors import decode_revert, describe_revert
from chain.testing import TEST_DELAY_SECONDS
from chain.tx import TransactionReverted, send_tx

# Well-known anvil/hardhat dev account 0 (public test key).
ANVIL_KEY_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_ADDRESS_0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ANVIL_ADDRESS_9 = "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720"


def test_dev_keys_are_anvils_default_accounts(w3, dev_keys):
    assert DEV_MNEMONIC.endswith("junk")
    assert dev_keys[0] == ANVIL_KEY_0
    assert dev_address(0) == ANVIL_ADDRESS_0
    assert dev_address(9) == ANVIL_ADDRESS_9
    assert len(set(dev_private_keys(10))) == 10
    assert [Web3.to_checksum_address(a) for a in w3.eth.accounts] == [dev_address(i) for i in range(10)]


def test_anvil_process_lifecycle_and_port_clash(anvil):
    assert anvil.running and anvil.rpc_url.startswith("http://127.0.0.1:")
    with pytest.raises(AnvilError, match="already in use"):
        AnvilProcess(port=anvil.port).start()
    assert int(rpc_call(anvil.rpc_url, "eth_chainId"), 16) == 31337  # the session node is untouched

    with AnvilProcess(chain_id=4242, accounts=2) as node:
        assert int(rpc_call(node.rpc_url, "eth_chainId"), 16) == 4242
        assert len(rpc_call(node.rpc_url, "eth_accounts")) == 2
        url = node.rpc_url
    assert not node.running
    with pytest.raises(OSError):
        rpc_call(url, "eth_chainId", timeout=0.5)
    node.stop()  # idempotent


def test_deployment_json_and_file_roundtrip(deployment, tmp_path):
    assert set(deployment.contracts) == {"GovernanceToken", "UpgradeExecutor", "StarknetCoreState", "ArchiveAnchor"}
    assert deployment.chain_id == 31337
    blocks = [deployment.block(n) for n in ("GovernanceToken", "UpgradeExecutor", "StarknetCoreState", "ArchiveAnchor")]
    assert blocks == sorted(blocks) and deployment.start_block == blocks[0] >= 1

    path = write_deployment_file(tmp_path / "var" / "deployment.json", deployment, 31337)
    data = json.loads(path.read_text())
    assert data["chain_id"] == 31337
    assert data["contracts"]["UpgradeExecutor"] == {
        "address": deployment.executor_address,
        "block": deployment.block("UpgradeExecutor"),
    }
    again = read_deployment_file(path)
    assert again == deployment
    assert Deployment.from_json(deployment.to_json()) == deployment
    assert list(tmp_path.joinpath("var").iterdir()) == [path]  # no temp file left behind


def test_deployed_code_matches_artifacts(chain):
    for name, entry in chain.deployment.contracts.items():
        code = chain.w3.eth.get_code(entry.address)
        deployed = HexBytes(load_artifact(name)["deployedBytecode"])
        assert len(code) == len(deployed), name  # same runtime code, modulo patched-in immutables
    # ArchiveAnchor has no immutables: byte-for-byte identical
    assert chain.w3.eth.get_code(chain.deployment.anchor_address) == HexBytes(
        load_artifact("ArchiveAnchor")["deployedBytecode"]
    )


def test_demo_delegation_plan_shape():
    addrs = [f"0x{i:040x}" for i in range(1, 10)]
    plan = demo_delegation_plan(addrs)
    assert plan[addrs[-1]] is None  # one stays undelegated
    assert sum(1 for a, d in plan.items() if d == a) == 3  # some self-delegate
    assert sum(1 for a, d in plan.items() if d not in (a, None)) == 5  # some delegate to others
    assert demo_delegation_plan(addrs[:1]) == {addrs[0]: addrs[0]}
    assert demo_delegation_plan([]) == {}


def test_seed_demo_state(chain):
    holders = chain.keys[1:10]
    demo = seed_demo_state(chain.w3, chain.deployment, chain.deployer_key, holders)
    token = chain.token
    assert token.functions.balanceOf(chain.deployment.executor_address).call() == demo.treasury > 0
    total_votes = 0
    for address, balance in demo.balances.items():
        assert token.functions.balanceOf(address).call() == balance > 0
        delegate = token.functions.delegates(address).call()
        assert delegate == (demo.delegates[address] or "0x" + "00" * 20)
    for address in demo.balances:
        expected = sum(b for a, b in demo.balances.items() if demo.delegates[a] == address)
        votes = token.functions.getVotes(address).call()
        assert votes == expected
        total_votes += votes
    undelegated = [a for a, d in demo.delegates.items() if d is None]
    assert len(undelegated) == 1
    assert total_votes == sum(demo.balances.values()) - demo.balances[undelegated[0]]


def test_error_decoding():
    selector = Web3.keccak(text="AlreadyExecuted(bytes32)")[:4]
    pid = b"\x11" * 32
    decoded = decode_revert("0x" + (selector + pid).hex())
    assert decoded.name == "AlreadyExecuted" and decoded.args == (pid,) and decoded.kwargs == {"proposalId": pid}
    assert str(decoded) == "AlreadyExecuted(0x" + "11" * 32 + ")"
    error_string = bytes.fromhex("08c379a0") + abi_encode(["string"], ["nope"])
    assert describe_revert(error_string) == "Error('nope')"
    panic = bytes.fromhex("4e487b71") + abi_encode(["uint256"], [0x11])
    assert describe_revert(panic) == "Panic(0x11: arithmetic overflow or underflow)"
    assert decode_revert("0xdeadbeef") is None
    assert describe_revert("0xdeadbeef") == "0xdeadbeef"
    assert decode_revert(None) is None and decode_revert("0x") is None


def test_send_tx_reports_out_of_gas_and_plain_eth(chain):
    token = chain.token
    with pytest.raises(TransactionReverted, match="out of gas") as info:
        send_tx(chain.w3, token.functions.mint(chain.address(2), 1), chain.deployer_key, gas=30_000)
    assert info.value.receipt is not None and info.value.receipt["status"] == 0
    before = chain.w3.eth.get_balance(chain.address(3))
    send_tx(chain.w3, {"to": chain.address(3), "value": 12345}, chain.key(2))
    assert chain.w3.eth.get_balance(chain.address(3)) == before + 12345
    # the executor delay seen by the fixture
    assert chain.executor.functions.delay().call() == TEST_DELAY_SECONDS
