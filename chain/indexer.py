"""Follow the chain and keep the index (chain.models) equal to it.

One pass (Indexer.run) repeats, until the target block (chain head - CHAIN_CONFIRMATIONS, or --to-block):

1. one JSON-RPC batch: the header of our indexed head, the header of the range's last block, and ONE
   eth_getLogs for every watched contract and topic0 over the range (address list + topic0 list).
   If the head's hash is not the one we stored, the chain reorganised: walk back through the stored
   block hashes (in batches) to the newest block the node still has, delete everything after it in
   one transaction (chain.services.rewind) and go on from there. The range adapts: it halves on
   timeouts, "too many results"/range-limit errors and slow calls, and doubles while fast.
2. one JSON-RPC batch: headers of the blocks with logs, of the range end and of the recent blocks
   (REORG_WINDOW). The end must still have the hash step 1 saw and every log's blockHash must be its
   block's hash; otherwise the chain moved under us and the range is read again. (Nodes answer a batch
   in order — anvil, geth — so step 1 reads the end before the logs and step 2 re-reads it after.)
3. one transaction (chain.services.commit_range): compare-and-set the cursor from the old head to the
   range end, then write events, block hashes and checkpoints (COPY on PostgreSQL).

Raw JSON-RPC through the provider (web3's eth.get_logs with its result formatters delivers ~10x fewer
logs per second; bench/indexer/run.py measures it); our own retries with backoff instead of the
provider's. While a range is written, the next one is already being read (a prefetch thread).
A run holds the advisory lock (chain.services.indexer_lock) — callers take it: follow_once, the
index_chain command.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import requests
from django.conf import settings
from web3 import Web3

from chain import services
from chain.decoding import EventRegistry, decode_logs

logger = logging.getLogger(__name__)

#: Headers of blocks this close to the chain head are all stored (reorgs happen near the head).
REORG_WINDOW = 64
DEFAULT_RANGE = 10
MAX_RANGE = 50_000
#: Shrink the next range when a range returned more logs than this (memory, response size).
MAX_LOGS_PER_RANGE = 40_000
#: A range should take about this long (getLogs + headers); faster ranges grow, slower ones shrink.
TARGET_SECONDS = 2.0
HEADER_BATCH = 200
#: After a run that indexed this many events, VACUUM (ANALYZE) the checkpoint tables (index-only lookups).
VACUUM_AFTER_EVENTS = 50_000
#: Consecutive failed attempts (errors that shrinking the range might cure) before a run gives up.
MAX_ATTEMPTS = 6


# --- JSON-RPC -----------------------------------------------------------------------------------------


class RpcError(Exception):
    """The node answered a request with an error, or not usefully."""

    def __init__(self, message: str, *, code: int | None = None, method: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.method = method


class RpcUnavailable(RpcError):
    """The node cannot be reached (connection refused/reset, HTTP 5xx/429)."""


class RpcTimeout(RpcError):
    """The request timed out (CHAIN_RPC_TIMEOUT)."""


class RangeTooLarge(RpcError):
    """The node refuses the eth_getLogs range or result size (limit errors of common providers)."""


class ChainMoved(RpcError):
    """The chain changed while a range was read (a reorg in progress): the range is read again."""


_LIMIT_MARKERS = ("too many", "limit", "exceed", "range", "response size", "returned more than", "timeout",
                  "timed out", "max results", "query timeout", "block range")


def _classify(method: str, error: dict[str, Any]) -> RpcError:
    message = str(error.get("message", error))
    code = error.get("code")
    text = message.lower()
    limit_error = code in (-32005, -32602, -32614) or any(marker in text for marker in _LIMIT_MARKERS)
    if method.startswith("eth_getLogs") and limit_error:
        return RangeTooLarge(f"{method}: {message}", code=code, method=method)
    return RpcError(f"{method}: {message}", code=code, method=method)


@dataclass(frozen=True, slots=True)
class Header:
    number: int
    hash: str
    parent_hash: str
    timestamp: int


@lru_cache(maxsize=8)
def _provider(url: str, timeout: float) -> Web3.HTTPProvider:
    # No provider-level retries: the indexer retries with its own backoff and records the failure.
    return Web3.HTTPProvider(url, request_kwargs={"timeout": timeout}, exception_retry_configuration=None)


class RpcClient:
    """Raw JSON-RPC over web3's HTTPProvider: results are the node's JSON (hex strings)."""

    def __init__(self, url: str, timeout: float = 10.0, *, shared: bool = True) -> None:
        self.url = url
        self.timeout = timeout
        self.provider = _provider(url, float(timeout)) if shared else _provider.__wrapped__(url, float(timeout))

    def clone(self) -> RpcClient:
        """A client with its own HTTP session (for another thread)."""
        return RpcClient(self.url, self.timeout, shared=False)

    @classmethod
    def from_settings(cls) -> RpcClient:
        return cls(settings.CHAIN_RPC_URL, settings.CHAIN_RPC_TIMEOUT)

    def _transport(self, method: str, send: Callable[[], Any]) -> Any:
        try:
            return send()
        except requests.Timeout as exc:
            raise RpcTimeout(f"{method}: no answer from {self.url} within {self.timeout} s", method=method) from exc
        except requests.ConnectionError as exc:
            raise RpcUnavailable(f"{method}: cannot reach {self.url}: {_short(exc)}", method=method) from exc
        except requests.HTTPError as exc:
            status = exc.response.status_code if exc.response is not None else None
            if status == 413 and "eth_getLogs" in method:
                raise RangeTooLarge(f"{method}: HTTP 413 from {self.url}", method=method) from exc
            raise RpcUnavailable(f"{method}: HTTP {status} from {self.url}", method=method) from exc
        except (ValueError, requests.RequestException) as exc:  # undecodable body and the like
            raise RpcError(f"{method}: bad answer from {self.url}: {_short(exc)}", method=method) from exc

    def call(self, method: str, params: list[Any]) -> Any:
        response = self._transport(method, lambda: self.provider.make_request(method, params))
        if response.get("error"):
            raise _classify(method, response["error"])
        return response.get("result")

    def batch(self, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """One JSON-RPC batch; results in request order (raises on any error)."""
        if not calls:
            return []
        label = ("eth_getLogs" if any(m == "eth_getLogs" for m, _ in calls) else calls[0][0]) + " batch"
        responses = self._transport(label, lambda: self.provider.make_batch_request(list(calls)))
        if not isinstance(responses, list):  # the node rejected the whole batch
            raise _classify(label, responses.get("error") or {"message": str(responses)})
        if len(responses) != len(calls):
            raise RpcError(f"{label}: {len(responses)} answers to {len(calls)} requests", method=label)
        results = []
        for (method, _), response in zip(calls, responses, strict=True):
            if response.get("error"):
                raise _classify(method, response["error"])
            results.append(response.get("result"))
        return results

    def block_number(self) -> int:
        return int(self.call("eth_blockNumber", []), 16)

    def headers(self, numbers: Iterable[int]) -> dict[int, Header | None]:
        """Headers by number (None where the node has no such block), in JSON-RPC batches."""
        wanted = sorted(set(numbers))
        found: dict[int, Header | None] = {}
        for start in range(0, len(wanted), HEADER_BATCH):
            chunk = wanted[start:start + HEADER_BATCH]
            blocks = self.batch([("eth_getBlockByNumber", [hex(n), False]) for n in chunk])
            for number, block in zip(chunk, blocks, strict=True):
                found[number] = _header(block)
        return found

    def get_logs(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.call("eth_getLogs", [params]) or []


def _header(block: dict[str, Any] | None) -> Header | None:
    if not block:
        return None
    return Header(number=int(block["number"], 16), hash=block["hash"].lower(),
                  parent_hash=block["parentHash"].lower(), timestamp=int(block["timestamp"], 16))


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 200 else text[:200] + "..."


# --- the indexing loop --------------------------------------------------------------------------------


@dataclass
class Progress:
    """What a progress callback receives after each committed range."""

    start_head: int
    head: int
    target: int
    blocks: int
    events: int
    seconds: float
    range_size: int

    @property
    def blocks_per_second(self) -> float:
        return self.blocks / self.seconds if self.seconds > 0 else 0.0

    @property
    def events_per_second(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


@dataclass
class RunResult:
    start_head: int
    head: int
    target: int
    chain_block: int
    blocks: int = 0
    events: int = 0
    ranges: int = 0
    reorgs: int = 0
    cursor_conflicts: int = 0
    seconds: float = 0.0
    caught_up: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"start_head": self.start_head, "head": self.head, "target": self.target,
                "chain_block": self.chain_block, "blocks": self.blocks, "events": self.events,
                "ranges": self.ranges, "reorgs": self.reorgs, "seconds": round(self.seconds, 3),
                "caught_up": self.caught_up}


class Indexer:
    """Index the watched contracts' events from the stored head up to the chain head - confirmations.

    The caller holds chain.services.indexer_lock(). State lives in the database only, so an Indexer
    can be created per run.
    """

    def __init__(self, rpc: RpcClient, registry: EventRegistry, *, confirmations: int = 0,
                 range_size: int = DEFAULT_RANGE, max_range: int = MAX_RANGE, min_range: int = 1,
                 target_seconds: float = TARGET_SECONDS, max_logs: int = MAX_LOGS_PER_RANGE,
                 max_attempts: int = MAX_ATTEMPTS, progress: Callable[[Progress], None] | None = None,
                 prefetch: bool = True) -> None:
        self.rpc = rpc
        self.registry = registry
        self.confirmations = max(0, int(confirmations))
        self.max_range = max(1, int(max_range))
        self.min_range = max(1, min(int(min_range), self.max_range))
        self.range_size = max(self.min_range, min(int(range_size), self.max_range))
        self.target_seconds = target_seconds
        self.max_logs = max_logs
        self.max_attempts = max_attempts
        self.progress = progress
        self.prefetch = prefetch
        # seconds spent in: the getLogs batch (step 1), the headers batch (2), decoding, the commit (3)
        self.timings: dict[str, float] = {"rpc_logs": 0.0, "rpc_headers": 0.0, "decode": 0.0, "commit": 0.0}

    @classmethod
    def from_settings(cls, **kwargs: Any) -> Indexer:
        from chain.client import get_deployment

        deployment = get_deployment()
        services.ensure_state(deployment)
        kwargs.setdefault("confirmations", settings.CHAIN_CONFIRMATIONS)
        return cls(RpcClient.from_settings(), EventRegistry.from_deployment(deployment), **kwargs)

    # -- helpers -------------------------------------------------------------------------------------

    def _target(self, chain_block: int, to_block: int | None) -> int:
        target = chain_block - self.confirmations
        return target if to_block is None else min(target, int(to_block))

    def _adapt(self, seconds: float, logs: int) -> None:
        if logs > self.max_logs or seconds > 2 * self.target_seconds:
            self.range_size = max(self.min_range, self.range_size // 2)
        elif seconds < self.target_seconds / 2 and logs < self.max_logs // 2:
            self.range_size = min(self.max_range, self.range_size * 2)

    def _shrink(self, exc: RpcError, attempts: int) -> None:
        if self.range_size <= self.min_range and attempts >= self.max_attempts:
            raise exc
        if attempts >= self.max_attempts * 3:
            raise exc
        self.range_size = max(self.min_range, self.range_size // 2)
        logger.warning("chain indexer: %s; range now %d blocks", exc, self.range_size)
        time.sleep(min(2.0, 0.05 * 2 ** min(attempts, 6)))

    def find_common_block(self, head: int, start_block: int) -> int:
        """The newest stored block at or below `head` whose hash the node still has (start_block - 1 if none)."""
        below = head + 1
        while True:
            stored = services.stored_blocks(below=below, limit=HEADER_BATCH)
            if not stored:
                return start_block - 1
            node = self.rpc.headers(number for number, _ in stored)
            for number, block_hash in stored:  # newest first
                header = node.get(number)
                if header is not None and header.hash == block_hash:
                    return number
            below = stored[-1][0]

    # -- one range, read from the node (no database access: runs in the prefetch thread too) ------------

    def fetch(self, rpc: RpcClient, head: int, head_hash: str, end: int, chain_block: int) -> Fetched:
        """Steps 1 and 2 for the range (head, end]: reorg check, logs, decoding, headers, consistency."""
        calls: list[tuple[str, list[Any]]] = []
        if head_hash:
            calls.append(("eth_getBlockByNumber", [hex(head), False]))
        if end > head:
            calls.append(("eth_getBlockByNumber", [hex(end), False]))
            calls.append(("eth_getLogs", [self.registry.log_filter(head + 1, end)]))
        t0 = time.perf_counter()
        answers = rpc.batch(calls)
        t1 = time.perf_counter()
        fetched = Fetched(head=head, head_hash=head_hash, end=end, rpc_seconds=t1 - t0)
        fetched.timings["rpc_logs"] = t1 - t0
        if head_hash:
            node_head = _header(answers[0])
            if node_head is None or node_head.hash != head_hash:
                fetched.outcome = "reorg"
                return fetched
        if end <= head:
            fetched.outcome = "caught_up"
            return fetched
        end_header, raw = _header(answers[-2]), answers[-1] or []
        if end_header is None:
            fetched.outcome = "shorter"
            return fetched
        fetched.raw_count = len(raw)
        events = decode_logs(raw, self.registry)
        del raw, answers
        t2 = time.perf_counter()
        fetched.timings["decode"] = t2 - t1
        log_blocks = {e.block_number for e in events}
        wanted = log_blocks | {end} | set(range(max(head + 1, chain_block - REORG_WINDOW + 1), end + 1))
        headers = rpc.headers(wanted)
        t3 = time.perf_counter()
        fetched.timings["rpc_headers"] = t3 - t2
        fetched.rpc_seconds += t3 - t2
        fetched.blocks = _consistent_headers(headers, wanted, end, end_header.hash, events)
        fetched.events, fetched.log_blocks, fetched.end_hash = events, log_blocks, fetched.blocks[-1].hash
        fetched.outcome = "range"
        return fetched

    # -- the run -------------------------------------------------------------------------------------

    def run(self, *, to_block: int | None = None, max_seconds: float | None = None,
            should_stop: Callable[[], bool] | None = None) -> RunResult:
        """Index up to `to_block` (default: chain head - confirmations) or until `max_seconds`/`should_stop`.

        While a range is being committed, the next one is already read from the node in a second thread
        (prefetch), so the node, the decoding and the database work at the same time. The cyclic garbage
        collector is paused for the run (bulk objects, no cycles; it is what made decoding 1.7x slower).
        """
        gc_was_enabled = gc.isenabled()
        gc.disable()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="chain-prefetch") if self.prefetch else None
        try:
            result = self._run(to_block=to_block, max_seconds=max_seconds, should_stop=should_stop, pool=pool)
            if result.events >= VACUUM_AFTER_EVENTS:
                t0 = time.perf_counter()
                services.vacuum_checkpoints()
                self.timings["vacuum"] = time.perf_counter() - t0
                result.timings = dict(self.timings)
            return result
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            if gc_was_enabled:
                gc.enable()

    def _run(self, *, to_block: int | None, max_seconds: float | None, should_stop: Callable[[], bool] | None,
             pool: ThreadPoolExecutor | None) -> RunResult:
        started = time.monotonic()
        deadline = started + max_seconds if max_seconds else None
        state = services.load_state()
        chain_block = self.rpc.block_number()
        services.record_poll(chain_block)
        target = self._target(chain_block, to_block)
        head, head_hash, start_block = state.head_block, state.head_hash, state.start_block
        result = RunResult(start_head=head, head=head, target=target, chain_block=chain_block)
        prefetch_rpc = self.rpc.clone() if pool is not None else None
        pending: tuple[int, str, Future] | None = None  # (head, head_hash, future) of the next range
        attempts = 0

        while True:
            if (should_stop and should_stop()) or (deadline and time.monotonic() > deadline):
                break
            end = min(head + self.range_size, target)
            if end <= head and not head_hash:
                result.caught_up = True
                break
            # 1 + 2: read the range (the prefetched one if it starts where we are)
            try:
                if pending is not None and pending[:2] == (head, head_hash):
                    fetched = pending[2].result()
                else:
                    fetched = self.fetch(self.rpc, head, head_hash, end, chain_block)
            except RpcUnavailable:
                raise
            except ChainMoved as exc:
                attempts += 1
                logger.info("chain indexer: %s", exc)
                if attempts > self.max_attempts * 3:
                    raise
                continue
            except RpcError as exc:  # timeouts, range/size limits, unknown errors: a smaller range may pass
                attempts += 1
                self._shrink(exc, attempts)
                continue
            finally:
                pending = None
            for key, seconds in fetched.timings.items():
                self.timings[key] += seconds

            if fetched.outcome == "reorg":  # our head is no longer on the node's chain
                common = self.find_common_block(head, start_block)
                logger.warning("chain indexer: reorg below block %d; rewinding to block %d", head, common)
                try:
                    head_hash = services.rewind(old_head=head, to_block=common)
                except services.CursorMoved:
                    result.cursor_conflicts += 1
                    state = services.load_state()
                    head, head_hash = state.head_block, state.head_hash
                    continue
                head = common
                result.reorgs += 1
                chain_block = self.rpc.block_number()
                target = result.target = self._target(chain_block, to_block)
                result.chain_block = chain_block
                continue
            if fetched.outcome == "caught_up":
                result.caught_up = True
                break
            if fetched.outcome == "shorter":  # the chain got shorter since we read its head
                chain_block = self.rpc.block_number()
                target = result.target = self._target(chain_block, to_block)
                result.chain_block = chain_block
                continue

            self._adapt(fetched.rpc_seconds, fetched.raw_count)
            end = fetched.end
            next_end = min(end + self.range_size, target)
            if pool is not None and next_end > end:  # read the next range while this one is written
                pending = (end, fetched.end_hash,
                           pool.submit(self.fetch, prefetch_rpc, end, fetched.end_hash, next_end, chain_block))

            # 3. commit (compare-and-set on the cursor)
            t0 = time.perf_counter()
            try:
                services.commit_range(old_head=head, new_head=end, head_hash=fetched.end_hash,
                                      events=fetched.events, blocks=fetched.blocks, log_blocks=fetched.log_blocks,
                                      chain_block=chain_block)
            except services.CursorMoved:
                result.cursor_conflicts += 1
                pending = None
                state = services.load_state()
                head, head_hash = state.head_block, state.head_hash
                continue
            self.timings["commit"] += time.perf_counter() - t0
            attempts = 0
            result.blocks += end - head
            result.events += len(fetched.events)
            result.ranges += 1
            head, head_hash = end, fetched.end_hash
            result.head = head
            del fetched
            if self.progress is not None:
                self.progress(Progress(start_head=result.start_head, head=head, target=target,
                                       blocks=result.blocks, events=result.events,
                                       seconds=time.monotonic() - started, range_size=self.range_size))
            if head >= target:
                # caught up with what we knew of the chain: look again once (it may have grown)
                chain_block = self.rpc.block_number()
                services.record_poll(chain_block)
                new_target = self._target(chain_block, to_block)
                if new_target <= target:
                    result.caught_up = True
                    break
                target = result.target = new_target
                result.chain_block = chain_block

        result.head = head
        result.seconds = time.monotonic() - started
        result.timings = dict(self.timings)
        return result


@dataclass
class Fetched:
    """A range read from the node: outcome "range" (events, blocks), "reorg", "caught_up" or "shorter"."""

    head: int
    head_hash: str
    end: int
    outcome: str = ""
    events: list[Any] = field(default_factory=list)
    blocks: list[Header] = field(default_factory=list)
    log_blocks: set[int] = field(default_factory=set)
    end_hash: str = ""
    raw_count: int = 0
    rpc_seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)


def _consistent_headers(headers: dict[int, Header | None], wanted: set[int], end: int, end_hash: str,
                        events: Sequence[Any]) -> list[Header]:
    """The headers to store, after checking that the logs and the range end belong to one chain."""
    missing = [n for n in wanted if headers.get(n) is None]
    if missing:
        raise ChainMoved(f"blocks {missing[:5]} vanished while reading the range")
    if headers[end].hash != end_hash:
        raise ChainMoved(f"block {end} changed hash while reading the range")
    for event in events:
        if headers[event.block_number].hash != event.block_hash:
            raise ChainMoved(f"log of block {event.block_number} is from another fork")
    return [headers[n] for n in sorted(wanted)]


# --- entry points ---------------------------------------------------------------------------------------


def follow_once(*, max_seconds: float | None = None, respect_backoff: bool = True,
                **indexer_options: Any) -> dict[str, Any]:
    """One tick of the follower (the Celery beat task): take the lock, index what is new, record status.

    Never raises for a chain or node problem: the failure is recorded (IndexerState.last_error,
    failures, retry_at) and the next ticks wait out an exponential backoff. `indexer_options` go to
    Indexer (range_size, max_range, ...).
    """
    from chain.client import get_deployment
    from govapp.errors import DomainError

    if max_seconds is None:
        max_seconds = float(getattr(settings, "CHAIN_INDEXER_TASK_SECONDS", 25.0))
    if respect_backoff and services.in_backoff():
        return {"status": "backoff"}
    with services.indexer_lock() as acquired:
        if not acquired:
            return {"status": "busy"}
        try:
            deployment = get_deployment()
            services.ensure_state(deployment)
            indexer_options.setdefault("confirmations", settings.CHAIN_CONFIRMATIONS)
            indexer = Indexer(RpcClient.from_settings(), EventRegistry.from_deployment(deployment), **indexer_options)
            result = indexer.run(max_seconds=max_seconds)
        except (RpcError, DomainError, services.IndexingError) as exc:
            failures = services.record_failure(exc)
            logger.warning("chain indexer: run failed (%d in a row): %s", failures, exc)
            return {"status": "error", "error": str(exc), "failures": failures}
        except Exception as exc:  # a bug or a database error: record it too, never crash-loop
            failures = services.record_failure(exc)
            logger.exception("chain indexer: unexpected failure (%d in a row)", failures)
            return {"status": "error", "error": f"{type(exc).__name__}: {exc}", "failures": failures}
        services.record_success()
        return {"status": "ok", **result.as_dict()}
