#!/usr/bin/env python
"""Benchmark of the Foundation archive: append, export and verify throughput. Prints figures.

    .venv/bin/python bench/archive/run.py                 # 1,000,000 entries (about 5 minutes)
    .venv/bin/python bench/archive/run.py --entries 50000 # a quick run

Steps, in a scratch PostgreSQL database (BENCH_DATABASE_URL, default
postgres://postgres@127.0.0.1:5432/govapp_bench; dropped and re-created, dropped at the end unless
--keep):

1. migrate the archive app;
2. bulk-load N entries with COPY: the hash chain is computed in Python with the archive's own
   rules (archive.verify) — the first --signed entries are real EIP-712-signed votes (plus one final
   tally per proposal), the rest unsigned entries of the other kinds. record() is not used here
   (it would take long for a million entries) — it is measured in step 3;
3. append throughput of record(): --writers OS processes (default 4) appending at once, each entry
   in its own transaction, on top of the N entries;
4. export throughput: `manage.py archive_export` of the whole archive to a file;
5. verify throughput: `python -m archive.verify --no-signatures` on the whole export (hash chain,
   kinds, payloads, tallies), and with signature re-verification on the export's signed prefix;
   each with --jobs 1 and --jobs <CPUs>, the fastest of --repeat runs. Wall time and CPU seconds
   are both printed: on a shared, busy machine entries per CPU-second is the steadier figure.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

import coincurve  # noqa: E402
import psycopg  # noqa: E402
from eth_account import Account  # noqa: E402

from archive import kinds  # noqa: E402
from archive.verify import (  # noqa: E402
    GENESIS_HASH,
    VoteTally,
    default_jobs,
    format_time,
    keccak256,
    trailer_line,
    typed_data_digest,
)
from bench.common import machine_info, result, write_json  # noqa: E402
from bench.scratch_db import drop_database, recreate_database  # noqa: E402

VOTERS_PER_PROPOSAL = 100
SUPPORT = ("against", "for", "abstain")
DOMAIN = {"name": "govapp", "version": "1", "chainId": 31337,
          "verifyingContract": "0x5FbDB2315678afecb367f032d93F642f64180aa3"}
VOTE_TYPES = {
    "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                     {"name": "chainId", "type": "uint256"}, {"name": "verifyingContract", "type": "address"}],
    "Vote": [{"name": "proposalId", "type": "uint256"}, {"name": "voter", "type": "address"},
             {"name": "support", "type": "uint8"}, {"name": "reason", "type": "string"},
             {"name": "timestamp", "type": "uint64"}],
}
WORDS = ["upgrade", "sequencer", "fee", "market", "treasury", "grant", "audit", "council", "bridge", "prover",
         "latency", "security", "parameter", "gas", "limit", "timelock", "guardian", "delegate", "ecosystem"]

WRITER = textwrap.dedent("""
    import sys, time, django
    django.setup()
    from django.db import transaction
    from archive import kinds
    from archive.services import record
    writer, count = int(sys.argv[1]), int(sys.argv[2])
    print("ready", flush=True)
    sys.stdin.readline()
    for i in range(count):
        with transaction.atomic():
            record(kinds.COUNCIL_MEMBERSHIP_CHANGED,
                   {"member": "0x" + f"{writer + 1:02x}" * 20, "change": "added", "writer": writer, "i": i})
    print(time.time(), flush=True)
