"""`manage.py index_chain`: index the watched contracts' events into the chain index, with progress lines.

    manage.py index_chain                       # from the cursor (or the deployment block) to head - confirmations
    manage.py index_chain --from-block 1 --to-block 50000
    manage.py index_chain --follow              # then keep following the head (Ctrl-C / SIGTERM stops)
    manage.py index_chain --reset               # forget the index first (rebuild)

Resumable: the cursor is committed with each range, so a killed run restarts where it stopped.
Only one indexer runs at a time (advisory lock): this command waits for a running one to let go.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from chain import services
from chain.client import get_deployment
from chain.decoding import EventRegistry
from chain.indexer import DEFAULT_RANGE, MAX_RANGE, Indexer, Progress, RpcClient, RpcError


class Command(BaseCommand):
    help = "Index GovernanceToken checkpoints and the watched contracts' events (resumable; --follow to keep up)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--from-block", type=int, default=None,
                            help="First block when the index is empty (default: the earliest deployment block).")
        parser.add_argument("--to-block", type=int, default=None,
                            help="Stop at this block (default: chain head - CHAIN_CONFIRMATIONS).")
        parser.add_argument("--follow", action="store_true", help="After catching up, keep following the head.")
        parser.add_argument("--interval", type=float, default=2.0, help="Seconds between polls with --follow.")
        parser.add_argument("--range", type=int, default=DEFAULT_RANGE, dest="range_size",
                            help="Initial eth_getLogs range in blocks (adapts between 1 and --max-range).")
        parser.add_argument("--max-range", type=int, default=MAX_RANGE, help="Largest eth_getLogs range in blocks.")
        parser.add_argument("--reset", action="store_true", help="Delete the whole index first, then rebuild it.")

    def handle(self, *args: Any, from_block: int | None, to_block: int | None, follow: bool, interval: float,
               range_size: int, max_range: int, reset: bool, **options: Any) -> None:
        self.verbosity = int(options.get("verbosity", 1))
        self.stopping = False
        self._last_print = 0.0
        previous = {}
        if threading.current_thread() is threading.main_thread():  # finish the range, then stop
            previous = {sig: signal.signal(sig, self._stop) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            self._handle(from_block=from_block, to_block=to_block, follow=follow, interval=interval,
                         range_size=range_size, max_range=max_range, reset=reset)
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _handle(self, *, from_block: int | None, to_block: int | None, follow: bool, interval: float,
                range_size: int, max_range: int, reset: bool) -> None:
        deployment = get_deployment()
        waited = False
        while not self.stopping:
            with services.indexer_lock() as acquired:
                if acquired:
                    self._start(deployment, from_block=from_block, reset=reset)
                    indexer = Indexer(RpcClient.from_settings(), EventRegistry.from_deployment(deployment),
                                      confirmations=settings.CHAIN_CONFIRMATIONS, range_size=range_size,
                                      max_range=max_range, progress=self._progress)
                    self._run(indexer, to_block=to_block, follow=follow, interval=interval)
                    return
            if not waited:
                self.stdout.write("another indexer is running; waiting for it to let go")
                waited = True
            time.sleep(0.5)

    def _start(self, deployment: Any, *, from_block: int | None, reset: bool) -> None:
        """--reset, the cursor row, and the --from-block checks (under the lock)."""
        if reset:
            services.reset_index()
            self.stdout.write("index reset")
        state = services.ensure_state(deployment, from_block=from_block)
        if from_block is not None:
            if from_block > state.head_block + 1:
                raise CommandError(
                    f"--from-block {from_block} is past the indexed head + 1 ({state.head_block + 1}): the blocks "
                    "in between would be missing. Add --reset to rebuild the index from that block.")
            if from_block <= state.head_block:
                self.stdout.write(f"blocks up to {state.head_block} are already indexed; resuming at "
                                  f"{state.head_block + 1} (--reset re-indexes from --from-block)")
        if state.start_block > deployment.start_block:
            self.stderr.write(f"warning: the index starts at block {state.start_block}, after the deployment "
                              f"(block {deployment.start_block}): balances and votes miss the earlier events")

    # -- helpers -------------------------------------------------------------------------------------

    def _stop(self, signum: int, frame: Any) -> None:  # noqa: ARG002 - signal handler signature
        self.stopping = True

    def _should_stop(self) -> bool:
        return self.stopping

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))

    def _run(self, indexer: Indexer, *, to_block: int | None, follow: bool, interval: float) -> None:
        while True:
            try:
                result = indexer.run(to_block=to_block, should_stop=self._should_stop)
            except (RpcError, services.IndexingError) as exc:
                failures = services.record_failure(exc)
                if not follow:
                    raise CommandError(f"indexing failed: {exc}") from exc
                wait = services.backoff_seconds(failures)
                self.stderr.write(f"indexing failed ({failures} in a row): {exc}; retrying in {wait:.0f} s")
                self._sleep(wait)
                if self.stopping:
                    return
                continue
            services.record_success()
            if self.verbosity and (result.blocks or result.reorgs or not follow):  # quiet while idle
                rate = result.events / result.seconds if result.seconds else 0.0
                self.stdout.write(
                    f"indexed to block {result.head} (chain head {result.chain_block}): {result.blocks:,} blocks, "
                    f"{result.events:,} events in {result.seconds:.2f} s ({rate:,.0f} events/s)"
                    + (f", {result.reorgs} reorg(s) handled" if result.reorgs else ""))
            done = to_block is not None and result.head >= to_block
            if not follow or done or self.stopping:
                return
            self._sleep(interval)
            if self.stopping:
                return

    def _progress(self, p: Progress) -> None:
        now = time.monotonic()
        if self.verbosity == 0 or (now - self._last_print < 1.0 and p.head < p.target):
            return
        self._last_print = now
        total = max(1, p.target - p.start_head)
        share = min(1.0, (p.head - p.start_head) / total)
        bar = "#" * int(share * 20) + "." * (20 - int(share * 20))
        line = (f"[{bar}] block {p.head:,}/{p.target:,} {share * 100:5.1f}% | {p.blocks_per_second:,.0f} blocks/s | "
                f"{p.events:,} events, {p.events_per_second:,.0f} events/s | range {p.range_size}")
        self.stdout.write(line)
        sys.stdout.flush()
