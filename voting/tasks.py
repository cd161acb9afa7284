"""Celery tasks of voting: close the votes whose window has ended (beat, every minute)."""

from __future__ import annotations

import logging

from celery import shared_task

from govapp.errors import DomainError

log = logging.getLogger(__name__)


@shared_task(name="voting.tasks.close_vote")
def close_vote(number: int) -> dict:
    """Close one proposal's vote: recompute from scratch, compare with the live tally, decide, archive."""
    from voting.services import close_voting

    tally = close_voting(number)
    return {"proposal": number, "outcome": tally.outcome, "discrepancy": tally.discrepancy is not None,
            "archive_sequence": tally.archive_sequence}


@shared_task(name="voting.tasks.close_due_votes")
def close_due_votes() -> list[dict]:
    """Every proposal in Voting whose window has ended, closed one by one (each in its own transaction)."""
    from voting.services import due_for_closing

    done = []
    for number in due_for_closing():
        try:
            done.append(close_vote(number))
        except DomainError as exc:
            log.error("closing the vote on proposal %s failed: %s (%s)", number, exc.message, exc.code)
            done.append({"proposal": number, "error": exc.code})
    return done
