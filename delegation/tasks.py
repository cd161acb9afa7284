"""Celery tasks of delegation (default queue).

* relay_delegation(relay_id) — send a requested gasless delegation (delegation.relayer.submit), then
  track it.
* track_relay(relay_id) — poll its receipt every RELAY_TRACK_INTERVAL_SECONDS until confirmed/failed.
* sweep_relays() — periodic (beat): sends relays left `requested` (broker was down) and tracks
  `submitted` ones whose tracker gave up or was lost.
* refresh_directory() — periodic (beat): rebuilds the directory rows from the indexer's checkpoints.
"""

from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from delegation import constants as C


@shared_task(name="delegation.tasks.relay_delegation", acks_late=True)
def relay_delegation(relay_id: str) -> str:
    from delegation import relayer
    from delegation.models import RelayStatus

    relay = relayer.submit(relay_id)
    if relay.status == RelayStatus.SUBMITTED:
        track_relay.apply_async((relay_id,), countdown=C.RELAY_TRACK_INTERVAL_SECONDS)
    return relay.status


@shared_task(name="delegation.tasks.track_relay", bind=True, max_retries=C.RELAY_TRACK_MAX_TRIES)
def track_relay(self, relay_id: str) -> str:
    from delegation import relayer
    from delegation.models import RelayStatus

    relay = relayer.track(relay_id)
    if relay.status == RelayStatus.SUBMITTED:
        raise self.retry(countdown=C.RELAY_TRACK_INTERVAL_SECONDS)
    return relay.status


@shared_task(name="delegation.tasks.sweep_relays")
def sweep_relays() -> dict[str, int]:
    from delegation import relayer
    from delegation.models import RelayedDelegation, RelayStatus

    stale = timezone.now() - timedelta(seconds=30)
    sent = tracked = 0
    for relay_id in RelayedDelegation.objects.filter(status=RelayStatus.REQUESTED, created_at__lt=stale) \
            .values_list("pk", flat=True)[:100]:
        relayer.submit(relay_id)
        sent += 1
    for relay_id in RelayedDelegation.objects.filter(status=RelayStatus.SUBMITTED, updated_at__lt=stale) \
            .values_list("pk", flat=True)[:100]:
        relayer.track(relay_id)
        tracked += 1
    return {"sent": sent, "tracked": tracked}


@shared_task(name="delegation.tasks.refresh_directory")
def refresh_directory() -> dict[str, int]:
    from delegation import directory

    return directory.refresh_all()
