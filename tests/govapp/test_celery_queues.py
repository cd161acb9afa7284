"""Each task reaches exactly one queue, named for its work, through the real Redis broker."""

from urllib.parse import urlparse

import redis
from django.conf import settings

from govapp.celery import QUEUE_NAMES, app

# A Redis database of its own, so emptying the queues here never races a test whose worker
# consumes the suite's real queues.
ROUTING_TEST_DB = "/8"


def _depths(client: redis.Redis) -> dict[str, int]:
    return {name: client.llen(name) for name in QUEUE_NAMES}


def test_a_task_routed_to_indexing_lands_only_in_the_indexing_queue():
    assert settings.CELERY_BROKER_URL.startswith("redis://"), "make test runs against Redis"
    url = urlparse(settings.CELERY_BROKER_URL)._replace(path=ROUTING_TEST_DB).geturl()
    client = redis.Redis.from_url(url)
    client.delete(*QUEUE_NAMES)
    with app.connection_for_write(url) as conn:
        for queue in app.amqp.queues.values():  # bind every queue first, as running workers do
            queue.bind(conn.default_channel).declare()
        app.send_task("chain.tasks.probe", connection=conn)
        app.send_task("execution.tasks.probe", connection=conn)
        app.send_task("proposals.tasks.probe", connection=conn)
    try:
        assert _depths(client) == {"default": 1, "indexing": 1, "execution": 1}
    finally:
        client.delete(*QUEUE_NAMES)
