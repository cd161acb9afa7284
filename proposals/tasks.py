"""Timed transitions of proposals (run by Celery beat; see govapp.celery beat_schedule)."""

from __future__ import annotations

from celery import shared_task

from proposals import services


@shared_task(name="proposals.tasks.advance_timed_transitions", ignore_result=True)
def advance_timed_transitions() -> list[int]:
    """Discussion → Endorsement for every proposal whose discussion period is over."""
    return services.advance_discussions()
