"""gunicorn settings of the votes benchmark: each worker, on exit, appends its group-commit counters
(voting.groupcommit: groups flushed, votes in them) to $BENCH_GROUP_STATS_FILE as one JSON line."""

import json
import os


def worker_exit(server, worker):  # noqa: ANN001, ARG001 - gunicorn's hook signature
    path = os.environ.get("BENCH_GROUP_STATS_FILE")
    if not path:
        return
    from voting.services import _group_commit

    with open(path, "a", encoding="utf-8") as out:
        out.write(json.dumps({"pid": worker.pid, "groups": _group_commit.groups, "votes": _group_commit.items}) + "\n")
