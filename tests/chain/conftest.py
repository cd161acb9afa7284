"""Fixtures of the chain index tests: run the real indexer against the test anvil and the test database,
a seeded random token history (transfers, batches, delegations, delegateBySig, permits), and the
comparison of the index against the chain's own answers (getPastVotes, balanceOf/delegates at a block,
getPastTotalSupply) through JSON-RPC batches of eth_call."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3

from chain import selectors, services
from chain.deploy import DEFAULT_TOKEN_NAME
from chain.indexer import Indexer, RunResult
from chain.models import (
    BalanceCheckpoint,
    ContractEvent,
    DelegateCheckpoint,
    IndexedBlock,
    IndexerState,
    LatestVotes,
    SupplyCheckpoint,
    VotesCheckpoint,
)

UNIT = 10**18
ZERO = "0x" + "00" * 20


# --- running the indexer -----------------------------------------------------------------------------------


def run_indexer(**kwargs: Any) -> RunResult:
    """One indexer run with the portal's settings (deployment file, RPC URL), holding the lock."""
    to_block = kwargs.pop("to_block", None)
    indexer = Indexer.from_settings(**kwargs)
    with services.indexer_lock() as acquired:
        assert acquired, "the indexer lock is taken"
        result = indexer.run(to_block=to_block)
    services.record_success()
    return result


@pytest.fixture
def index(chain_settings, db) -> Callable[..., RunResult]:
    """index(**Indexer kwargs, to_block=None) -> RunResult, against the test chain and database."""
    return run_indexer


# --- the chain's own answers, in JSON-RPC batches -------------------------------------------------------------


def eth_calls(w3: Web3, calls: Sequence[tuple[str, str, int]], batch: int = 500) -> list[str]:
    """[(to, calldata, block)] -> the 0x results, in JSON-RPC batches of `batch` eth_calls."""
    out: list[str] = []
    for start in range(0, len(calls), batch):
        chunk = calls[start:start + batch]
        responses = w3.provider.make_batch_request(
            [("eth_call", [{"to": to, "data": data}, hex(block)]) for to, data, block in chunk])
        for response in responses:
            assert "error" not in response, response
            out.append(response["result"])
    return out


def chain_view(chain, accounts: Sequence[str], blocks: Sequence[int]) -> dict[str, Any]:
    """What the token says: votes/balance/delegate per (account, block) and total supply per block."""
    token = chain.token.address
    latest = chain.block_number
    calls, keys = [], []
    for block in blocks:  # selectors: getPastTotalSupply, getPastVotes, balanceOf, delegates
        calls.append((token, "0x8e539e8c" + f"{block:064x}", latest))
        keys.append(("supply", None, block))
        for account in accounts:
            word = account[2:].lower().rjust(64, "0")
            calls.append((token, "0x3a46b1a8" + word + f"{block:064x}", latest))
            keys.append(("votes", account, block))
            calls.append((token, "0x70a08231" + word, block))
            keys.append(("balance", account, block))
            calls.append((token, "0x587cde1e" + word, block))
            keys.append(("delegate", account, block))
    view: dict[str, Any] = {}
    for (kind, account, block), result in zip(keys, eth_calls(chain.w3, calls), strict=True):
        if kind == "delegate":
            delegate = Web3.to_checksum_address("0x" + result[-40:])
            view[(kind, account, block)] = None if delegate == Web3.to_checksum_address(ZERO) else delegate
        else:
            view[(kind, account, block)] = int(result, 16)
    return view


def index_view(accounts: Sequence[str], blocks: Sequence[int], sampled: set[int]) -> dict[str, Any]:
    """The same figures from the index, through the selectors: total supply and voting_power_many at every
    block; voting_power, balance and delegate_of one by one at the `sampled` blocks."""
    view: dict[str, Any] = {}
    for block in blocks:
        view[("supply", None, block)] = selectors.total_voting_power(block)
        many = selectors.voting_power_many(accounts, block)
        states = selectors.account_states_at(accounts, block) if block in sampled else {}
        for account in accounts:
            view[("votes", account, block)] = many[account]
            if block in sampled:  # the bulk read (the chain's figures below) equals the selectors one by one
                state = states[account]
                assert selectors.voting_power(account, block) == many[account] == state.votes
                assert selectors.balance(account, block) == state.balance
                delegate = selectors.delegate_of(account, block)
                assert state.delegate == (None if delegate is None or int(delegate, 16) == 0 else delegate)
                view[("balance", account, block)] = state.balance
                view[("delegate", account, block)] = state.delegate
    return view


