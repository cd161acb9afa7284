"""Decode raw eth_getLogs results of the watched contracts and turn token events into checkpoints.

Plain Python, no Django, no web3 formatting: logs arrive as the node's JSON (hex strings). The three
token events the index is built from (Transfer, DelegateChanged, DelegateVotesChanged) are decoded by
slicing the hex directly; every other watched event goes through eth-abi with a precomputed
(address, topic0) table. web3's per-log `process_log` is ~40x slower (bench/indexer/run.py measures it).

Addresses come out lower case (see chain.models for the conventions).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import collapse_if_tuple, event_abi_to_log_topic

from chain.artifacts import load_abi
from chain.deploy import TOKEN

ZERO_ADDRESS = "0x" + "0" * 40

#: The token events that build the checkpoints (the only token events the index watches).
TOKEN_EVENTS = ("Transfer", "DelegateChanged", "DelegateVotesChanged")
KIND_TRANSFER = 1
KIND_DELEGATE_CHANGED = 2
KIND_VOTES_CHANGED = 3
_KINDS = {"Transfer": KIND_TRANSFER, "DelegateChanged": KIND_DELEGATE_CHANGED,
          "DelegateVotesChanged": KIND_VOTES_CHANGED}


class DecodeError(ValueError):
    """A log does not match the ABI it claims (wrong topic count or data length)."""


@dataclass(frozen=True)
class EventSpec:
    """One watched event of one contract: where its arguments are and how to decode them."""

    contract: str
    name: str
    topic0: str
    inputs: tuple[dict[str, Any], ...]
    kind: int = 0  # KIND_* for the token's checkpoint events, 0 otherwise
    indexed: tuple[dict[str, Any], ...] = field(default=())
    unindexed: tuple[dict[str, Any], ...] = field(default=())
    data_types: tuple[str, ...] = field(default=())
    min_data: int = 0  # length of the "0x..." data of the token's checkpoint events


def _spec(contract: str, entry: dict[str, Any], kind: int = 0) -> EventSpec:
    inputs = tuple(entry.get("inputs", []))
    return EventSpec(
        contract=contract,
        name=entry["name"],
        topic0="0x" + event_abi_to_log_topic(entry).hex(),
        inputs=inputs,
        kind=kind,
        indexed=tuple(i for i in inputs if i.get("indexed")),
        unindexed=tuple(i for i in inputs if not i.get("indexed")),
        data_types=tuple(collapse_if_tuple(dict(i)) for i in inputs if not i.get("indexed")),
        min_data={KIND_TRANSFER: 66, KIND_VOTES_CHANGED: 130}.get(kind, 0),
    )


class EventRegistry:
    """The watched contracts and events: eth_getLogs filter (addresses + topic0s) and the decoder table.

    `contracts` maps artifact name -> address. The token contributes only TOKEN_EVENTS; every other
    contract contributes all the events of its ABI.
    """

    def __init__(self, contracts: Mapping[str, str], *, token_name: str = TOKEN) -> None:
        self.contracts = {name: address.lower() for name, address in contracts.items()}
        self.token_name = token_name
        self.token_address = self.contracts.get(token_name)
        self.specs: dict[tuple[str, str], EventSpec] = {}
        for name, address in self.contracts.items():
            for entry in load_abi(name):
                if entry.get("type") != "event" or entry.get("anonymous"):
                    continue
                if name == token_name:
                    if entry["name"] not in TOKEN_EVENTS:
                        continue
                    spec = _spec(name, entry, _KINDS[entry["name"]])
                else:
                    spec = _spec(name, entry)
                self.specs[(address, spec.topic0)] = spec

    @classmethod
    def from_deployment(cls, deployment: Any) -> EventRegistry:
        return cls({name: c.address for name, c in deployment.contracts.items()})

    @property
    def addresses(self) -> list[str]:
        return sorted(self.contracts.values())

    @property
    def topic0s(self) -> list[str]:
        return sorted({topic0 for _, topic0 in self.specs})

    def log_filter(self, from_block: int, to_block: int) -> dict[str, Any]:
        """eth_getLogs parameters: every watched contract and topic0 in one request."""
        return {"fromBlock": hex(from_block), "toBlock": hex(to_block), "address": self.addresses,
                "topics": [self.topic0s]}


@dataclass(slots=True)
class Event:
    """A decoded log. `values` holds the token events' arguments as Python values for the checkpoints;
    `args_json` is the JSON text stored in ContractEvent.args."""

    contract: str
    name: str
    kind: int
    address: str
    block_number: int
    block_hash: str
    tx_hash: str
    tx_index: int
    log_index: int
    topics: list[str]
    data: str
    args_json: str
    values: tuple = ()


def _jsonable(abi_input: Mapping[str, Any], value: Any) -> Any:
    """An ABI value as JSON: addresses lower case, integers as strings, bytes as 0x hex, tuples as objects."""
    typ: str = abi_input["type"]
    if typ.endswith("]"):
        inner = dict(abi_input, type=typ[: typ.rindex("[")])
        return [_jsonable(inner, v) for v in value]
    if typ.startswith("tuple"):
        components = abi_input.get("components", [])
        return {(c.get("name") or str(i)): _jsonable(c, v) for i, (c, v) in enumerate(zip(components, value,
                                                                                         strict=True))}
    if typ == "address":
        return str(value).lower()
    if typ.startswith(("uint", "int")):
        return str(int(value))
    if typ == "bool":
        return bool(value)
    if typ == "string":
        return str(value)
    if typ.startswith("bytes"):
        return "0x" + bytes(value).hex()
    return str(value)


def _is_static_indexable(typ: str) -> bool:
    """Indexed arguments of these types are ABI-encoded in the topic; others are only a hash."""
    return not (typ in ("string", "bytes") or typ.endswith("]") or typ.startswith("tuple"))


def _decode_generic(spec: EventSpec, topics: Sequence[str], data: str) -> str:
    if len(topics) != 1 + len(spec.indexed):
        raise DecodeError(f"{spec.contract}.{spec.name}: {len(topics)} topics, expected {1 + len(spec.indexed)}")
    args: dict[str, Any] = {}
    for abi_input, topic in zip(spec.indexed, topics[1:], strict=True):
        typ = abi_input["type"]
        if _is_static_indexable(typ):
            (value,) = abi_decode([typ], bytes.fromhex(topic[2:]))
            args[abi_input["name"]] = _jsonable(abi_input, value)
        else:
            args[abi_input["name"]] = topic.lower()
    if spec.unindexed:
        try:
            values = abi_decode(list(spec.data_types), bytes.fromhex(data[2:]))
        except Exception as exc:  # eth-abi raises several types for malformed data
            raise DecodeError(f"{spec.contract}.{spec.name}: {exc}") from exc
        for abi_input, value in zip(spec.unindexed, values, strict=True):
            args[abi_input["name"]] = _jsonable(abi_input, value)
    return json.dumps(args, separators=(",", ":"))


def _lowercase_log(log: Mapping[str, Any]) -> dict[str, Any]:
    return {**log, "address": log["address"].lower(), "topics": [t.lower() for t in log["topics"]],
            "data": log["data"].lower(), "blockHash": log["blockHash"].lower(),
            "transactionHash": log["transactionHash"].lower()}


def decode_logs(raw_logs: Sequence[Mapping[str, Any]], registry: EventRegistry) -> list[Event]:
    """Decode eth_getLogs JSON results (hex strings) of the watched contracts, in (block, logIndex) order.

    Logs of unwatched (address, topic0) pairs are skipped; removed logs are skipped too. Nodes write hex in
    lower case (anvil, geth, erigon...); should one not, its logs are lower-cased first (the slow path).
    """
    specs = registry.specs
    events: list[Event] = []
    append = events.append
    if raw_logs and not all(_is_lower(log) for log in raw_logs[:1]):
        raw_logs = [_lowercase_log(log) for log in raw_logs]
    for log in raw_logs:
        topics = log["topics"]
        if not topics or log.get("removed"):
            continue
        address = log["address"]
        spec = specs.get((address, topics[0]))
        if spec is None:
            address = address.lower()
            spec = specs.get((address, topics[0].lower()))
            if spec is None:
                continue
            log = _lowercase_log(log)
            topics = log["topics"]
        data = log["data"]
        kind = spec.kind
        try:
            if kind == KIND_TRANSFER:
                _, t1, t2 = topics
                src, dst, value = "0x" + t1[26:], "0x" + t2[26:], int(data[2:66], 16)
                values: tuple = (src, dst, value)
                args_json = f'{{"from":"{src}","to":"{dst}","value":"{value}"}}'
            elif kind == KIND_VOTES_CHANGED:
                _, t1 = topics
                delegate, previous, new = "0x" + t1[26:], int(data[2:66], 16), int(data[66:130], 16)
                values = (delegate, previous, new)
                args_json = f'{{"delegate":"{delegate}","previousVotes":"{previous}","newVotes":"{new}"}}'
            elif kind == KIND_DELEGATE_CHANGED:
                _, t1, t2, t3 = topics
                delegator, old, new_delegate = "0x" + t1[26:], "0x" + t2[26:], "0x" + t3[26:]
                values = (delegator, old, new_delegate)
                args_json = f'{{"delegator":"{delegator}","fromDelegate":"{old}","toDelegate":"{new_delegate}"}}'
            else:
                values = ()
                args_json = _decode_generic(spec, topics, data)
        except ValueError as exc:  # wrong topic count (unpacking) or data too short (int(""))
            raise DecodeError(f"{spec.contract}.{spec.name} log {log.get('transactionHash')}:{log.get('logIndex')}"
                              f" does not match the ABI: {exc}") from exc
        if len(data) < spec.min_data:
            raise DecodeError(f"{spec.contract}.{spec.name} log {log.get('transactionHash')}: data too short")
        append(Event(spec.contract, spec.name, kind, address, int(log["blockNumber"], 16), log["blockHash"],
                     log["transactionHash"], int(log["transactionIndex"], 16), int(log["logIndex"], 16),
                     topics, data, args_json, values))
    events.sort(key=lambda e: (e.block_number, e.log_index))
    return events


def _is_lower(log: Mapping[str, Any]) -> bool:
    text = log["address"] + "".join(log["topics"]) + log["blockHash"] + log["transactionHash"]
    return text == text.lower()


# --- checkpoints ------------------------------------------------------------------------------------


class NegativeBalance(ValueError):
    """A Transfer moves more than the indexed balance: the index lacks history (started after the
    token's deployment?) or is corrupt."""


@dataclass
class Checkpoints:
    """Rows for one range, one per (account, block): the value at the end of the block."""

    balances: dict[tuple[str, int], int] = field(default_factory=dict)
    delegates: dict[tuple[str, int], str | None] = field(default_factory=dict)
    votes: dict[tuple[str, int], int] = field(default_factory=dict)
    supply: dict[int, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.balances) + len(self.delegates) + len(self.votes) + len(self.supply)


def transfer_accounts(events: Iterable[Event]) -> set[str]:
    """Accounts whose balance the range's Transfers change (the zero address excluded)."""
    accounts: set[str] = set()
    for event in events:
        if event.kind == KIND_TRANSFER:
            src, dst, _ = event.values
            accounts.add(src)
            accounts.add(dst)
    accounts.discard(ZERO_ADDRESS)
    return accounts


def build_checkpoints(events: Iterable[Event], balances: Mapping[str, int], total_supply: int) -> Checkpoints:
    """Checkpoints of a range from its token events (in chain order).

    `balances`: each account's balance before the range (missing = 0) — at least every account of
    transfer_accounts(events); `total_supply`: the total supply before the range.
    Votes are DelegateVotesChanged.newVotes (exact by construction); delegates come from
    DelegateChanged (the zero address = no delegate, stored as None); balances and the total supply
    from Transfer (mints from / burns to the zero address move the supply).
    """
    current = dict(balances)
    supply = int(total_supply)
    out = Checkpoints()
    for event in events:
        kind = event.kind
        block = event.block_number
        if kind == KIND_TRANSFER:
            src, dst, value = event.values
            if src == ZERO_ADDRESS:
                supply += value
                out.supply[block] = supply
            else:
                left = current.get(src, 0) - value
                if left < 0:
                    raise NegativeBalance(f"{src} would hold {left} after block {block} (log {event.log_index})")
                current[src] = left
                out.balances[(src, block)] = left
            if dst == ZERO_ADDRESS:
                supply -= value
                out.supply[block] = supply
            else:
                total = current.get(dst, 0) + value
                current[dst] = total
                out.balances[(dst, block)] = total
        elif kind == KIND_VOTES_CHANGED:
            delegate, _previous, new = event.values
            out.votes[(delegate, block)] = new
        elif kind == KIND_DELEGATE_CHANGED:
            delegator, _old, new_delegate = event.values
            out.delegates[(delegator, block)] = None if new_delegate == ZERO_ADDRESS else new_delegate
    return out
