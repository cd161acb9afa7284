"""Celery tasks of the execution engine (routed to the `execution` queue by govapp.celery).

Every task is idempotent — it reads the database and the chain and takes the next step, under row locks —
so it runs with acks_late (redelivered if the worker dies: task_reject_on_worker_lost) and may be
delivered twice or run by two workers at once. Retries are the engine's own (Execution.next_attempt_at,
exponential backoff, EXECUTION_MAX_ATTEMPTS); the tasks never ask for a countdown longer than
EXECUTION_MAX_COUNTDOWN, far below the Redis visibility timeout. Beat (govapp.celery) runs
`queue_passed` and `sweep`; `advance_execution` is also sent on events (a veto reaching the threshold).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

log = logging.getLogger(__name__)

_COMMON: dict[str, Any] = {"acks_late": True, "ignore_result": True, "soft_time_limit": 240, "time_limit": 300}


@shared_task(name="execution.tasks.advance_execution", bind=True, max_retries=3, **_COMMON)
def advance_execution(self, execution_id: int) -> str:
    """Take one execution as far as it can go now."""
    from execution import engine

    try:
        return engine.advance(int(execution_id)).state
    except Exception as exc:  # a bug or the database: capped retries, then Celery logs it
        log.exception("advancing execution %s failed", execution_id)
        raise self.retry(exc=exc, countdown=min(30 * 2 ** self.request.retries, 600)) from exc


@shared_task(name="execution.tasks.queue_passed", **_COMMON)
def queue_passed() -> list[int]:
    """Create the executions of newly passed proposals and advance them (schedule on the executor)."""
    from execution import engine

    created = engine.queue_passed()
    for execution_id in created:
        engine.advance(execution_id)
    return created


@shared_task(name="execution.tasks.sweep", **_COMMON)
def sweep(limit: int = 50) -> dict[str, Any]:
    """Advance every execution that is due (the reconciler: nothing is lost if an event task is)."""
    from execution import engine, vetoes

    vetoes.sync_council_membership()
    due = engine.due_executions()[:limit]
    states = {execution_id: engine.advance(execution_id).state for execution_id in due}
    return {"advanced": len(states), "states": states}