""")


def log(message: str) -> None:
    print(message, flush=True)








def django_env(url: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "govapp.settings", "PYTHONPATH": str(REPO)}


class Signer:
    """Signs vote typed data fast (coincurve on the verifier's digest; cross-checked with eth-account)."""

    def __init__(self, index: int) -> None:
        self.key = keccak256(f"govapp-bench-voter-{index}".encode())
        self.private = coincurve.PrivateKey(self.key)
        self.address = Account.from_key(self.key).address

    def sign(self, typed_data: dict) -> str:
        raw = self.private.sign_recoverable(typed_data_digest(typed_data), hasher=None)
        return "0x" + (raw[:64] + bytes([raw[64] + 27])).hex()


def _copy_text(value: str) -> str:
    """A value in COPY's text format."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def generate(count: int, signed: int):
    """Yield (COPY text line, entry hash) of a valid chain: sequence, kind, time, ref, address, payload, ..."""
    voters = [Signer(i) for i in range(VOTERS_PER_PROPOSAL)]
    check = Account.sign_typed_data(voters[0].key, full_message=_vote_data(1, voters[0].address, 1, 0)).signature
    assert "0x" + check.hex().removeprefix("0x") == voters[0].sign(_vote_data(1, voters[0].address, 1, 0)), \
        "coincurve and eth-account disagree"
    dumps = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
    prev = GENESIS_HASH
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    proposal, tally, in_proposal = 1, VoteTally(), 0
    for sequence in range(1, count + 1):
        moment = format_time(start + dt.timedelta(milliseconds=sequence))
        signed_part = sequence <= signed
        if signed_part and in_proposal < VOTERS_PER_PROPOSAL:
            voter = voters[in_proposal]
            support = (sequence * 7) % 3
            data = _vote_data(proposal, voter.address, support, sequence)
            payload = {"proposal": str(proposal), "voter": voter.address, "support": SUPPORT[support],
                       "weight": str(10**18 * (1 + sequence % 97))}
            signed_text = dumps({"typed_data": data, "signature": voter.sign(data), "signer": voter.address})
            kind, address = kinds.VOTE_CAST, voter.address
            tally.add(payload)
            in_proposal += 1
        elif signed_part:
            kind, address, signed_text = kinds.TALLY_FINAL, "", "null"
            payload = {"proposal": str(proposal), "totals": tally.totals(), "outcome": "passed"}
            proposal, tally, in_proposal = proposal + 1, VoteTally(), 0
        else:
            kind, payload, address = _unsigned(sequence, proposal + sequence // 50)
            signed_text = "null"
        ref = payload.get("proposal", "")
        payload_text = dumps(payload)
        # the canonical body, assembled in its sorted key order (= archive.verify.dumps_body(entry_body(...)))
        body = (f'{{"address":{dumps(address)},"kind":{dumps(kind)},"payload":{payload_text},'
                f'"prev_hash":"{prev}","proposal_ref":{dumps(ref)},"sequence":{sequence},'
                f'"signed":{signed_text},"time":"{moment}"}}')
        entry_hash = hashlib.sha256(body.encode()).hexdigest()
        fields = (str(sequence), kind, moment, _copy_text(ref), address, _copy_text(payload_text),
                  "\\N" if signed_text == "null" else _copy_text(signed_text), prev, entry_hash)
        yield "\t".join(fields) + "\n", body, entry_hash
        prev = entry_hash


def _vote_data(proposal: int, voter: str, support: int, nonce: int) -> dict:
    return {"types": VOTE_TYPES, "primaryType": "Vote", "domain": DOMAIN,
            "message": {"proposalId": proposal, "voter": voter, "support": support,
                        "reason": "benchmark vote", "timestamp": 1_700_000_000 + nonce}}


def _unsigned(sequence: int, proposal: int):
    member = "0x" + f"{sequence % 251:02x}" * 20
    match sequence % 5:
        case 0:
            words = " ".join(WORDS[(sequence * k) % len(WORDS)] for k in (1, 3, 7, 11))
            return (kinds.PROPOSAL_CREATED, {"proposal": str(proposal), "title": f"Proposal {proposal}: {words}",
                                             "author": member, "body_sha256": f"{sequence:064x}"}, member)
        case 1:
            return (kinds.PROPOSAL_STATUS_CHANGED, {"proposal": str(proposal), "from": "discussion",
                                                    "to": "voting"}, "")
        case 2:
            return (kinds.EXECUTION_SCHEDULED, {"proposal": str(proposal), "eta": 1_700_000_000 + sequence,
                                                "tx_hash": f"0x{sequence:064x}"}, "")
        case 3:
            return (kinds.COUNCIL_MEMBERSHIP_CHANGED, {"member": member, "change": "added"}, member)
        case _:
            return (kinds.EXECUTION_EXECUTED, {"proposal": str(proposal), "block": sequence}, "")


SECONDARY_INDEXES = {  # dropped for the bulk load, rebuilt once after it
    "archive_entry_search_gin": "USING GIN (search_vector)",
    "archive_kind_seq": "(kind, sequence)",
    "archive_proposal_seq": "(proposal_ref, sequence)",
    "archive_address_seq": "(address, sequence)",
    "archive_time": "(created_at)",
}


def bulk_load(url: str, count: int, signed: int) -> tuple[float, float]:
    """COPY `count` generated entries; returns (seconds generating + copying, seconds rebuilding indexes)."""
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        for name in SECONDARY_INDEXES:
            conn.execute(f"DROP INDEX IF EXISTS {name}")
        with conn.cursor() as cursor, cursor.copy(
                "COPY archive_archiveentry (sequence, kind, created_at, proposal_ref, address, payload, signed, "
                "prev_hash, hash) FROM STDIN") as copy:
            buffer: list[str] = []
            for i, (line, _, _) in enumerate(generate(count, signed), 1):
                buffer.append(line)
                if len(buffer) >= 5000:
                    copy.write("".join(buffer))
                    buffer = []
                if i % 200_000 == 0:
                    log(f"    {i:,} rows generated and copied ({time.perf_counter() - started:.0f}s)")
            copy.write("".join(buffer))
        conn.commit()
        loaded = time.perf_counter() - started
        for name, definition in SECONDARY_INDEXES.items():
            conn.execute(f"CREATE INDEX {name} ON archive_archiveentry {definition}")
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE archive_archiveentry")
    return loaded, time.perf_counter() - started - loaded


def append_throughput(url: str, writers: int, per_writer: int) -> tuple[float, int]:
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(per_writer)], cwd=REPO, env=django_env(url),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for w in range(writers)]
    for proc in procs:
        line = proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"writer failed: {proc.stderr.read()[-2000:]}")
    started = time.time()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    ends = []
    for proc in procs:
        out, err = proc.communicate(timeout=3600)
        if proc.returncode:
            raise SystemExit(f"writer failed: {err[-2000:]}")
        ends.append(float(out.strip().splitlines()[-1]))
    return max(ends) - started, writers * per_writer


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    """Run a command; returns (wall seconds, output). Its CPU seconds go to LAST_CPU[0]."""
    cpu = _children_cpu()
    started = time.perf_counter()
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    LAST_CPU[0] = _children_cpu() - cpu
    if result.returncode:
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stdout[-2000:]}"
                         f"{result.stderr[-2000:]}")
    return seconds, result.stdout + result.stderr


LAST_CPU = [0.0]


def best_of(repeat: int, command: list[str], env: dict[str, str]) -> tuple[float, str]:
    """The fastest of `repeat` runs (wall seconds, output); LAST_CPU holds that run's CPU seconds."""
    best: tuple[float, str, float] | None = None
    for _ in range(max(1, repeat)):
        seconds, out = run_timed(command, env=env)
        if best is None or seconds < best[0]:
            best = (seconds, out, LAST_CPU[0])
    LAST_CPU[0] = best[2]
    return best[0], best[1]


def verifier_rate(output: str) -> str:
    match = re.search(r"\(([\d,]+) entries/s\)", output)
    return match.group(1) if match else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000, help="entries to bulk-load (default 1,000,000)")
    parser.add_argument("--signed", type=int, default=20_000, help="signed votes among them (default 20,000)")
    parser.add_argument("--writers", type=int, default=4, help="concurrent record() writer processes")
    parser.add_argument("--appends", type=int, default=1000, help="record() calls per writer")
    parser.add_argument("--repeat", type=int, default=3, help="verifier runs per measure; the fastest counts")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and export")
    parser.add_argument("--json", type=Path, help="write the figures there (bench/report.py's format)")
    parser.add_argument("--goal-verify", type=float, default=100_000, help="hash-chain entries/s goal")
    parser.add_argument("--goal-signed", type=float, default=5_000, help="signed entries/s goal")
    args = parser.parse_args()
    url = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/govapp_bench")
    machine = machine_info(url)
    results: list[dict] = []
    signed_block = min(args.signed, args.entries)
    log(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    log(f"archive benchmark: {args.entries:,} entries ({signed_block:,} signed votes + tallies), "
        f"{args.writers} writers × {args.appends} appends; database {url.rsplit('/', 1)[-1]}; "
        f"{os.cpu_count()} CPUs")

    recreate_database(url)
    workdir = Path(tempfile.mkdtemp(prefix="archive-bench-"))
    try:
        run_timed([sys.executable, "manage.py", "migrate", "archive", "--noinput"], env=django_env(url))
        log("1. bulk load (COPY, chain computed in Python, GIN index rebuilt after)")
        seconds, indexing = bulk_load(url, args.entries, signed_block)
        log(f"    {args.entries:,} entries in {seconds:.1f}s = {args.entries / seconds:,.0f} entries/s; "
            f"indexes rebuilt in {indexing:.1f}s")
        results.append(result("bulk load (COPY, setup)", f"{args.entries:,} entries in {seconds:.0f} s = "
                              f"{args.entries / seconds:,.0f} entries/s; indexes rebuilt in {indexing:.0f} s",
                              round(args.entries / seconds), "entries/s"))

        log(f"2. record() append throughput, {args.writers} concurrent writer processes")
        seconds, appended = append_throughput(url, args.writers, args.appends)
        log(f"    {appended:,} entries in {seconds:.2f}s = {appended / seconds:,.0f} entries/s "
            f"(each its own transaction; on top of {args.entries:,} entries)")
        results.append(result(f"`record()` appends, {args.writers} writer processes",
                              f"{appended / seconds:,.0f} entries/s ({appended:,} in {seconds:.1f} s)",
                              round(appended / seconds), "entries/s"))
        total = args.entries + appended

        log("3. export (manage.py archive_export, server-side cursor)")
        export = workdir / "archive.jsonl"
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        seconds, _ = run_timed([sys.executable, "manage.py", "archive_export", "-o", str(export)],
                               env=django_env(url))
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size = export.stat().st_size
        peak = max(rss, before) / 1024
        export_cpu = LAST_CPU[0]
        log(f"    {total:,} entries, {size / 2**20:,.0f} MiB in {seconds:.1f}s = {total / seconds:,.0f} entries/s, "
            f"{size / 2**20 / seconds:,.0f} MiB/s; exporter {export_cpu:.1f} CPU-s (incl. Django start); "
            f"peak RSS of the exporting process ≤ {peak:,.0f} MiB")
        results.append(result(f"export, {total:,} entries ({size / 2**20:,.0f} MiB)",
                              f"{total / seconds:,.0f} entries/s ({seconds:.1f} s); peak RSS ≤ {peak:,.0f} MiB",
                              round(total / seconds), "entries/s"))

        env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
        job_counts = sorted({1, default_jobs()})
        log("4. verify the whole export, hash chain (python -m archive.verify --no-signatures)")
        for jobs in job_counts:
            seconds, out = best_of(args.repeat, [sys.executable, "-m", "archive.verify", "--no-signatures",
                                                 "--jobs", str(jobs), str(export)], env)
            log(f"    --jobs {jobs}: {total:,} entries in {seconds:.1f}s wall = {total / seconds:,.0f} entries/s "
                f"(verifier's own timer: {verifier_rate(out)} entries/s; {LAST_CPU[0]:.1f} CPU-s = "
                f"{total / LAST_CPU[0]:,.0f} entries per CPU-second)")
            rate = total / seconds
            goal = jobs == max(job_counts)
            results.append(result(f"hash-chain verification, `--jobs {jobs}`",
                                  f"{rate:,.0f} entries/s wall; {total / LAST_CPU[0]:,.0f} entries per CPU-second",
                                  round(rate), "entries/s", f"≥ {args.goal_verify:,.0f}/s" if goal else None,
                                  rate >= args.goal_verify if goal else None))

        log(f"5. verify with signature re-verification: the export's first {signed_block:,} entries")
        prefix = workdir / "signed.jsonl"
        last = None
        with export.open("rb") as src, prefix.open("wb") as dst:
            for _, line in zip(range(signed_block), src, strict=False):
                dst.write(line)
                last = line
        if last is not None:
            head = json.loads(last)
            with prefix.open("a") as dst:
                dst.write(trailer_line(head["entry"]["sequence"], head["hash"], head["entry"]["sequence"]) + "\n")
            for jobs in job_counts:
                seconds, out = best_of(args.repeat, [sys.executable, "-m", "archive.verify", "--jobs", str(jobs),
                                                     str(prefix)], env)
                signatures = int(re.search(r"(\d+) signatures verified", out).group(1))
                log(f"    --jobs {jobs}: {signed_block:,} entries ({signatures:,} signed) in {seconds:.1f}s wall = "
                    f"{signatures / seconds:,.0f} signed entries/s (verifier's own timer: {verifier_rate(out)} "
                    f"entries/s; {LAST_CPU[0]:.1f} CPU-s = {signatures / LAST_CPU[0]:,.0f} signed entries per "
                    "CPU-second)")
                rate = signatures / seconds
                goal = jobs == max(job_counts)
                results.append(result(f"signed verification ({signatures:,} signed entries), `--jobs {jobs}`",
                                      f"{rate:,.0f} signed entries/s wall; {signatures / LAST_CPU[0]:,.0f} per "
                                      "CPU-second", round(rate), "signed entries/s",
                                      f"≥ {args.goal_signed:,.0f}/s" if goal else None,
                                      rate >= args.goal_signed if goal else None))
        log(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
        if args.json:
            write_json(args.json, "archive", results, machine)
    finally:
        if args.keep:
            log(f"kept the database {url} and {workdir}")
        else:
            drop_database(url)
            for path in workdir.glob("*"):
                path.unlink()
            workdir.rmdir()


if __name__ == "__main__":
    main()
