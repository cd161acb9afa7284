#!/usr/bin/env python
"""Load test of the portal: a mixed read + vote workload (locust) against gunicorn + PostgreSQL + Redis.

    .venv/bin/python bench/load/run.py                          # 24 users for 75 s (~2 min in all)
    .venv/bin/python bench/load/run.py --users 8 --duration 30  # a quick run
    .venv/bin/python bench/load/run.py --json var/bench/load.json

Steps, in a scratch PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/govapp_load_bench; dropped and re-created, dropped at the end unless --keep):

1. migrate; a Foundation archive of --archive-entries entries COPYed with a valid hash chain (bench/archive's
   generator, the first tenth real signed votes); a synthetic chain index COPYed into the indexer's tables
   (bench/delegation's holders and delegates, with signed statements, plus --voters voters whose power is
   checkpointed before the snapshot block, as in bench/votes); the delegate directory built from it;
2. --proposals proposals created through proposals.services (revision, archive entry), half of them moved
   to Discussion by their author, --voting of them put in Voting (Tally opened) as bench/votes does;
3. every vote the run may need pre-signed (EIP-712, coincurve): each (voter, voting proposal) pair once,
   shuffled — every vote a simulated user casts is real, distinct and valid;
4. an anvil node (so /healthz sees a chain), Redis (the Celery broker /healthz checks) and gunicorn (--workers
   gthread workers of --threads threads as deployed, DEBUG off with throw-away secrets, collected static files,
   rate limits off — the whole load comes from one IP) on loopback;
5. locust, headless, in a subprocess: --users users (spawned at --spawn-rate/s) for --duration seconds, each
   waiting 0.5–1.5 s between requests, reading the pages and the API and casting votes (weights in
   bench/load/locustfile.py). Every response is checked (200 for reads, 201 for votes);
6. afterwards: every accepted vote is in the database and each live tally equals its recomputed tally.

Printed: requests/s overall, per kind (reads, votes) and per request name, p50/p99 latency, the error count,
the CPU seconds of the server (gunicorn + PostgreSQL backends) and of locust, and the load average.
Exits 1 when a request failed or a check did not hold.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from bench.common import (  # noqa: E402
    children,
    collected_static_var_dir,
    copy_rows,
    cpu_between,
    cpu_snapshot,
    database_backends,
    free_port,
    load_average,
    machine_info,
    proc_cpu_seconds,
    production_env,
    result,
    start_gunicorn,
    stop_process,
    write_json,
)
from bench.scratch_db import drop_database, recreate_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/govapp_load_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/11"
HEAD = 1_000_000  # indexed head (bench/delegation's checkpoints reach it)
VOTER_BLOCK = 10  # the voters' checkpoints, before the snapshot
SNAPSHOT_BLOCK = 50
DELEGATOR_EVERY = 20  # 1 voter in 20 delegates to the previous voter (the override path runs)
ARCHIVE_WORDS = ("upgrade", "sequencer", "treasury", "grant", "audit", "council", "bridge", "prover",
                 "timelock", "guardian", "delegate", "fee")
LOCUSTFILE = Path(__file__).with_name("locustfile.py")


def log(message: str) -> None:
    print(message, flush=True)


# --------------------------------------------------------------------------- seeding
def seed_archive(url: str, entries: int) -> None:
    """A valid hash chain of `entries` entries (bench/archive's generator and COPY), before anything appends."""
    from bench.archive.run import bulk_load

    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM archive_archiveentry").fetchone()[0] == 0
    bulk_load(url, entries, max(entries // 10, 100))


def seed_index(url: str, voters: list[str], holders: int, delegates: int) -> dict[str, int]:
    """The chain index (COPY): bench/delegation's holders, delegates and statements, plus the voters."""
    from bench.delegation.run import generate, statement_rows
    from bench.votes.run import power_of

    balances, delegations, votes, supply = generate(holders, delegates)
    voter_votes: dict[str, int] = {}
    for i, address in enumerate(voters):
        balance = power_of(i)
        delegate = voters[i - 1] if i % DELEGATOR_EVERY == DELEGATOR_EVERY - 1 else address
        balances.append((address, VOTER_BLOCK, balance))
        delegations.append((address, VOTER_BLOCK, delegate))
        voter_votes[delegate] = voter_votes.get(delegate, 0) + balance
        supply += balance
    votes += [(address, VOTER_BLOCK, power) for address, power in voter_votes.items()]
    statements = statement_rows(delegates)
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO chain_indexerstate (name, contracts, start_block, head_block, head_hash, failures, "
                    "reorgs, created_at, last_error) VALUES ('default', '{}', 1, %s, %s, 0, 0, now(), '')",
                    [HEAD, "0x" + "00" * 32])
        copy_rows(cur, "chain_balancecheckpoint", ("account", "block", "balance"), balances)
        copy_rows(cur, "chain_delegatecheckpoint", ("account", "block", "delegate"), delegations)
        copy_rows(cur, "chain_votescheckpoint", ("account", "block", "votes"), votes)
        # chain_latestvotes (each account's last two votes checkpoints) is kept by the indexer with the
        # checkpoints; copied in directly here, so filled the way chain migration 0003 fills it
        cur.execute("INSERT INTO chain_latestvotes (account, block, votes, prev_block, prev_votes) "
                    "SELECT t.account, t.block, t.votes, p.block, p.votes FROM chain_votescheckpoint t "
                    "LEFT JOIN chain_votescheckpoint p ON p.account = t.account AND p.block = (SELECT MAX(q.block) "
                    "FROM chain_votescheckpoint q WHERE q.account = t.account AND q.block < t.block) "
                    "WHERE t.block = (SELECT MAX(m.block) FROM chain_votescheckpoint m WHERE m.account = t.account)")
        cur.execute("INSERT INTO chain_supplycheckpoint (block, total_supply) VALUES (1, %s)", [supply])
        copy_rows(cur, "delegation_delegatestatement",
                  ("id", "delegate", "version", "display_name", "statement", "statement_html", "interests", "links",
                   "signed_timestamp", "typed_data", "signature", "digest", "contract_wallet", "archive_sequence",
                   "created_at"), statements)
        cur.execute("SELECT setval(pg_get_serial_sequence('delegation_delegatestatement', 'id'), %s)",
                    [len(statements) + 1])
        cur.execute("ANALYZE")
    return {"balance": len(balances), "delegate": len(delegations), "votes": len(votes),
            "statements": len(statements)}


PROPOSAL_BODY = """## Summary

{title}. This proposal is part of the load test's seeded state; its text is long enough to be rendered as
Markdown with a few paragraphs, a list and a link, as real proposals are.

## Motivation

The network's parameters were set at launch. Since then the {word} has changed, and the working group measured
its effect over three months. The data and the forum discussion are linked below.

* what changes: the {word} settings;
* who is affected: every holder and delegate;
* how to revert it: a later proposal.

## Specification

See [the forum thread](https://forum.example.org/t/{number}) for the exact values and the security review.
"""


def seed_proposals(voters: list[str], total: int, voting: int) -> tuple[list[int], list[int]]:
    """`total` proposals through proposals.services; the last `voting` of them in Voting (Tally opened).

    The seeded archive's history already holds final tallies of proposals 1, 2, ... (bench/archive's
    generator): a proposal whose number has one cannot take votes, so those are never put in Voting.
    """
    from django.utils import timezone

    from accounts.models import User
    from archive import kinds
    from archive.models import ArchiveEntry
    from proposals import services
    from proposals.models import Proposal
    from voting.services import open_voting

    closed = set(ArchiveEntry.objects.filter(kind=kinds.TALLY_FINAL).values_list("proposal_ref", flat=True))
    if total - voting < len(closed):
        raise SystemExit(f"--proposals must exceed {len(closed) + voting}: the archive's history closed "
                         f"{len(closed)} tallies")
    rng = random.Random(5)
    authors = [User.objects.for_address(address) for address in voters[:10]]
    numbers, voting_numbers = [], []
    now = timezone.now()
    for n in range(total):
        word = rng.choice(ARCHIVE_WORDS)
        author = authors[n % len(authors)]
        title = f"Adjust the {word} policy, round {n + 1}"
        proposal = services.create_proposal(author, title=title, kind=rng.choice(["process", "informational"]),
                                            body=PROPOSAL_BODY.format(title=title, word=word, number=n + 1),
                                            payload={})
        numbers.append(proposal.number)
        if n >= total - voting and proposal.ref not in closed:
            Proposal.objects.filter(pk=proposal.pk).update(
                status="voting", snapshot_block=SNAPSHOT_BLOCK, status_changed_at=now,
                voting_starts_at=now - dt.timedelta(minutes=5), voting_ends_at=now + dt.timedelta(days=1))
            open_voting(Proposal.objects.get(pk=proposal.pk))
            voting_numbers.append(proposal.number)
        elif n % 2:
            services.user_transition(proposal.number, "discussion", author)
    return numbers, voting_numbers


def presign(keys: list, voting_numbers: list[int], path: Path) -> int:
    """Every (voter, voting proposal) vote, signed and shuffled, one JSON body a line."""
    from bench.votes.run import checksum, portal_domain, vote_body

    domain, separator = portal_domain()
    now = int(time.time())
    pairs = [(i, number) for number in voting_numbers for i in range(len(keys))]
    random.Random(9).shuffle(pairs)
    with path.open("w") as out:
        for i, number in pairs:
            key, address = keys[i]
            out.write(json.dumps(vote_body(key, checksum(address), number, (i + number) % 3, now, domain, separator),
                                 separators=(",", ":")) + "\n")
    return len(pairs)


def plan_for_users(workdir: Path, numbers: list[int], voting: list[int], votes_file: Path,
                   archive_entries: int) -> Path:
    from delegation.models import Delegate

    count = Delegate.objects.count()
    top = list(Delegate.objects.order_by("-voting_power").values_list("address", flat=True)[:100])
    rng = random.Random(4)
    others = list(Delegate.objects.values_list("address", flat=True))
    names = [n.split()[0].lower() for n in Delegate.objects.exclude(display_name="").values_list(
        "display_name", flat=True)[:300]]
    plan = {"proposals": numbers, "voting": voting, "votes_file": str(votes_file),
            "delegates": top + rng.sample(others, min(100, len(others))),
            "delegate_pages": max(1, -(-count // 25)), "names": names or ["alpha"],
            "archive_words": list(ARCHIVE_WORDS), "archive_entries": archive_entries}
    path = workdir / "plan.json"
    path.write_text(json.dumps(plan))
    return path


def warm_up(port: int, workers: int, numbers: list[int], voting: list[int]) -> None:
    """Each page kind a few times per worker, concurrently, so no worker compiles templates during the run."""
    from concurrent.futures import ThreadPoolExecutor

    paths = ["/", "/proposals/", f"/proposals/{numbers[0]}/", f"/votes/proposals/{voting[0]}/", "/delegates/",
             "/archive/?q=upgrade", "/api/proposals/", f"/api/votes/proposals/{voting[0]}/results",
             "/api/delegates/", "/api/archive/entries/?q=fee", "/healthz"]

    def get(path: str) -> None:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=60) as response:  # noqa: S310
            response.read()

    with ThreadPoolExecutor(workers * 2) as pool:
        list(pool.map(get, paths * workers * 3))


# --------------------------------------------------------------------------- checks after the run
def check_votes(accepted: int, voting_numbers: list[int]) -> list[str]:
    """Every accepted vote stored once; live and recomputed tallies agree. Returns the problems."""
    from proposals.models import Proposal
    from voting.models import Tally, Vote
    from voting.services import live_totals, recompute_totals

    problems = []
    stored = Vote.objects.count()
    if stored != accepted:
        problems.append(f"{stored} votes stored, {accepted} accepted (201) by the server")
    for number in voting_numbers:
        proposal = Proposal.objects.get(number=number)
        live, recomputed = live_totals(Tally.objects.get(pk=proposal.pk)), recompute_totals(proposal)
        if live != recomputed:
            problems.append(f"proposal {number}: live tally {live} != recomputed {recomputed}")
    return problems


# --------------------------------------------------------------------------- report
def fmt_ms(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f} ms"


def print_table(summary: dict[str, Any]) -> None:
    log(f"\n{'request':34} {'count':>7} {'fail':>5} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}")
    rows = [*summary["names"].items(), ("— reads", summary["kinds"]["reads"]),
            ("— votes", summary["kinds"]["votes"]), ("— all", summary["total"])]
    for name, f in rows:
        if not f["requests"]:
            continue
        log(f"{name:34} {f['requests']:7,} {f['failures']:5,} {f['rps']:7.1f} {f['p50_ms']:7,.0f} "
            f"{f['p99_ms']:7,.0f} {f['max_ms']:7,.0f}")


def results_of(summary: dict[str, Any], cpu: dict[str, float], errors: int, problems: list[str],
               args: argparse.Namespace, load: dict[str, list[float]]) -> list[dict[str, Any]]:
    total, reads, votes = summary["total"], summary["kinds"]["reads"], summary["kinds"]["votes"]
    requests = max(total["requests"], 1)
    rows = [
        result("throughput, all requests", f"{total['rps']:,.1f} requests/s ({total['requests']:,} in "
               f"{summary['seconds']:.0f} s, {args.users} users)", round(total["rps"], 2), "requests/s"),
        result("throughput, reads", f"{reads['rps']:,.1f} requests/s", round(reads["rps"], 2), "requests/s"),
        result("throughput, votes (accepted)", f"{votes['rps']:,.1f} votes/s ({votes['requests'] - votes['failures']:,}"
               " accepted)", round(votes["rps"], 2), "votes/s"),
        result("latency, reads", f"p50 {fmt_ms(reads['p50_ms'])}, p99 {fmt_ms(reads['p99_ms'])}",
               reads["p99_ms"] or 0, "ms (p99)"),
        result("latency, votes", f"p50 {fmt_ms(votes['p50_ms'])}, p99 {fmt_ms(votes['p99_ms'])}",
               votes["p99_ms"] or 0, "ms (p99)"),
    ]
    for name, f in summary["names"].items():
        rows.append(result(f"latency, {name}", f"{f['rps']:,.1f} req/s; p50 {fmt_ms(f['p50_ms'])}, "
                           f"p99 {fmt_ms(f['p99_ms'])}", f["p99_ms"] or 0, "ms (p99)"))
    rows += [
        result("errors (non-2xx, unexpected status, connection errors, failed checks)",
               f"{errors:,}" + (f" — {'; '.join(problems)}" if problems else ""), errors, "errors", "0",
               errors == 0),
        result("server CPU per request (gunicorn + PostgreSQL backends)",
               f"{cpu['server'] / requests * 1000:.1f} ms ({cpu['server']:.1f} CPU-s: gunicorn "
               f"{cpu['gunicorn']:.1f}, PostgreSQL {cpu['postgres']:.1f}); locust {cpu['locust']:.1f} CPU-s",
               round(cpu["server"] / requests * 1000, 2), "ms CPU/request"),
        result("load average (1 min) before → after the run",
               f"{load['before'][0]:.2f} → {load['after'][0]:.2f} ({os.cpu_count()} cores)", load["after"][0], ""),
    ]
    return rows


# --------------------------------------------------------------------------- main
def main() -> int:  # noqa: C901 - one script, read top to bottom
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=24, help="simulated users (default 24)")
    parser.add_argument("--spawn-rate", type=float, default=8.0, help="users started per second")
    parser.add_argument("--duration", type=int, default=75, help="seconds of load, spawn included (default 75)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (default 4)")
    parser.add_argument("--threads", type=int, default=4,
                        help="threads per worker, gthread as in docker-compose.yml (default 4; 1: sync workers)")
    parser.add_argument("--wait", type=float, nargs=2, default=(0.5, 1.5), metavar=("MIN", "MAX"),
                        help="think time between a user's requests, seconds (default 0.5 1.5)")
    parser.add_argument("--voters", type=int, default=2_500, help="voters with power (default 2,500)")
    parser.add_argument("--voting", type=int, default=4, help="proposals in Voting (default 4)")
    parser.add_argument("--proposals", type=int, default=60, help="proposals in all (default 60)")
    parser.add_argument("--holders", type=int, default=20_000, help="token holders in the index (default 20,000)")
    parser.add_argument("--delegates", type=int, default=4_000, help="delegates (default 4,000)")
    parser.add_argument("--archive-entries", type=int, default=50_000, help="archive entries (default 50,000)")
    parser.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS),
                        help=f"Celery broker the portal checks (default {DEFAULT_REDIS})")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and the work directory")
    parser.add_argument("--json", type=Path, help="write the figures there (bench/report.py's format)")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    machine = machine_info(url, args.redis_url)
    workdir = Path(tempfile.mkdtemp(prefix="govapp-load-bench-"))
    log(f"load test: {args.users} users for {args.duration} s, {args.workers} gunicorn workers × {args.threads} "
        f"threads; {os.cpu_count()} cores, load average {' '.join(f'{x:.2f}' for x in load_average())}")

    from bench.votes.run import voter, write_deployment
    from chain.anvil import AnvilProcess

    deployment = write_deployment(workdir)
    anvil = AnvilProcess()
    anvil.start()
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "govapp.settings", "CHAIN_ID": "31337",
           "CHAIN_RPC_URL": anvil.rpc_url, "CHAIN_DEPLOYMENT_FILE": str(deployment), "GOVAPP_VAR_DIR": str(workdir),
           "CELERY_BROKER_URL": args.redis_url, "LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "600",
           # the whole load comes from one IP and 2,500 voters: per-IP/per-address limits off (govapp/ratelimit.py)
           "RATE_LIMIT_ENABLED": "false"}
    os.environ.update(env)
    recreate_database(url)
    server = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connections

        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        log(f"migrated in {time.perf_counter() - started:.1f} s")

        started = time.perf_counter()
        seed_archive(url, args.archive_entries)
        keys = [voter(i) for i in range(args.voters)]
        rows = seed_index(url, [a for _, a in keys], args.holders, args.delegates)
        from delegation import directory

        built = directory.refresh_all()
        numbers, voting_numbers = seed_proposals([a for _, a in keys], args.proposals, args.voting)
        with connections["default"].cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
        log(f"seeded in {time.perf_counter() - started:.1f} s: {args.archive_entries:,} archive entries, index "
            f"{rows} , directory {built}, {len(numbers)} proposals ({len(voting_numbers)} in Voting)")

        started = time.perf_counter()
        votes_file = workdir / "votes.jsonl"
        signed = presign(keys, voting_numbers, votes_file)
        log(f"pre-signed {signed:,} votes in {time.perf_counter() - started:.1f} s")
        plan = plan_for_users(workdir, numbers, voting_numbers, votes_file, args.archive_entries)
        connections.close_all()

        server_env = production_env(env)
        started = time.perf_counter()
        server_env["GOVAPP_VAR_DIR"] = str(collected_static_var_dir(server_env))
        log(f"static files collected (or reused) in {time.perf_counter() - started:.1f} s")
        port = free_port()
        server = start_gunicorn(server_env, args.workers, port, probe="/healthz", threads=args.threads)
        warm_up(port, args.workers, numbers, voting_numbers)

        summary_path = workdir / "summary.json"
        locust_env = {**os.environ, "LOAD_PLAN": str(plan), "LOAD_SUMMARY": str(summary_path),
                      "LOAD_WAIT_MIN": str(args.wait[0]), "LOAD_WAIT_MAX": str(args.wait[1])}
        command = [str(REPO / ".venv" / "bin" / "locust"), "-f", str(LOCUSTFILE), "--headless", "--only-summary",
                   "-u", str(args.users), "-r", str(args.spawn_rate), "-t", f"{args.duration}s",
                   "--host", f"http://127.0.0.1:{port}", "--stop-timeout", "30", "--loglevel", "WARNING",
                   "--csv", str(workdir / "locust")]
        load = {"before": load_average()}
        pids = [server.pid, *children(server.pid), *database_backends(url)]
        before = cpu_snapshot(pids)
        log(f"locust: {' '.join(command[1:])}")
        log(f"server up and warm; load average {' '.join(f'{x:.2f}' for x in load['before'])}")
        started = time.perf_counter()
        locust = subprocess.Popen(command, cwd=REPO, env=locust_env)
        locust_cpu = 0.0
        while locust.poll() is None:  # sample its CPU while it lives (it is gone when wait() returns)
            locust_cpu = max(locust_cpu, proc_cpu_seconds(locust.pid))
            time.sleep(0.5)
        wall = time.perf_counter() - started
        pids = [server.pid, *children(server.pid), *database_backends(url)]
        after = cpu_snapshot(pids)
        load["after"] = load_average()
        backends = set(database_backends(url))
        cpu = {"server": cpu_between(before, after), "locust": locust_cpu,
               "postgres": cpu_between({p: v for p, v in before.items() if p in backends},
                                       {p: v for p, v in after.items() if p in backends})}
        cpu["gunicorn"] = cpu["server"] - cpu["postgres"]
        stop_process(server)
        server = None
        if not summary_path.exists():
            raise SystemExit(f"locust exited with {locust.returncode} and wrote no summary")
        summary = json.loads(summary_path.read_text())

        votes = summary["kinds"]["votes"]
        accepted = votes["requests"] - votes["failures"]
        problems = check_votes(accepted, voting_numbers)
        errors = summary["total"]["failures"] + len(problems)
        print_table(summary)
        for error in summary["errors"][:20]:
            log(f"  error: {error['occurrences']}× {error['name']}: {error['error'][:300]}")
        for problem in problems:
            log(f"  check failed: {problem}")
        if summary["votes_left"] == 0:
            log(f"  note: the pre-signed votes ran out ({summary['vote_turns_without_votes']} vote turns read instead)")
        log(f"\n{summary['total']['requests']:,} requests in {summary['seconds']:.1f} s (locust ran {wall:.1f} s): "
            f"{summary['total']['rps']:,.1f} requests/s; {accepted:,} votes accepted"
            + ("" if problems else ", every one stored, live and recomputed tallies agree"))
        log(f"server CPU {cpu['server']:.1f} s (gunicorn {cpu['gunicorn']:.1f}, PostgreSQL {cpu['postgres']:.1f}) = "
            f"{cpu['server'] / max(summary['total']['requests'], 1) * 1000:.1f} ms per request; locust "
            f"{cpu['locust']:.1f} CPU-s; load average {load['before'][0]:.2f} before, {load['after'][0]:.2f} after "
            f"({os.cpu_count()} cores)")
        log(f"errors: {errors}")
        if args.json:
            write_json(args.json, "load", results_of(summary, cpu, errors, problems, args, load), machine,
                       extra={"summary": summary, "cpu_seconds": cpu, "load_average": load,
                              "users": args.users, "duration_s": args.duration, "workers": args.workers,
                              "threads": args.threads})
        return 1 if errors else 0
    finally:
        if server is not None:
            stop_process(server)
        anvil.stop()
        from django.db import connections

        connections.close_all()
        if args.keep:
            log(f"kept the database {url} and {workdir}")
        else:
            drop_database(url)
            for path in sorted(workdir.rglob("*"), reverse=True):
                path.rmdir() if path.is_dir() else path.unlink()
            workdir.rmdir()


if __name__ == "__main__":
    sys.exit(main())
