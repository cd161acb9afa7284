"""The Celery app: queues named for their work, beat schedule defined in code."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govapp.settings")

app = Celery("govapp")
app.config_from_object("django.conf:settings", namespace="CELERY")

QUEUE_NAMES = ("default", "indexing", "execution")
# Each queue has its own routing key so a task reaches exactly one queue.
app.conf.task_queues = tuple(Queue(name, Exchange(name), routing_key=name) for name in QUEUE_NAMES)
app.conf.task_default_exchange = "default"
app.conf.task_default_routing_key = "default"
# Route by the app that owns the task; anything unlisted runs on "default".
app.conf.task_routes = {
    "chain.tasks.*": {"queue": "indexing"},
    "execution.tasks.*": {"queue": "execution"},
}
# Periodic work. Each entry names a task by its dotted path; apps add theirs here, in one place.
app.conf.beat_schedule = {}

app.autodiscover_tasks()
