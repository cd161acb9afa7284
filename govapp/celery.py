"""The Celery app: queues named for their work, beat schedule defined in code."""

from __future__ import annotations

import os

from celery import Celery
from kombu import Exchange, Queue

from govapp.security import install_celery_log_redaction

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govapp.settings")

app = Celery("govapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Workers set up their own log handlers: they redact secrets like the ones in LOGGING (govapp.security).
install_celery_log_redaction()

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
app.conf.beat_schedule = {
    # Discussion → Endorsement once GOVERNANCE["DISCUSSION_PERIOD_SECONDS"] are over.
    "proposals-advance-timed-transitions": {"task": "proposals.tasks.advance_timed_transitions", "schedule": 60.0,
                                            "options": {"expires": 55}},
    # Follow the chain: index new blocks (resumable, locked, backs off while the node is down).
    "chain-follow-chain": {"task": "chain.tasks.follow_chain", "schedule": 5.0, "options": {"expires": 15}},
    # Execution: schedule newly passed proposals; advance every due execution (the reconciler).
    "execution-queue-passed": {"task": "execution.tasks.queue_passed", "schedule": 30.0, "options": {"expires": 60}},
    "execution-sweep": {"task": "execution.tasks.sweep", "schedule": 10.0, "options": {"expires": 30}},
    # Close the votes whose window has ended: recompute the tally, decide, archive (voting.tasks).
    "voting-close-due-votes": {"task": "voting.tasks.close_due_votes", "schedule": 60.0, "options": {"expires": 55}},
    # Delegate directory: rebuild the rows that changed from the indexer's checkpoints (delegation.directory).
    "delegation-refresh-directory": {"task": "delegation.tasks.refresh_directory", "schedule": 15.0,
                                     "options": {"expires": 14}},
    # Publish the archive's head hash on-chain (ArchiveAnchor) so exports can be checked against it.
    "archive-anchor-head": {"task": "archive.tasks.anchor_head", "schedule": 3600.0, "options": {"expires": 3300}},
    # Sign-in nonces that expired more than a day ago.
    "accounts-purge-sign-in-nonces": {"task": "accounts.tasks.purge_sign_in_nonces", "schedule": 86400.0},
    # Gasless delegations: send relays left `requested`, track `submitted` ones whose tracker stopped.
    "delegation-sweep-relays": {"task": "delegation.tasks.sweep_relays", "schedule": 30.0, "options": {"expires": 29}},
}

app.autodiscover_tasks()
