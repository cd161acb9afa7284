#!/usr/bin/env python
"""Benchmark of the chain indexer: events/s end to end, and voting power from the index vs. from the node.

    .venv/bin/python bench/indexer/run.py                     # >= 200,000 token events, 10,000 addresses
    .venv/bin/python bench/indexer/run.py --events 50000      # a quicker run

Steps (its own anvil on a free port, a scratch PostgreSQL database BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/govapp_bench_indexer, dropped and re-created, dropped at the end
unless --keep):

1. generate: deploy the contracts; mintBatch to --holders holders (500 recipients per transaction);
   --addresses of them self-delegate (impersonated eth_sendTransaction, anvil --auto-impersonate);
   then self-delegated "whales" transferBatch to random holders (500 legs per transaction, --txs-per-block
   transactions per block with automine off + evm_mine) until the chain holds >= --events token events
   (Transfer + DelegateChanged + DelegateVotesChanged: a leg to a self-delegated holder emits three).
2. index: the production path (chain.indexer.Indexer with its defaults: adaptive eth_getLogs ranges,
   raw JSON-RPC, own decoding, COPY in one transaction per range) from the deployment block to the head;
   events/s end to end (getLogs + decode + write), with the time split.
   For scale: web3's own path (w3.eth.get_logs with result formatters + contract.events.X().process_log)
   on a sample of the same logs.
3. voting power of --addresses addresses at a past block: chain.selectors.voting_power_many (one query),
   --addresses single chain.selectors.voting_power calls, and the node: getPastVotes eth_calls in JSON-RPC
   batches of --batch (500), as Snapshot's erc20-votes strategy batches them (Snapshot puts them in a
   Multicall contract; none is deployed on this chain, so plain JSON-RPC batches of eth_call). All three
   must agree on every address.

Everything (anvil, PostgreSQL, this process) shares this machine's cores.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from eth_abi import encode as abi_encode  # noqa: E402
from eth_utils import function_signature_to_4byte_selector, keccak, to_checksum_address  # noqa: E402

from bench.common import machine_info, write_json  # noqa: E402
from bench.common import result as result_row  # noqa: E402
from bench.scratch_db import drop_database, recreate_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/govapp_bench_indexer"
UNIT = 10**18
SEL_MINT_BATCH = "0x" + function_signature_to_4byte_selector("mintBatch(address[],uint256[])").hex()
SEL_TRANSFER_BATCH = "0x" + function_signature_to_4byte_selector("transferBatch(address[],uint256[])").hex()
SEL_DELEGATE = "0x" + function_signature_to_4byte_selector("delegate(address)").hex()
SEL_PAST_VOTES = "0x" + function_signature_to_4byte_selector("getPastVotes(address,uint256)").hex()


def log(message: str = "") -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- chain
class Node:
    """Raw JSON-RPC to anvil (web3's formatting would dominate the generator's time)."""

    def __init__(self, w3) -> None:  # noqa: ANN001
        self.w3 = w3

    def call(self, method: str, *params):  # noqa: ANN201, ANN002
        response = self.w3.provider.make_request(method, list(params))
        if response.get("error"):
            raise RuntimeError(f"{method}: {response['error']}")
        return response["result"]

    def batch(self, calls: list[tuple[str, list]], size: int = 500) -> list:
        results = []
        for start in range(0, len(calls), size):
            for response in self.w3.provider.make_batch_request(calls[start:start + size]):
                if response.get("error"):
                    raise RuntimeError(f"batch: {response['error']}")
                results.append(response["result"])
        return results


def holder_addresses(count: int) -> list[str]:
    return [to_checksum_address(keccak(b"govapp-bench-holder-" + i.to_bytes(4, "big"))[12:]) for i in range(count)]


def encode_batch(selector: str, recipients: list[str], amounts: list[int]) -> str:
    return selector + abi_encode(["address[]", "uint256[]"], [recipients, amounts]).hex()


def send_block(node: Node, txs: list[dict]) -> list[str]:
    """Send transactions (automine is off), mine them into one block, check every receipt."""
    hashes = node.batch([("eth_sendTransaction", [tx]) for tx in txs])
    node.call("evm_mine")
    receipts = node.batch([("eth_getTransactionReceipt", [h]) for h in hashes])
    failed = [r for r in receipts if r is None or r["status"] != "0x1"]
    if failed:
        raise RuntimeError(f"{len(failed)} transactions failed, e.g. {failed[0]}")
    return hashes


def generate(node: Node, deployment, args: argparse.Namespace, owner: str, whales: list[str]) -> dict:  # noqa: ANN001
    token = deployment.token_address
    rng = random.Random(args.seed)
    holders = holder_addresses(args.holders)
    delegators = holders[: args.addresses]  # these self-delegate: --addresses accounts with voting power
    delegated = set(delegators)
    events = 0
    node.call("evm_setAutomine", False)
    started = time.perf_counter()
    nonces: dict[str, int] = {}

    def tx(sender: str, data: str, gas: int) -> dict:
        nonce = nonces.get(sender)
        if nonce is None:
            nonce = int(node.call("eth_getTransactionCount", sender, "pending"), 16)
        nonces[sender] = nonce + 1
        return {"from": sender, "to": token, "data": data, "gas": hex(gas), "nonce": hex(nonce)}

    # 1. mint to every holder, and a large amount to the whales
    pending = [tx(owner, encode_batch(SEL_MINT_BATCH, whales, [10**12 * UNIT] * len(whales)), 2_000_000)]
    for start in range(0, len(holders), 500):
        chunk = holders[start:start + 500]
        pending.append(tx(owner, encode_batch(SEL_MINT_BATCH, chunk, [rng.randint(1, 10**6) * UNIT for _ in chunk]),
                          30_000_000))
        events += len(chunk)
    events += len(whales)
    for start in range(0, len(pending), args.txs_per_block):
        send_block(node, pending[start:start + args.txs_per_block])
    log(f"  minted to {len(holders):,} holders")

    # 2. self-delegation of --addresses holders (and of the whales): DelegateChanged + DelegateVotesChanged
    node.batch([("anvil_setBalance", [a, hex(10**20)]) for a in delegators])
    pending = [tx(a, SEL_DELEGATE + abi_encode(["address"], [a]).hex(), 200_000) for a in delegators + whales]
    events += 2 * len(pending)
    per_block = 1000
    for start in range(0, len(pending), per_block):
        send_block(node, pending[start:start + per_block])
    log(f"  {len(pending):,} self-delegations")

    # 3. whales transferBatch to random holders until the token has emitted --events events
    blocks = 0
    while events < args.events:
        pending = []
        for _ in range(args.txs_per_block):
            whale = whales[len(pending) % len(whales)]
            recipients = rng.choices(holders, k=args.legs)
            amounts = [rng.randint(1, 1000) * UNIT for _ in recipients]
            pending.append(tx(whale, encode_batch(SEL_TRANSFER_BATCH, recipients, amounts), 60_000_000))
            # Transfer + the whale's DelegateVotesChanged (+ the recipient's if it self-delegated)
            events += sum(3 if r in delegated else 2 for r in recipients)
            if events >= args.events:
                break
        send_block(node, pending)
        blocks += 1
    seconds = time.perf_counter() - started
    node.call("evm_setAutomine", True)
    log(f"  transfers in {blocks} blocks; {events:,} token events generated in {seconds:.1f} s")
    return {"events": events, "holders": holders, "delegators": delegators, "seconds": seconds}


# --------------------------------------------------------------------------- measurements
def measure_indexing(deployment, cpu: Cpu) -> dict:  # noqa: ANN001
    from django.conf import settings

    from chain import services
    from chain.decoding import EventRegistry
    from chain.indexer import Indexer, RpcClient
    from chain.models import BalanceCheckpoint, ContractEvent, DelegateCheckpoint, VotesCheckpoint

    services.ensure_state(deployment)
    indexer = Indexer(RpcClient(settings.CHAIN_RPC_URL, 120), EventRegistry.from_deployment(deployment),
                      progress=lambda p: log(f"    block {p.head:,}/{p.target:,}  {p.events:,} events  "
                                             f"{p.events_per_second:,.0f} events/s  next range {p.range_size}"))
    started, cpu_before = time.perf_counter(), cpu.read()
    with services.indexer_lock() as acquired:
        assert acquired
        result = indexer.run()
    seconds = time.perf_counter() - started
    cpu_after = cpu.read()
    spent = {k: cpu_after[k] - cpu_before[k] for k in cpu_before}
    rows = {"events": ContractEvent.objects.count(), "balances": BalanceCheckpoint.objects.count(),
            "delegates": DelegateCheckpoint.objects.count(), "votes": VotesCheckpoint.objects.count()}
    return {"result": result, "seconds": seconds, "rows": rows, "cpu": spent}


def measure_web3_path(w3, deployment, head: int, sample: int) -> dict:  # noqa: ANN001
    """web3's own path on the last blocks (about `sample` logs): get_logs with formatters + process_log."""
    from chain.decoding import EventRegistry, decode_logs
    from chain.indexer import RpcClient

    registry = EventRegistry.from_deployment(deployment)
    token = deployment.token(w3)
    rpc = RpcClient(w3.provider.endpoint_uri, 120)
    start = head
    while start > deployment.start_block:  # find a block span with about `sample` logs
        count = len(rpc.get_logs(registry.log_filter(start, head)))
        if count >= sample:
            break
        start = max(deployment.start_block, start - 1)
    params = registry.log_filter(start, head)
    t0 = time.perf_counter()
    raw = rpc.get_logs(params)
    t1 = time.perf_counter()
    decode_logs(raw, registry)
    t2 = time.perf_counter()
    logs = w3.eth.get_logs({"fromBlock": start, "toBlock": head,
                            "address": [to_checksum_address(a) for a in params["address"]],
                            "topics": params["topics"]})
    t3 = time.perf_counter()
    by_topic = {"0x" + keccak(text=sig).hex(): getattr(token.events, name)() for name, sig in (
        ("Transfer", "Transfer(address,address,uint256)"),
        ("DelegateChanged", "DelegateChanged(address,address,address)"),
        ("DelegateVotesChanged", "DelegateVotesChanged(address,uint256,uint256)"))}
    for entry in logs:
        by_topic[entry["topics"][0].to_0x_hex()].process_log(entry)
    t4 = time.perf_counter()
    return {"logs": len(raw), "raw_fetch": t1 - t0, "own_decode": t2 - t1, "web3_fetch": t3 - t2,
            "process_log": t4 - t3}


