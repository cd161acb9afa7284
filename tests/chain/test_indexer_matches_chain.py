"""The index says exactly what the chain says — for every account and block — before and after reorgs."""

from __future__ import annotations

from collections.abc import Mapping

import pytest
from eth_utils import keccak
from web3 import Web3

from chain import selectors
from chain.models import ContractEvent, IndexedBlock, IndexerState, LatestVotes, VotesCheckpoint

pytestmark = pytest.mark.django_db


def _extra_accounts(chain) -> list[str]:
    # the deployer (token owner, minter) and the executor (treasury address) take part too
    return [chain.address(0), chain.deployment.executor_address]


def test_random_history_then_a_reorg_to_a_longer_fork(index, scenario, chain_settings, check):
    chain = chain_settings
    history = scenario(20_240_601)
    history.run(30)
    fork_snapshot, fork_block = chain.snapshot(), chain.block_number
    history.run(18)
    accounts = history.addresses + _extra_accounts(chain)
    assert len(set(accounts)) >= 15
    assert {"delegate_by_sig", "permit_and_transfer_from", "bundle", "transfer_batch", "mint_batch"} <= set(history.log)

    first = index(range_size=4, max_range=16)  # small ranges: many ranges, adaptive growth capped
    assert first.head == chain.block_number and first.caught_up
    assert first.ranges >= 4 and first.events > 120
    start = chain.deployment.start_block
    compared = check.matches_chain(chain, accounts, range(start, first.head + 1))
    assert compared > 2_000
    abandoned = set(ContractEvent.objects.filter(block_number__gt=fork_block).values_list("block_hash", flat=True))
    assert abandoned

    # the chain forgets everything after fork_block and grows a different, longer branch
    assert chain.revert(fork_snapshot)
    other = scenario(7, history.accounts)
    other.run(30)
    if chain.block_number <= first.head:
        chain.mine(first.head - chain.block_number + 3)
    second = index()
    assert second.reorgs == 1
    state = IndexerState.objects.get()
    assert state.reorgs == 1 and state.last_reorg_depth >= first.head - fork_block
    assert state.head_block == second.head == chain.block_number
    check.matches_chain(chain, accounts, range(start, second.head + 1))
    assert check.on_canonical_chain(chain) > 10
    assert not ContractEvent.objects.filter(block_hash__in=abandoned).exists()
    assert not IndexedBlock.objects.filter(hash__in=abandoned).exists()


