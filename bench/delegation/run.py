#!/usr/bin/env python
"""Benchmark of the delegate directory: page and API latency with 100,000 holders and 20,000 delegates.

    .venv/bin/python bench/delegation/run.py                      # 100k holders, 20k delegates, 300 requests each
    .venv/bin/python bench/delegation/run.py --holders 20000 --delegates 4000 --requests 100   # a quick run
    .venv/bin/python bench/delegation/run.py --no-server          # only the in-process Django test client

Steps, in a scratch PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/govapp_bench_delegation; dropped and re-created, dropped at the end
unless --keep):

1. migrate;
2. COPY synthetic index rows into the chain indexer's tables, as the indexer would have written them:
   one balance checkpoint per holder, one delegate checkpoint per delegation (every delegate gets at
   least one delegator, the rest follow a heavy-tailed choice, 10 % of holders re-delegate later), and
   the delegates' votes checkpoints replayed from those delegations; plus signed-statement rows
   (a statement for 30 % of the delegates, a second version for some) into delegation's table;
3. build the directory (delegation.directory.refresh_all), then refresh again with nothing changed;
4. latency of the directory page and the directory API (sort by power / delegators / name, deep
   pages, name and address searches, interest filter) — p50/p95/p99/max over --requests requests per
   scenario, first through the in-process Django test client, then through a real gunicorn (2 sync
   workers, DEBUG off as in production, throwaway secrets) on loopback; a delegate page of a top
   delegate is measured too, for information.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import secrets
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from eth_utils import keccak  # noqa: E402

from bench.common import copy_rows, machine_info, result, write_json  # noqa: E402
from bench.scratch_db import drop_database, recreate_database  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/govapp_bench_delegation"
UNIT = 10**18
HEAD = 1_000_000
INTERESTS = ("cairo_dev", "daos", "governance", "identity", "infrastructure", "legal", "professional_delegate",
             "security", "starknet_community", "web3_community", "web3_developer", "nft", "gaming", "defi", "build")
WORDS = ("alpha", "bravo", "cairo", "delta", "echo", "falcon", "granite", "harbor", "ion", "juniper", "kestrel",
         "lumen", "meridian", "nova", "orbit", "prism", "quartz", "raven", "sierra", "tundra", "umbra", "vertex")


def _address(tag: str, i: int) -> str:
    """A random-looking (keccak-derived), reproducible lower-case address, as real ones are."""
    return "0x" + keccak(text=f"{tag}{i}")[-20:].hex()


def delegate_address(i: int) -> str:
    return _address("delegate", i)


def holder_address(i: int) -> str:
    return _address("holder", i)


# --- database --------------------------------------------------------------------------------------------





# --- synthetic index ---------------------------------------------------------------------------------------

def generate(holders: int, delegates: int, seed: int = 7):
    """Balance, delegate and votes checkpoint rows (lower-case addresses, as chain.models keeps them)."""
    rng = random.Random(seed)
    balances, delegations, events = [], [], []
    for h in range(holders):
        amount = int(rng.lognormvariate(5, 1.6) * UNIT) + UNIT
        mint_block = rng.randint(1, HEAD // 2)
        balances.append((holder_address(h), mint_block, amount))
        first = h % delegates if h < delegates else min(delegates - 1, int(delegates * rng.random() ** 3))
        block = rng.randint(mint_block + 1, HEAD - 1000)
        delegations.append((holder_address(h), block, delegate_address(first)))
        events.append((block, first, amount))
        if h >= delegates and rng.random() < 0.10:  # re-delegates later
            second = rng.randrange(delegates)
            later = rng.randint(block + 1, HEAD)
            if second != first:
                delegations.append((holder_address(h), later, delegate_address(second)))
                events.append((later, first, -amount))
                events.append((later, second, amount))
    events.sort()
    current = [0] * delegates
    votes: dict[tuple[str, int], int] = {}
    for block, d, delta in events:
        current[d] += delta
        votes[(delegate_address(d), block)] = current[d]
    supply = sum(b[2] for b in balances)
    return balances, delegations, [(a, b, v) for (a, b), v in votes.items()], supply


def statement_rows(delegates: int, seed: int = 11):
    rng = random.Random(seed)
    from eth_utils import to_checksum_address

    rows = []
    pk = 0
    for d in range(delegates):
        if not (d < delegates // 10 or rng.random() < 0.22):
            continue
        address = to_checksum_address(delegate_address(d))
        versions = 2 if rng.random() < 0.2 else 1
        for version in range(1, versions + 1):
            pk += 1
            name = f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {d}"
            text = (f"## Why {name}\n\nI have followed governance since the first proposal. " * 8)[:1500]
            tags = rng.sample(INTERESTS, rng.randint(1, 4))
            links = [f"https://forum.example.org/u/{d}", f"https://x.example.com/d{d}"]
            message = {"delegate": address, "displayName": name, "statement": text,
                       "interests": json.dumps(tags, separators=(",", ":")),
                       "links": json.dumps(links, separators=(",", ":")), "timestamp": 1_700_000_000 + version}
            typed = {"types": {}, "primaryType": "DelegateStatement", "domain": {"name": "govapp"}, "message": message}
            rows.append((pk, address, version, name, text, f"<p>{text}</p>", json.dumps(tags), json.dumps(links),
                         1_700_000_000 + version, json.dumps(typed), "0x" + "ab" * 65, f"0x{pk:064x}", False, None,
                         "2025-01-01 00:00:00+00"))
    return rows


def load(holders: int, delegates: int) -> dict[str, float]:
    from django.db import connection

    from chain.models import (
        BalanceCheckpoint,
        DelegateCheckpoint,
        IndexerState,
        SupplyCheckpoint,
        VotesCheckpoint,
    )
    from chain.services import rebuild_latest_votes
    from delegation.models import DelegateStatement

    started = time.perf_counter()
    balances, delegations, votes, supply = generate(holders, delegates)
    statements = statement_rows(delegates)
    generated = time.perf_counter()
    IndexerState.objects.create(contracts={}, start_block=1, head_block=HEAD, head_hash="0x" + "00" * 32)
    with connection.cursor() as django_cursor:
        cursor = django_cursor.cursor  # psycopg's cursor: COPY
        copy_rows(cursor, BalanceCheckpoint._meta.db_table, ("account", "block", "balance"), balances)
        copy_rows(cursor, DelegateCheckpoint._meta.db_table, ("account", "block", "delegate"), delegations)
        copy_rows(cursor, VotesCheckpoint._meta.db_table, ("account", "block", "votes"), votes)
        copy_rows(cursor, SupplyCheckpoint._meta.db_table, ("block", "total_supply"), [(1, supply)])
        copy_rows(cursor, DelegateStatement._meta.db_table,
                  ("id", "delegate", "version", "display_name", "statement", "statement_html", "interests", "links",
                   "signed_timestamp", "typed_data", "signature", "digest", "contract_wallet", "archive_sequence",
                   "created_at"), statements)
        django_cursor.execute(f"SELECT setval(pg_get_serial_sequence('{DelegateStatement._meta.db_table}', 'id'), "
                              f"{len(statements) + 1})")
    rebuild_latest_votes()  # the indexer keeps it with the checkpoints; here they were copied in directly
    with connection.cursor() as django_cursor:
        django_cursor.execute("ANALYZE")
    return {"generate_s": generated - started, "copy_s": time.perf_counter() - generated,
            "balance_rows": len(balances), "delegate_rows": len(delegations), "votes_rows": len(votes),
            "statement_rows": len(statements)}


# --- measurements ------------------------------------------------------------------------------------------

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def proc_cpu(pids) -> dict[int, float]:
    """{pid: utime + stime in ms} (from /proc): what processes cost, whatever else runs on the machine."""
    out = {}
    for pid in set(pids):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[pid] = (int(fields[11]) + int(fields[12])) * TICK_MS
    return out


def cpu_spent(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU ms spent between two proc_cpu() readings (a process that started in between counts in full)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())


def proc_cpu_ms(pids) -> float:
    return sum(proc_cpu(pids).values())


def database_backends(dbname: str) -> list[int]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [dbname])
        return [row[0] for row in cursor.fetchall()]


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]

    return {"p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99), "max": ordered[-1],
            "mean": statistics.fmean(ordered)}


def scenarios(rng: random.Random, delegates: int, pages: int, names: list[str]) -> dict[str, callable]:
    """name -> () -> (path, query dict) of one request."""
    api_pages = max(1, delegates // 25)
    return {
        "page: sort=power, page 1": lambda: ("/delegates/", {}),
        "page: sort=power, random page": lambda: ("/delegates/", {"page": rng.randint(1, pages)}),
        "page: sort=delegators, random page": lambda: ("/delegates/", {"sort": "delegators",
                                                                       "page": rng.randint(1, pages)}),
        "page: sort=name, random page": lambda: ("/delegates/", {"sort": "name", "page": rng.randint(1, pages)}),
        "page: search name": lambda: ("/delegates/", {"q": rng.choice(names)}),
        "page: search address prefix": lambda: ("/delegates/", {"q": delegate_address(rng.randrange(delegates))[:12]}),
        "api: sort=power, random offset": lambda: ("/api/delegates/", {"limit": 25,
                                                                       "offset": 25 * rng.randrange(api_pages)}),
        "api: sort=name, random offset": lambda: ("/api/delegates/", {"sort": "name", "limit": 25,
                                                                      "offset": 25 * rng.randrange(api_pages)}),
        "api: sort=delegators, limit 100": lambda: ("/api/delegates/", {"sort": "delegators", "limit": 100}),
        "api: search name": lambda: ("/api/delegates/", {"search": rng.choice(names)}),
        "api: interest filter": lambda: ("/api/delegates/", {"interest": rng.choice(INTERESTS)}),
    }


def run_client(plan: dict, requests: int) -> dict[str, dict[str, float]]:
    from django.db import connection
    from django.test import Client

    client = Client()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = [cursor.fetchone()[0]]
    results = {}
    for name, make in plan.items():
        for _ in range(5):  # warm-up
            path, params = make()
            assert client.get(path, params).status_code == 200
        samples, cpu = [], []
        db_before = proc_cpu_ms(backend)
        for _ in range(requests):
            path, params = make()
            start, start_cpu = time.perf_counter(), time.process_time()
            response = client.get(path, params)
            samples.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            assert response.status_code == 200, (path, params, response.status_code)
        db_cpu = (proc_cpu_ms(backend) - db_before) / requests
        results[name] = {**percentiles(samples), "cpu_p50": percentiles(cpu)["p50"], "cpu_p95": percentiles(cpu)["p95"],
                         "cost_mean": statistics.fmean(cpu) + db_cpu, "db_cpu_mean": db_cpu}
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_server(plan: dict, requests: int, env: dict[str, str], dbname: str) -> dict[str, dict[str, float]]:
    from urllib.parse import urlencode

    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "govapp.wsgi:application", "--bind",
                               f"127.0.0.1:{port}", "--workers", "2", "--log-level", "warning"],
                              cwd=REPO, env=env, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError("gunicorn did not start") from None
                time.sleep(0.2)

        def get(path: str, params: dict) -> float:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            url = path + ("?" + urlencode(params) if params else "")
            start = time.perf_counter()
            conn.request("GET", url, headers={"Host": "127.0.0.1"})
            response = conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - start) * 1000
            conn.close()
            assert response.status == 200, (url, response.status)
            return elapsed

        results = {}
        for name, make in plan.items():
            for _ in range(5):
                get(*make())
            before = proc_cpu([server.pid, *children(server.pid), *database_backends(dbname)])
            samples = [get(*make()) for _ in range(requests)]
            after = proc_cpu([server.pid, *children(server.pid), *database_backends(dbname)])
            cost = cpu_spent(before, after) / requests
            results[name] = {**percentiles(samples), "cost_mean": cost}
        return results
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(15)


def table(title: str, results: dict[str, dict[str, float]], goal: float) -> str:
    """Wall-clock percentiles, and the mean CPU cost per request (Python + PostgreSQL backend; for gunicorn:
    its workers + the backends), which does not depend on what else the machine runs."""
    cpu = "cpu_p50" in next(iter(results.values()))
    head = (f"{'scenario':38} {'p50':>7} {'p95':>7} {'p99':>7} {'max':>7}   cpu/request"
            + ("  (py p50/p95, db mean)" if cpu else ""))
    lines = [f"\n{title}", head + "  (ms)"]
    for name, r in results.items():
        flag = "" if r["p95"] < goal else "   <-- p95 over the goal"
        extra = f"   ({r['cpu_p50']:5.1f} /{r['cpu_p95']:5.1f}, {r['db_cpu_mean']:4.1f})" if cpu else ""
        lines.append(f"{name:38} {r['p50']:7.1f} {r['p95']:7.1f} {r['p99']:7.1f} {r['max']:7.1f} "
                     f"{r['cost_mean']:9.1f}{extra}{flag}")
    return "\n".join(lines)


def json_results(args: argparse.Namespace, count: int, loaded: dict, build_s: float, noop_s: float,
                 results: dict, worst: float) -> list[dict]:
    """The rows of the --json file: setup times, then p50/p95/p99 and CPU per request of every scenario."""
    goal = f"p95 < {args.goal_ms:.0f} ms"
    rows = [
        result("COPY of the synthetic index (setup)",
               f"{loaded['copy_s']:.1f} s ({loaded['balance_rows']:,} balance, {loaded['delegate_rows']:,} delegate, "
               f"{loaded['votes_rows']:,} votes checkpoints, {loaded['statement_rows']:,} statements)",
               round(loaded["copy_s"], 2), "s"),
        result(f"directory build (`refresh_all`, {count:,} delegates)", f"{build_s:.1f} s", round(build_s, 2), "s"),
        result("`refresh_all` with nothing changed", f"{noop_s:.2f} s", round(noop_s, 3), "s"),
    ]
    for mode, label in (("client", "test client"), ("gunicorn", "gunicorn")):
        for name, r in results.get(mode, {}).items():
            figure = (f"p50 {r['p50']:.1f}, **p95 {r['p95']:.1f}**, p99 {r['p99']:.1f} ms; "
                      f"CPU {r['cost_mean']:.1f} ms/request")
            rows.append(result(f"{label}: {name}", figure, round(r["p95"], 2), "ms (p95)", goal,
                               r["p95"] < args.goal_ms))
    top = results["detail_top_delegate"]
    rows.append(result("delegate page of the top delegate (information)",
                       f"p50 {top['p50']:.1f}, p95 {top['p95']:.1f} ms", round(top["p95"], 2), "ms (p95)"))
    rows.append(result("worst p95, directory page and API", f"{worst:.1f} ms", round(worst, 2), "ms", goal,
                       worst < args.goal_ms))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holders", type=int, default=100_000)
    parser.add_argument("--delegates", type=int, default=20_000)
    parser.add_argument("--requests", type=int, default=300, help="requests per scenario")
    parser.add_argument("--goal-ms", type=float, default=50.0, help="p95 goal")
    parser.add_argument("--no-server", action="store_true", help="skip the gunicorn measurement")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--json", type=Path, help="write the figures there (bench/report.py's format)")
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    machine = machine_info(url)
    workdir = Path(tempfile.mkdtemp(prefix="bench-delegation-"))
    deployment = workdir / "deployment.json"
    # A deployment file (no chain is needed: the pages only read the token address from it).
    deployment.write_text(json.dumps({"chain_id": 31337, "contracts": {
        name: {"address": "0x" + f"{i:040x}", "block": 1}
        for i, name in enumerate(("GovernanceToken", "UpgradeExecutor", "StarknetCoreState", "ArchiveAnchor"), 1)}}))
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "govapp.settings", "CHAIN_ID": "31337",
           "CHAIN_DEPLOYMENT_FILE": str(deployment), "GOVAPP_VAR_DIR": str(workdir), "LOG_LEVEL": "WARNING",
           "CELERY_BROKER_URL": "memory://"}
    os.environ.update(env)
    recreate_database(url)
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        settings.DEBUG = False  # no query log in the measured process
        started = time.perf_counter()
        call_command("migrate", verbosity=0)
        print(f"migrated in {time.perf_counter() - started:.1f} s")
        loaded = load(args.holders, args.delegates)
        print(f"generated in {loaded['generate_s']:.1f} s, COPY in {loaded['copy_s']:.1f} s: "
              f"{loaded['balance_rows']:,} balance, {loaded['delegate_rows']:,} delegate and "
              f"{loaded['votes_rows']:,} votes checkpoints, {loaded['statement_rows']:,} statement versions")

        from django.db import connection

        from delegation import directory
        from delegation.models import Delegate

        start = time.perf_counter()
        built = directory.refresh_all()
        build_s = time.perf_counter() - start
        start = time.perf_counter()
        again = directory.refresh_all()
        noop_s = time.perf_counter() - start
        count = Delegate.objects.count()
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE delegation_delegate")  # what autovacuum does after a bulk insert
        print(f"directory built in {build_s:.2f} s ({built}); refresh with nothing changed {noop_s:.2f} s "
              f"({again}); {count:,} delegates")

        print(f"load average before measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())} "
              f"({os.cpu_count()} CPUs)")
        rng = random.Random(3)
        names = [n.split()[0].lower() + " " + n.split()[1][:3].lower()
                 for n in Delegate.objects.exclude(display_name="").values_list("display_name", flat=True)[:500]]
        pages = -(-count // 25)
        plan = scenarios(rng, count, pages, names)
        top = Delegate.objects.order_by("-voting_power").values_list("address", "delegator_count").first()
        results = {"client": run_client(plan, args.requests)}
        print(table(f"Django test client, {args.requests} requests per scenario", results["client"], args.goal_ms))
        from django.test import Client

        detail = []
        for _ in range(max(20, args.requests // 10)):
            start = time.perf_counter()
            assert Client().get(f"/delegates/{top[0]}/").status_code == 200
            detail.append((time.perf_counter() - start) * 1000)
        results["detail_top_delegate"] = percentiles(detail)
        print(f"delegate page of the top delegate ({top[1]:,} delegators): "
              + ", ".join(f"{k} {v:.1f} ms" for k, v in results["detail_top_delegate"].items()))
        if not args.no_server:
            # Production mode (DEBUG off: cached templates, manifest static files, no query log), with throwaway
            # secrets: the bench signs nothing.
            production = {**env, "DEBUG": "false", "SECRET_KEY": secrets.token_urlsafe(48),
                          "ALLOWED_HOSTS": "127.0.0.1", **{name: "0x" + secrets.token_hex(32) for name in (
                              "DEPLOYER_PRIVATE_KEY", "EXECUTOR_PRIVATE_KEY", "RELAYER_PRIVATE_KEY",
                              "COUNCIL_RELAY_PRIVATE_KEY")}}
            subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=REPO,
                           env=production, check=True)
            results["gunicorn"] = run_server(plan, args.requests, production, url.rsplit("/", 1)[1])
            print(table(f"gunicorn (2 sync workers, DEBUG off) on loopback, {args.requests} requests per scenario",
                        results["gunicorn"], args.goal_ms))
        print(f"load average after measuring: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        worst = max(r["p95"] for group in ("client", "gunicorn") for r in results.get(group, {}).values())
        print(f"\nworst p95 over the directory page and API: {worst:.1f} ms (goal < {args.goal_ms:.0f} ms)")
        if args.json:
            write_json(args.json, "delegation", json_results(args, count, loaded, build_s, noop_s, results, worst),
                       machine, extra={"holders": args.holders, "delegates": count, "load": loaded,
                                       "build_s": build_s, "noop_refresh_s": noop_s, **results})
        return 0 if worst < args.goal_ms else 1
    finally:
        from django.db import connections

        connections.close_all()
        if not args.keep:
            drop_database(url)


if __name__ == "__main__":
    sys.exit(main())