def past_votes_over_rpc(node: Node, token: str, addresses: list[str], block: int, batch: int) -> dict[str, int]:
    calls = [("eth_call", [{"to": token, "data": SEL_PAST_VOTES + abi_encode(["address", "uint256"],
                                                                              [a, block]).hex()}, "latest"])
             for a in addresses]
    results = node.batch(calls, size=batch)
    return {a: int(r, 16) for a, r in zip(addresses, results, strict=True)}


class Cpu:
    """CPU seconds (user + system, from /proc) of this process, anvil and our PostgreSQL backend: what the
    work costs, whatever else the machine is running (wall clock counts the other processes' turns too)."""

    TICK = os.sysconf("SC_CLK_TCK")

    def __init__(self, anvil_pid: int) -> None:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            self.pids = {"python": os.getpid(), "anvil": anvil_pid, "postgres": cursor.fetchone()[0]}

    def read(self) -> dict[str, float]:
        out = {}
        for name, pid in self.pids.items():
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            # utime, stime; plus the reaped children's (none here); this process: all its threads
            out[name] = (int(fields[11]) + int(fields[12])) / self.TICK
        return out


def best_and_median(fn, repeat: int, cpu: Cpu | None = None) -> tuple[float, float, object, dict]:  # noqa: ANN001
    """Best and median wall time of `repeat` runs, the last value, and the CPU seconds per run (mean)."""
    times, value = [], None
    before = cpu.read() if cpu else {}
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    after = cpu.read() if cpu else {}
    spent = {k: (after[k] - before[k]) / repeat for k in before}
    return min(times), statistics.median(times), value, spent