def test_reorg_to_a_shorter_chain_and_anvil_reorg_at_the_same_height(index, scenario, chain_settings, check):
    chain = chain_settings
    history = scenario(99)
    history.run(20)
    snapshot, fork_block = chain.snapshot(), chain.block_number
    history.run(10)
    index()
    accounts = history.addresses + _extra_accounts(chain)

    # 1. the chain gets shorter: our head block no longer exists
    assert chain.revert(snapshot)
    result = index()
    assert result.reorgs == 1 and result.head == fork_block == chain.block_number
    check.matches_chain(chain, accounts, range(chain.deployment.start_block, result.head + 1))

    # 2. anvil_reorg: the last 3 blocks are replaced by blocks holding other transactions (same height)
    history.forget_nonces()
    history.run(8)
    index()
    height = chain.block_number
    before = {n: h for n, h in IndexedBlock.objects.filter(number__gt=height - 3).values_list("number", "hash")}
    sender = history.accounts[0]
    balance = int(chain.rpc("eth_call", {"to": chain.token.address, "data": "0x70a08231" + sender.address[2:].lower()
                                         .rjust(64, "0")}, hex(height - 3)), 16)
    assert balance > 0
    tx = {"to": chain.token.address, "data": chain.token.encode_abi("transfer", [history.accounts[1].address,
                                                                               balance // 2]),
          "gas": 200_000, "nonce": int(history.w3.eth.get_transaction_count(sender.address, height - 3)),
          "chainId": history.chain_id, "maxFeePerGas": 200 * 10**9, "maxPriorityFeePerGas": 10**9, "value": 0}
    raw = sender.sign_transaction(tx).raw_transaction.to_0x_hex()
    chain.rpc("anvil_reorg", 3, [[raw, 0]])
    assert chain.block_number == height
    assert all(chain.w3.eth.get_block(n)["hash"].to_0x_hex() != h for n, h in before.items())
    result = index()
    assert result.reorgs == 1
    check.matches_chain(chain, accounts, range(chain.deployment.start_block, result.head + 1))
    assert check.on_canonical_chain(chain) > 5
    assert IndexerState.objects.get().reorgs == 2


def test_confirmations_keep_the_index_behind_the_head(index, scenario, chain_settings, settings, check):
    chain = chain_settings
    settings.CHAIN_CONFIRMATIONS = 3
    scenario(5).run(12)
    result = index()
    assert result.head == chain.block_number - 3
    assert selectors.indexed_head() == chain.block_number - 3
    assert not ContractEvent.objects.filter(block_number__gt=result.head).exists()
    status = selectors.indexer_status()
    assert status["lag"] == 3 and status["confirmations"] == 3 and status["stalled"] is False
    with pytest.raises(selectors.BlockNotIndexed):
        selectors.voting_power(chain.address(0), result.head + 1)


def _normalise(abi_input: dict, value):  # noqa: ANN001, ANN202 - web3's decoded value -> the index's JSON form
    typ = abi_input["type"]
    if typ.endswith("]"):
        return [_normalise(dict(abi_input, type=typ[: typ.rindex("[")]), v) for v in value]
    if typ.startswith("tuple"):
        items = value.values() if isinstance(value, Mapping) else value
        return {c["name"]: _normalise(c, v) for c, v in zip(abi_input["components"], items, strict=True)}
    if typ == "address":
        return value.lower()
    if typ.startswith(("uint", "int")):
        return str(value)
    if typ.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return value


def test_every_contract_event_is_stored_raw_and_decoded_like_web3_decodes_it(index, scenario, chain_settings):
    """Token, executor (with a tuple[] argument), core state and anchor events: our eth-abi decoding equals
    web3's process_log, and the raw topics/data are what the node returned."""
    chain = chain_settings
    scenario(11).run(6)
    core, executor, anchor = chain.core_state, chain.executor, chain.anchor
    proposal_id = keccak(text="indexer-test-proposal")
    actions = [(core.address, 0, core.encode_abi("setParameter", [b"fee".ljust(32, b"\0"), 42])),
               (core.address, 0, core.encode_abi("upgradeOs", [b"\x01" * 32, b"\x02" * 32, "0.14.0 \"beta\"\n"]))]
    chain.send(executor.functions.schedule(proposal_id, actions, b"\x07" * 32), chain.executor_key)
    chain.increase_time(3601)
    chain.send(executor.functions.execute(proposal_id, actions, b"\x07" * 32), chain.executor_key)
    chain.send(anchor.functions.anchor(1, b"\x09" * 32), chain.deployer_key)
    index()

    stored = list(ContractEvent.objects.order_by("block_number", "log_index"))
    names = {(e.contract, e.event) for e in stored}
    assert {("UpgradeExecutor", "ProposalScheduled"), ("UpgradeExecutor", "ProposalExecuted"),
            ("UpgradeExecutor", "ActionExecuted"), ("UpgradeExecutor", "RoleGranted"),
            ("StarknetCoreState", "ParameterChanged"), ("StarknetCoreState", "OsUpgraded"),
            ("ArchiveAnchor", "Anchored"), ("ArchiveAnchor", "OwnershipTransferred"),
            ("GovernanceToken", "Transfer"), ("GovernanceToken", "DelegateChanged"),
            ("GovernanceToken", "DelegateVotesChanged")} <= names
    assert ("GovernanceToken", "OwnershipTransferred") not in names  # only the checkpoint events of the token

    contracts = {"GovernanceToken": chain.token, "UpgradeExecutor": executor, "StarknetCoreState": core,
                 "ArchiveAnchor": anchor}
    for event in stored:
        contract = contracts[event.contract]
        receipt = chain.w3.eth.get_transaction_receipt(event.tx_hash)
        (log,) = [lg for lg in receipt["logs"] if lg["logIndex"] == event.log_index]
        assert [t.to_0x_hex() for t in log["topics"]] == event.topics
        assert log["data"].to_0x_hex() == event.data
        assert log["blockHash"].to_0x_hex() == event.block_hash
        decoded = getattr(contract.events, event.event)().process_log(log)
        (entry,) = [e for e in contract.abi if e["type"] == "event" and e["name"] == event.event]
        abi = {i["name"]: i for i in entry["inputs"]}
        expected = {name: _normalise(abi[name], value) for name, value in decoded["args"].items()}
        assert event.args == expected, (event.contract, event.event)
        assert event.block_timestamp == chain.w3.eth.get_block(event.block_number)["timestamp"]

    scheduled = ContractEvent.objects.get(event="ProposalScheduled")
    assert scheduled.args["proposalId"] == "0x" + proposal_id.hex()
    assert scheduled.args["actions"][0]["target"] == core.address.lower()
    assert selectors.contract_events("ArchiveAnchor", "Anchored").get().args["sequence"] == "1"
    # votes history for charts
    voter = VotesCheckpoint.objects.order_by("account").first().account
    history = selectors.voting_power_history(Web3.to_checksum_address(voter))
    assert history == sorted(history) and all(v == selectors.voting_power(voter, b) for b, v in history)


def test_voting_power_many_answers_from_the_latest_row_the_previous_one_or_the_history(
        index, scenario, chain_settings, check, monkeypatch):
    """voting_power_many reads each account's LatestVotes row (last two checkpoints) and seeks the history
    only for accounts that changed twice or more after the block: every source is used here, the seeks
    are exactly those accounts, and every figure is the chain's — also when the rows come back out of order."""
    from collections import Counter

    chain = chain_settings
    history = scenario(81)
    history.run(25)
    holder, _ = history.holder()
    once = Web3.to_checksum_address(keccak(text="delegated to once")[-20:])  # one checkpoint, at the end
    history.send(holder, "delegate", [once])
    head = index().head
    chain.mine()
    accounts = history.addresses + [chain.address(0), once, "0x" + "00" * 19 + "01"]  # and one never seen
    executed = []
    real_fetchone = selectors._fetchone

    def explain(sql, params, **options):  # noqa: ANN001, ANN202 - runs the query, and records its plan
        with selectors._cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
            executed.append(cursor.fetchone()[0])
        return real_fetchone(sql, params, **options)

    blocks = list(range(chain.deployment.start_block, head + 1))
    view = check.chain_view(chain, accounts, blocks)
    latest = {row[0]: row[1:] for row in LatestVotes.objects.values_list("account", "block", "votes", "prev_block",
                                                                          "prev_votes")}
    assert check.latest_votes_exact() == len(latest) > 0
    monkeypatch.setattr(selectors, "_fetchone", explain)
    sources: Counter[str] = Counter()
    for block in blocks:
        many = selectors.voting_power_many(accounts, block)
        assert many == {a: view[("votes", a, block)] for a in accounts}, block
        seeks = 0
        for account in accounts:
            row = latest.get(account.lower())
            source = ("no row" if row is None else "latest" if row[0] <= block else "before the first"
                      if row[2] is None else "previous" if row[2] <= block else "history")
            sources[source] += 1
            seeks += source == "history"
        nodes = list(_plan_nodes(executed[-1][0]["Plan"]))
        assert [n["Actual Loops"] for n in nodes if n["Node Type"] == "Limit"] == [seeks], block
        assert not [n for n in nodes if n["Node Type"] in ("Unique", "Sort")]
    assert set(sources) == {"no row", "latest", "before the first", "previous", "history"}, sources
    at_head = selectors.voting_power_many(accounts)
    assert at_head == selectors.voting_power_many(accounts, head) == {a: view[("votes", a, head)] for a in accounts}

    def reversed_rows(sql, params, **options):  # noqa: ANN001, ANN202 - a plan that returned them backwards
        head_block, start_block, positions, values = real_fetchone(sql, params, **options)
        return (head_block, start_block, ",".join(positions.split(",")[::-1]), ",".join(values.split(",")[::-1]))

    monkeypatch.setattr(selectors, "_fetchone", reversed_rows)
    for block in blocks[::3]:
        assert selectors.voting_power_many(accounts, block) == {a: view[("votes", a, block)] for a in accounts}
    with pytest.raises(selectors.InvalidAddress, match="'nope'"):
        selectors.voting_power_many([accounts[0], "nope"], head)


def _plan_nodes(node: dict):  # noqa: ANN202 - every node of an EXPLAIN (FORMAT JSON) plan
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)
