"""Each task reaches exactly one queue, named for its work, through the real Redis broker."""

import redis
from django.conf import settings

from govapp.celery import QUEUE_NAMES, app


def _depths(client: redis.Redis) -> dict[str, int]:
    return {name: client.llen(name) for name in QUEUE_NAMES}


def test_a_task_routed_to_indexing_lands_only_in_the_indexing_queue():
    assert settings.CELERY_BROKER_URL.startswith("redis://"), "make test runs against Redis"
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    for name in QUEUE_NAMES:
        client.delete(name)
    with app.connection_for_write() as conn:
        app.send_task("chain.tasks.probe", connection=conn)
        app.send_task("execution.tasks.probe", connection=conn)
        app.send_task("proposals.tasks.probe", connection=conn)
    assert _depths(client) == {"default": 1, "indexing": 1, "execution": 1}
    for name in QUEUE_NAMES:
        client.delete(name)