# --------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="token events to generate (at least)")
    parser.add_argument("--holders", type=int, default=12_000, help="token holders")
    parser.add_argument("--addresses", type=int, default=10_000, help="self-delegated holders; voting power query")
    parser.add_argument("--legs", type=int, default=500, help="recipients per mintBatch/transferBatch transaction")
    parser.add_argument("--txs-per-block", type=int, default=20)
    parser.add_argument("--batch", type=int, default=500, help="eth_calls per JSON-RPC batch (node side)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--web3-sample", type=int, default=20_000, help="logs for the web3-path comparison")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON (bench/report.py's format)")
    args = parser.parse_args()
    if args.addresses > args.holders:
        parser.error("--addresses must not exceed --holders")

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    workdir = Path(tempfile.mkdtemp(prefix="govapp-bench-indexer-"))
    recreate_database(url)
    os.environ.update({"DATABASE_URL": url, "GOVAPP_VAR_DIR": str(workdir), "DJANGO_SETTINGS_MODULE": "govapp.settings",
                       "CHAIN_CONFIRMATIONS": "0", "CELERY_BROKER_URL": "memory://"})

    from web3 import Web3

    from chain.anvil import AnvilProcess, dev_address, dev_private_key
    from chain.deploy import deploy_all, write_deployment_file

    load = os.getloadavg()
    machine = machine_info(url)
    log(f"== chain indexer benchmark: {os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")
    node_process = AnvilProcess(gas_limit=2_000_000_000, extra_args=("--auto-impersonate",)).start()
    try:
        w3 = Web3(Web3.HTTPProvider(node_process.rpc_url, request_kwargs={"timeout": 300}))
        deployment = deploy_all(w3, dev_private_key(0), executor_key_address=dev_address(1),
                                guardian_addresses=[dev_address(i) for i in (7, 8, 9)])
        os.environ.update({"CHAIN_RPC_URL": node_process.rpc_url, "CHAIN_ID": str(w3.eth.chain_id),
                           "CHAIN_DEPLOYMENT_FILE": str(write_deployment_file(workdir / "deployment.json",
                                                                              deployment, w3.eth.chain_id))})
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", "chain", verbosity=0)
        node = Node(w3)

        log(f"[1/3] generating >= {args.events:,} token events on anvil ({args.legs} legs per transaction, "
            f"{args.txs_per_block} transactions per block)")
        generated = generate(node, deployment, args, dev_address(0), [dev_address(i) for i in range(1, 6)])
        head = int(node.call("eth_blockNumber"), 16)

        log(f"[2/3] indexing blocks {deployment.start_block}..{head} into PostgreSQL (the production path)")
        cpu = Cpu(node_process.pid)
        indexed = measure_indexing(deployment, cpu)
        result = indexed["result"]
        rate = result.events / indexed["seconds"]
        timings = result.timings
        log(f"  {result.events:,} events, {result.blocks:,} blocks, {result.ranges} ranges in "
            f"{indexed['seconds']:.2f} s: {rate:,.0f} events/s end to end")
        log("  split: " + ", ".join(f"{k} {v:.2f} s" for k, v in timings.items()))
        log("  rows: " + ", ".join(f"{k} {v:,}" for k, v in indexed["rows"].items()))
        spent = indexed["cpu"]
        log(f"  CPU: {sum(spent.values()):.2f} s (" + ", ".join(f"{k} {v:.2f} s" for k, v in spent.items())
            + f") = {result.events / sum(spent.values()):,.0f} events per CPU-second; "
            f"load average {os.getloadavg()[0]:.1f}")
        web3_path = measure_web3_path(w3, deployment, head, args.web3_sample)
        n = web3_path["logs"]
        log(f"  same {n:,} logs — ours: fetch {n / web3_path['raw_fetch']:,.0f} logs/s, decode "
            f"{n / web3_path['own_decode']:,.0f} logs/s | web3: get_logs {n / web3_path['web3_fetch']:,.0f} logs/s, "
            f"process_log {n / web3_path['process_log']:,.0f} logs/s")

        from chain import selectors

        addresses = generated["delegators"]
        block = head - 1  # a past block (getPastVotes refuses the current one)
        node.call("evm_mine")
        log(f"[3/3] voting power of {len(addresses):,} addresses at block {block}")
        many_best, many_median, many, many_cpu = best_and_median(
            lambda: selectors.voting_power_many(addresses, block), args.repeat, cpu)
        single_best, single_median, single, single_cpu = best_and_median(
            lambda: {a: selectors.voting_power(a, block) for a in addresses}, args.repeat, cpu)
        rpc_best, rpc_median, chain, rpc_cpu = best_and_median(
            lambda: past_votes_over_rpc(node, deployment.token_address, addresses, block, args.batch), args.repeat,
            cpu)
        assert many == single == chain, "the index and the node disagree"
        powered = sum(1 for v in chain.values() if v > 0)
        log(f"  all three agree on every address ({powered:,} with voting power > 0)")

        def line(label: str, best: float, median: float, spent: dict) -> None:
            log(f"  {label:<40} best {best * 1000:8.1f} ms  median {median * 1000:8.1f} ms  CPU "
                f"{sum(spent.values()) * 1000:8.1f} ms (" + ", ".join(f"{k} {v * 1000:.0f}" for k, v in spent.items())
                + ")")

        line("index, voting_power_many (1 query)", many_best, many_median, many_cpu)
        line(f"index, {len(addresses):,} x voting_power", single_best, single_median, single_cpu)
        line(f"node, getPastVotes, batches of {args.batch}", rpc_best, rpc_median, rpc_cpu)
        cpu_ratio = sum(rpc_cpu.values()) / sum(many_cpu.values())
        log(f"  speed-up vs the node: voting_power_many {rpc_best / many_best:,.0f}x wall clock (best), "
            f"{cpu_ratio:,.0f}x CPU; single calls {rpc_best / single_best:,.1f}x wall clock, "
            f"{sum(rpc_cpu.values()) / sum(single_cpu.values()):,.1f}x CPU; load average {os.getloadavg()[0]:.1f}")
        summary = {"events_per_second": round(rate), "events": result.events, "seconds": round(indexed["seconds"], 2),
                   "many_ms": round(many_best * 1000, 1), "single_ms": round(single_best * 1000, 1),
                   "rpc_ms": round(rpc_best * 1000, 1), "many_cpu_ms": round(sum(many_cpu.values()) * 1000, 1),
                   "rpc_cpu_ms": round(sum(rpc_cpu.values()) * 1000, 1)}
        log("summary " + json.dumps(summary))
        if args.json:
            many_cpu_s, rpc_cpu_s = sum(many_cpu.values()), sum(rpc_cpu.values())
            wall_ratio = rpc_best / many_best
            per_cpu = result.events / sum(spent.values())
            write_json(args.json, "indexer", [
                result_row("indexing end to end", f"{rate:,.0f} events/s ({result.events:,} events in "
                         f"{indexed['seconds']:.2f} s); {per_cpu:,.0f} events per CPU-second",
                         round(rate), "events/s", "≥ 10,000/s", rate >= 10_000),
                result_row(f"voting_power_many, {len(addresses):,} addresses", f"best {many_best * 1000:.1f} ms, "
                         f"median {many_median * 1000:.1f} ms; CPU {many_cpu_s * 1000:.1f} ms",
                         round(many_best * 1000, 1), "ms"),
                result_row(f"node: getPastVotes, JSON-RPC batches of {args.batch}",
                         f"best {rpc_best * 1000:.1f} ms; CPU {rpc_cpu_s * 1000:.1f} ms", round(rpc_best * 1000, 1),
                         "ms"),
                result_row("voting_power_many vs the node, wall clock",
                         f"{wall_ratio:,.0f}x (CPU {rpc_cpu_s / many_cpu_s:,.0f}x; load average "
                         f"{os.getloadavg()[0]:.1f})", round(wall_ratio, 1), "x", "≥ 50×", wall_ratio >= 50),
            ], machine)
    finally:
        node_process.stop()
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    main()
