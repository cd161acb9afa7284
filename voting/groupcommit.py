"""Group commit: single votes that concurrent requests of one process cast at the same moment are stored
together — one transaction, one archive append, one Tally update — instead of one after the other.

Why: storing one vote costs ~7 statements and a COMMIT, and every vote of a proposal serializes on the
archive's append lock and the proposal's Tally row anyway. So when requests arrive together (a threaded
server under load), the first one to get here becomes the *leader*: it takes every waiting item (up to
`max_group`) and hands them to `flush` as one group; the others wait. Then the leader passes the lead to the
oldest item still waiting, if any, and returns. Every caller gets its own outcome (a result, or the
exception meant for it) only after its group is committed, so a reply still means "stored".

With one request at a time (a sync worker, the test client) every group holds one item: nothing changes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


class _Slot(Generic[Item]):
    __slots__ = ("item", "outcome", "ready", "lead")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.outcome: object = None
        self.ready = threading.Event()
        self.lead = False  # woken to lead the next group rather than with an outcome


class GroupCommit(Generic[Item, Result]):
    """`submit(item)` -> `flush(group)[i]` for the group `item` ended up in; exceptions are re-raised in their
    caller. `flush` gets the items in arrival order and returns one outcome per item (a result, or an exception
    instance for that caller); if `flush` itself raises, every caller of the group gets that exception."""

    def __init__(self, flush: Callable[[list[Item]], Sequence[Result | BaseException]], *, max_group: int) -> None:
        self._flush = flush
        self.max_group = max_group
        self._lock = threading.Lock()
        self._waiting: list[_Slot[Item]] = []
        self._leading = False
        self.groups = 0  # flushed so far (the tests and the benchmark read them)
        self.items = 0

    def submit(self, item: Item) -> Result:
        slot = _Slot(item)
        with self._lock:
            self._waiting.append(slot)
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.ready.wait()
            if not slot.lead:
                return _outcome(slot)
        # Leading: our slot is the oldest waiting one (the lead goes to the head of the queue), so it is in
        # this group.
        with self._lock:
            group, self._waiting = self._waiting[: self.max_group], self._waiting[self.max_group:]
        try:
            outcomes = list(self._flush([s.item for s in group]))
            if len(outcomes) != len(group):
                raise RuntimeError(f"flush returned {len(outcomes)} outcomes for {len(group)} items")
        except BaseException as exc:  # noqa: BLE001 - handed to every caller of the group, re-raised below
            outcomes = [exc] * len(group)
        for waiting, outcome in zip(group, outcomes, strict=True):
            waiting.outcome = outcome
        with self._lock:
            self.groups += 1
            self.items += len(group)
            successor = self._waiting[0] if self._waiting else None
            if successor is None:
                self._leading = False
            else:
                successor.lead = True
        for waiting in group:
            if waiting is not slot:
                waiting.ready.set()
        if successor is not None:
            successor.ready.set()
        return _outcome(slot)


def _outcome(slot: _Slot) -> object:
    if isinstance(slot.outcome, BaseException):
        raise slot.outcome
    return slot.outcome
