"""The load test's simulated users (locust), driven by bench/load/run.py — not meant to be run alone.

Environment: LOAD_PLAN (JSON written by run.py: what exists in the seeded database, where the pre-signed votes
are), LOAD_SUMMARY (where to write the figures at the end), LOAD_WAIT_MIN / LOAD_WAIT_MAX (think time, s).

Every response is checked: a read must answer 200, a vote 201 (accepted); anything else — another status, a
redirect, a connection error — is a failure, and bench/load/run.py fails when there is one.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections import deque
from pathlib import Path
from typing import Any

from locust import between, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.stats import StatsEntry

PLAN: dict[str, Any] = json.loads(Path(os.environ["LOAD_PLAN"]).read_text())
# One shared queue of pre-signed votes (one locust process: gevent users take turns, never the same vote twice).
VOTES: deque[str] = deque(Path(PLAN["votes_file"]).read_text().splitlines())
VOTE_HEADERS = {"Content-Type": "application/json", "Accept": "application/json"}
JSON_HEADERS = {"Accept": "application/json"}
READS_WITHOUT_VOTES: list[int] = [0]  # vote turns that found the pool empty (the run says so)

#: request name -> kind; the per-kind figures add the names up.
VOTE_NAMES = ("vote: POST /api/votes/",)


class PortalUser(FastHttpUser):
    """A visitor who reads the portal and, when holding tokens, votes (weights: a read-heavy mix)."""

    wait_time = between(float(os.environ.get("LOAD_WAIT_MIN", "0.5")), float(os.environ.get("LOAD_WAIT_MAX", "1.5")))

    def _get(self, path: str, name: str, headers: dict[str, str] | None = None) -> None:
        with self.client.get(path, name=name, headers=headers, allow_redirects=False, catch_response=True) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:200]}")

    # --- pages
    @task(6)
    def home(self) -> None:
        self._get("/", "page: home")

    @task(5)
    def proposal_list(self) -> None:
        self._get("/proposals/" + random.choice(["", "?status=voting", "?page=2"]), "page: proposals list")

    @task(8)
    def proposal_detail(self) -> None:
        self._get(f"/proposals/{random.choice(PLAN['proposals'])}/", "page: proposal detail")

    @task(4)
    def vote_page(self) -> None:
        self._get(f"/votes/proposals/{random.choice(PLAN['voting'])}/", "page: vote page")

    @task(5)
    def delegate_directory(self) -> None:
        query = random.choice([
            "", f"?page={random.randint(1, PLAN['delegate_pages'])}", "?sort=delegators",
            f"?sort=name&page={random.randint(1, PLAN['delegate_pages'])}", f"?q={random.choice(PLAN['names'])}"])
        self._get("/delegates/" + query, "page: delegate directory")

    @task(3)
    def delegate_page(self) -> None:
        self._get(f"/delegates/{random.choice(PLAN['delegates'])}/", "page: delegate")

    @task(4)
    def archive_search(self) -> None:
        self._get(f"/archive/?q={random.choice(PLAN['archive_words'])}", "page: archive search")

    # --- API
    @task(3)
    def api_proposals(self) -> None:
        self._get("/api/proposals/?limit=20", "api: proposals list", JSON_HEADERS)

    @task(4)
    def api_proposal(self) -> None:
        self._get(f"/api/proposals/{random.choice(PLAN['proposals'])}/", "api: proposal detail", JSON_HEADERS)

    @task(4)
    def api_results(self) -> None:
        self._get(f"/api/votes/proposals/{random.choice(PLAN['voting'])}/results", "api: vote results",
                  JSON_HEADERS)

    @task(3)
    def api_delegates(self) -> None:
        offset = 25 * random.randrange(PLAN["delegate_pages"])
        self._get(f"/api/delegates/?limit=25&offset={offset}", "api: delegates list", JSON_HEADERS)

    @task(2)
    def api_delegate(self) -> None:
        self._get(f"/api/delegates/{random.choice(PLAN['delegates'])}/", "api: delegate detail", JSON_HEADERS)

    @task(2)
    def api_archive(self) -> None:
        self._get(f"/api/archive/entries/?q={random.choice(PLAN['archive_words'])}&limit=20",
                  "api: archive search", JSON_HEADERS)

    @task(2)
    def api_archive_entry(self) -> None:
        self._get(f"/api/archive/entries/{random.randint(1, PLAN['archive_entries'])}/", "api: archive entry",
                  JSON_HEADERS)

    @task(1)
    def healthz(self) -> None:
        self._get("/healthz", "healthz", JSON_HEADERS)

    # --- votes
    @task(10)
    def vote(self) -> None:
        try:
            body = VOTES.popleft()
        except IndexError:
            READS_WITHOUT_VOTES[0] += 1
            self.home()
            return
        with self.client.post("/api/votes/", data=body, headers=VOTE_HEADERS, name=VOTE_NAMES[0],
                              allow_redirects=False, catch_response=True) as response:
            if response.status_code != 201:
                response.failure(f"HTTP {response.status_code}: {(response.text or '')[:300]}")


def _figures(entry: StatsEntry, seconds: float) -> dict[str, Any]:
    return {"requests": entry.num_requests, "failures": entry.num_failures,
            "rps": entry.num_requests / seconds if seconds else 0.0,
            "p50_ms": entry.get_response_time_percentile(0.50) if entry.num_requests else None,
            "p99_ms": entry.get_response_time_percentile(0.99) if entry.num_requests else None,
            "mean_ms": entry.avg_response_time, "max_ms": entry.max_response_time}


@events.quitting.add_listener
def write_summary(environment, **_kw: Any) -> None:  # noqa: ANN001 - locust's Environment
    """Per request name, per kind (reads, votes) and overall: requests/s, p50, p99 (locust's histogram)."""
    stats = environment.stats
    seconds = max(stats.total.last_request_timestamp - stats.total.start_time, 1e-9)
    reads, votes = StatsEntry(stats, "reads", ""), StatsEntry(stats, "votes", "")
    names: dict[str, Any] = {}
    for (name, _method), entry in sorted(stats.entries.items()):
        names[name] = _figures(entry, seconds)
        (votes if name in VOTE_NAMES else reads).extend(entry)
    summary = {"seconds": seconds, "ended": time.time(), "names": names,
               "kinds": {"reads": _figures(reads, seconds), "votes": _figures(votes, seconds)},
               "total": _figures(stats.total, seconds),
               "errors": [{"name": e.name, "method": e.method, "error": str(e.error), "occurrences": e.occurrences}
                          for e in stats.errors.values()],
               "votes_left": len(VOTES), "vote_turns_without_votes": READS_WITHOUT_VOTES[0]}
    Path(os.environ["LOAD_SUMMARY"]).write_text(json.dumps(summary, indent=2))
