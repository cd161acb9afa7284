"""Celery tasks of the chain index (routed to the `indexing` queue by govapp.celery).

follow_chain runs from beat every few seconds (govapp.celery beat_schedule). It is safe to run twice at
once, to be redelivered after a worker crash (acks_late) and to run late: it takes the indexer's advisory
lock (a second copy returns "busy"), resumes from the committed cursor, and records node failures with
an exponential backoff instead of raising (a dead node never becomes a crash loop).
"""

from __future__ import annotations

from typing import Any

from celery import shared_task


@shared_task(name="chain.tasks.follow_chain", acks_late=True, ignore_result=True,
             soft_time_limit=240, time_limit=300)
def follow_chain(max_seconds: float | None = None) -> dict[str, Any]:
    """Index the new blocks (up to head - CHAIN_CONFIRMATIONS) for at most `max_seconds`
    (CHAIN_INDEXER_TASK_SECONDS, default 25 s); the next tick continues."""
    from chain.indexer import follow_once

    return follow_once(max_seconds=max_seconds)