def assert_index_matches_chain(chain, accounts: Sequence[str], blocks: Sequence[int], sample: int = 30) -> int:
    """The index equals the chain: votes and total supply of every account at every block, balances and
    delegates at `sample` blocks (first, last and a seeded random choice). Returns how many figures."""
    blocks = list(blocks)
    assert_latest_votes_exact()
    if chain.block_number <= max(blocks):
        chain.mine()  # getPastVotes refuses the current block
    rng = random.Random(len(blocks))
    sampled = set(blocks) if len(blocks) <= sample else {blocks[0], blocks[-1], *rng.sample(blocks, sample - 2)}
    expected = chain_view(chain, accounts, blocks)
    actual = index_view(accounts, blocks, sampled)
    expected = {k: v for k, v in expected.items() if k in actual}
    wrong = {k: (actual[k], v) for k, v in expected.items() if actual[k] != v}
    assert not wrong, f"{len(wrong)} of {len(expected)} figures differ (index, chain): {list(wrong.items())[:8]}"
    # delegators_of agrees with the chain's delegates and balances, for every delegate at some blocks
    for block in sorted(sampled)[:: max(1, len(sampled) // 6)]:
        delegates = {expected[("delegate", a, block)] for a in accounts} - {None}
        for delegate in delegates:
            want = sorted(((a, expected[("balance", a, block)]) for a in accounts
                           if expected[("delegate", a, block)] == delegate), key=lambda i: (-i[1], i[0]))
            got = [(a, b) for a, b in selectors.delegators_of(delegate, block) if a in accounts]
            assert got == want, (delegate, block)
    return len(expected)


def assert_events_on_canonical_chain(chain) -> int:
    """Every stored event and block hash is the node's current hash for that block."""
    stored = dict(IndexedBlock.objects.values_list("number", "hash"))
    stored.update(dict(ContractEvent.objects.values_list("block_number", "block_hash").distinct()))
    if not stored:
        return 0
    calls = [("eth_getBlockByNumber", [hex(n), False]) for n in sorted(stored)]
    responses = chain.w3.provider.make_batch_request(calls)
    for (_, (number, _full)), response in zip(calls, responses, strict=True):
        assert response["result"] is not None, f"block {number} is gone"
        assert response["result"]["hash"] == stored[int(number, 16)], f"block {int(number, 16)} is from another fork"
    return len(stored)


def latest_votes_from(checkpoints: Sequence[tuple[str, int, int]]) -> list[tuple]:
    """What LatestVotes must hold for these (account, block, votes) checkpoints: per account its last two,
    (account, block, votes, prev_block, prev_votes), the previous ones None when there is only one."""
    by_account: dict[str, list[tuple[int, int]]] = {}
    for account, block, votes in sorted(checkpoints):
        by_account.setdefault(account, []).append((int(block), int(votes)))
    out = []
    for account, rows in sorted(by_account.items()):
        (prev_block, prev_votes), (block, votes) = ([(None, None)] + rows)[-2:]
        out.append((account, block, votes, prev_block, prev_votes))
    return out


def assert_latest_votes_exact() -> int:
    """LatestVotes equals what the votes checkpoints say, row for row. Returns the number of rows."""
    expected = latest_votes_from(list(VotesCheckpoint.objects.values_list("account", "block", "votes")))
    actual = sorted(LatestVotes.objects.values_list("account", "block", "votes", "prev_block", "prev_votes"))
    assert actual == expected, (f"LatestVotes differs from the checkpoints: "
                                f"{sorted(set(actual) ^ set(expected))[:8]}")
    return len(actual)


def table_dump() -> dict[str, list[tuple]]:
    """The index's content without surrogate ids (blocks: only those with events; range ends vary).
    Also checks that LatestVotes is exactly what the votes checkpoints say (and includes it)."""
    assert_latest_votes_exact()
    return {
        "latest_votes": sorted(LatestVotes.objects.values_list("account", "block", "votes", "prev_block",
                                                               "prev_votes")),
        "balances": sorted(BalanceCheckpoint.objects.values_list("account", "block", "balance")),
        "delegates": sorted(DelegateCheckpoint.objects.values_list("account", "block", "delegate"),
                            key=lambda r: (r[0], r[1])),
        "votes": sorted(VotesCheckpoint.objects.values_list("account", "block", "votes")),
        "supply": sorted(SupplyCheckpoint.objects.values_list("block", "total_supply")),
        "events": sorted(ContractEvent.objects.values_list(
            "contract", "event", "address", "block_number", "block_hash", "block_timestamp", "tx_hash", "tx_index",
            "log_index", "data"), key=lambda r: (r[3], r[8])),
        "event_args": sorted((e.block_number, e.log_index, repr(e.args), repr(e.topics))
                             for e in ContractEvent.objects.all()),
        "blocks_with_events": sorted(IndexedBlock.objects.filter(has_events=True).values_list("number", "hash")),
        "head": list(IndexerState.objects.values_list("head_block", "head_hash")),
    }


# --- a seeded random token history ---------------------------------------------------------------------------


def _key(seed: str) -> LocalAccount:
    return Account.from_key(keccak(text=seed))


def rpc(w3: Web3, method: str, *params: Any) -> Any:
    """Raw JSON-RPC (web3's contract call path costs ~40 ms a call on anvil; this ~2 ms)."""
    response = w3.provider.make_request(method, list(params))
    assert "error" not in response, (method, response)
    return response["result"]


def _word(address: str) -> str:
    return address[2:].lower().rjust(64, "0")


@dataclass
class Scenario:
    """Random token activity on the test chain (deterministic for a seed), sent as locally signed raw
    transactions with explicit gas and nonces."""

    chain: Any
    seed: int
    accounts: list[LocalAccount] = field(default_factory=list)
    rng: random.Random = field(init=False)
    log: list[str] = field(default_factory=list)
    divisor: int = 3
    nonces: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.w3 = self.chain.w3
        self.chain_id = self.w3.eth.chain_id
        self.token_address = self.chain.token.address
        self.deployer = Account.from_key(self.chain.deployer_key)
        if not self.accounts:
            self.accounts = [_key(f"govapp-indexer-test-{i}") for i in range(16)]
            for account in self.accounts:
                rpc(self.w3, "anvil_setBalance", account.address, hex(10**22))

    @property
    def addresses(self) -> list[str]:
        return [a.address for a in self.accounts]

    @property
    def token(self):  # noqa: ANN201
        return self.chain.token

    # -- chain access -------------------------------------------------------------------------------------------

    def balances(self) -> dict[str, int]:
        calls = [(self.token_address, "0x70a08231" + _word(a), None) for a in self.addresses]
        responses = self.w3.provider.make_batch_request(
            [("eth_call", [{"to": to, "data": data}, "latest"]) for to, data, _ in calls])
        return {a: int(r["result"], 16) for a, r in zip(self.addresses, responses, strict=True)}

    def balance(self, address: str) -> int:
        return int(rpc(self.w3, "eth_call", {"to": self.token_address, "data": "0x70a08231" + _word(address)},
                       "latest"), 16)

    def token_nonce(self, address: str) -> int:  # EIP-2612 / delegateBySig nonce
        return int(rpc(self.w3, "eth_call", {"to": self.token_address, "data": "0x7ecebe00" + _word(address)},
                       "latest"), 16)

    def timestamp(self) -> int:
        return int(rpc(self.w3, "eth_getBlockByNumber", "latest", False)["timestamp"], 16)

    def send(self, sender: LocalAccount, fn: str, args: list[Any], *, wait: bool = True) -> str:
        nonce = self.nonces.get(sender.address)
        if nonce is None:
            nonce = int(rpc(self.w3, "eth_getTransactionCount", sender.address, "pending"), 16)
        self.nonces[sender.address] = nonce + 1
        tx = {"to": self.token_address, "data": self.token.encode_abi(fn, args), "gas": 2_000_000, "nonce": nonce,
              "chainId": self.chain_id, "maxFeePerGas": 200 * 10**9, "maxPriorityFeePerGas": 10**9, "value": 0}
        tx_hash = rpc(self.w3, "eth_sendRawTransaction", sender.sign_transaction(tx).raw_transaction.to_0x_hex())
        if wait:
            receipt = self.receipt(tx_hash)
            assert receipt["status"] == "0x1", (fn, args, receipt)
        return tx_hash

    def receipt(self, tx_hash: str, timeout: float = 10.0) -> dict[str, Any]:
        """The receipt, once mined (anvil's automine is asynchronous to eth_sendRawTransaction)."""
        deadline = time.monotonic() + timeout
        while (receipt := rpc(self.w3, "eth_getTransactionReceipt", tx_hash)) is None:
            assert time.monotonic() < deadline, f"{tx_hash} not mined within {timeout} s"
            time.sleep(0.002)
        return receipt

    # -- choices -------------------------------------------------------------------------------------------------

    def pick(self) -> LocalAccount:
        return self.rng.choice(self.accounts)

    def holder(self) -> tuple[LocalAccount | None, int]:
        balances = self.balances()
        holders = [a for a in self.accounts if balances[a.address] > 0]
        if not holders:
            return None, 0
        account = self.rng.choice(holders)
        return account, balances[account.address]

    def amount(self, upto: int) -> int:
        return self.rng.randint(0, upto) if upto > 0 else 0

    def _domain(self) -> dict[str, Any]:
        return {"name": DEFAULT_TOKEN_NAME, "version": "1", "chainId": self.chain_id,
                "verifyingContract": self.token_address}

    # -- operations (each one transaction unless said otherwise) ------------------------------------------------

    def mint(self, wait: bool = True) -> str:
        return self.send(self.deployer, "mint", [self.pick().address, self.rng.randint(1, 10**6) * UNIT], wait=wait)

    def mint_batch(self, wait: bool = True) -> str:
        tos = [self.pick().address for _ in range(self.rng.randint(2, 8))]  # repeats on purpose
        values = [self.rng.randint(0, 10**5) * UNIT + self.rng.randint(0, 999) for _ in tos]
        return self.send(self.deployer, "mintBatch", [tos, values], wait=wait)

    def transfer(self, wait: bool = True) -> str:
        sender, balance = self.holder()
        if sender is None:
            return self.mint(wait)
        to = sender.address if self.rng.random() < 0.1 else self.pick().address  # self-transfers too
        return self.send(sender, "transfer", [to, self.amount(balance // self.divisor)], wait=wait)

    def transfer_batch(self, wait: bool = True) -> str:
        sender, balance = self.holder()
        if sender is None:
            return self.mint_batch(wait)
        tos = [self.pick().address for _ in range(self.rng.randint(2, 6))]
        budget = balance // (self.divisor * len(tos))
        return self.send(sender, "transferBatch", [tos, [self.amount(budget) for _ in tos]], wait=wait)

    def delegate(self, wait: bool = True) -> str:
        account = self.pick()
        roll = self.rng.random()
        target = account.address if roll < 0.35 else ZERO if roll < 0.45 else self.pick().address
        return self.send(account, "delegate", [Web3.to_checksum_address(target)], wait=wait)

    def delegate_by_sig(self) -> str:
        holder, relayer = self.pick(), self.pick()
        delegatee = self.rng.choice([holder.address, self.pick().address, self.pick().address])
        nonce = self.token_nonce(holder.address)
        expiry = self.timestamp() + 3600
        types = {"Delegation": [{"name": "delegatee", "type": "address"}, {"name": "nonce", "type": "uint256"},
                                {"name": "expiry", "type": "uint256"}]}
        signed = Account.sign_typed_data(holder.key, self._domain(), types,
                                         {"delegatee": delegatee, "nonce": nonce, "expiry": expiry})
        return self.send(relayer, "delegateBySig", [delegatee, nonce, expiry, signed.v, signed.r.to_bytes(32, "big"),
                                                    signed.s.to_bytes(32, "big")])

    def permit_and_transfer_from(self) -> str:
        owner, balance = self.holder()
        if owner is None:
            return self.mint()
        spender = self.pick()
        while spender.address == owner.address:
            spender = self.pick()
        value = self.amount(balance // 2)
        nonce = self.token_nonce(owner.address)
        deadline = self.timestamp() + 3600
        types = {"Permit": [{"name": "owner", "type": "address"}, {"name": "spender", "type": "address"},
                            {"name": "value", "type": "uint256"}, {"name": "nonce", "type": "uint256"},
                            {"name": "deadline", "type": "uint256"}]}
        signed = Account.sign_typed_data(owner.key, self._domain(), types, {
            "owner": owner.address, "spender": spender.address, "value": value, "nonce": nonce, "deadline": deadline})
        self.send(spender, "permit", [owner.address, spender.address, value, deadline, signed.v,
                                      signed.r.to_bytes(32, "big"), signed.s.to_bytes(32, "big")])
        return self.send(spender, "transferFrom", [owner.address, self.pick().address, value])

    def bundle(self) -> None:
        """Several transactions in ONE block (automine off, then evm_mine): several checkpoints of the same
        accounts within a block must collapse to the block's final value."""
        rpc(self.w3, "evm_setAutomine", False)
        self.divisor = 8  # amounts come from the pre-block balances: at most 7 spends of 1/8 each
        try:
            hashes = [self.rng.choice([self.transfer, self.delegate, self.mint_batch, self.transfer_batch])(False)
                      for _ in range(self.rng.randint(3, 7))]
            rpc(self.w3, "evm_mine")
        finally:
            rpc(self.w3, "evm_setAutomine", True)
            self.divisor = 3
        receipts = [self.receipt(tx_hash) for tx_hash in hashes]
        assert all(r["status"] == "0x1" for r in receipts), receipts
        assert len({r["blockNumber"] for r in receipts}) == 1

    def mine(self) -> None:
        rpc(self.w3, "anvil_mine", hex(self.rng.randint(1, 4)))

    def step(self) -> str:
        ops = [(self.mint, 1), (self.mint_batch, 2), (self.transfer, 5), (self.transfer_batch, 2),
               (self.delegate, 4), (self.delegate_by_sig, 2), (self.permit_and_transfer_from, 1),
               (self.bundle, 2), (self.mine, 1)]
        op = self.rng.choices([o for o, _ in ops], weights=[w for _, w in ops])[0]
        op()
        self.log.append(op.__name__)
        return op.__name__

    def run(self, steps: int) -> None:
        # everyone starts with some tokens, so transfers and delegations move real amounts
        if not any(self.balances().values()):
            self.send(self.deployer, "mintBatch",
                      [self.addresses, [self.rng.randint(1, 10**6) * UNIT for _ in self.addresses]])
        for _ in range(steps):
            self.step()

    def forget_nonces(self) -> None:
        """After an evm_revert the nonces go back too."""
        self.nonces.clear()


@pytest.fixture
def scenario(chain_settings) -> Callable[[int], Scenario]:
    return lambda seed, accounts=None: Scenario(chain_settings, seed, accounts=list(accounts or []))


@pytest.fixture
def check():
    """The comparison helpers (test modules cannot import conftest)."""
    from types import SimpleNamespace

    return SimpleNamespace(matches_chain=assert_index_matches_chain,
                           on_canonical_chain=assert_events_on_canonical_chain,
                           latest_votes_exact=assert_latest_votes_exact, latest_votes_from=latest_votes_from,
                           dump=table_dump, chain_view=chain_view, index_view=index_view, eth_calls=eth_calls,
                           run_indexer=run_indexer)
