"""Several OS processes append at once: one gap-free chain, every hash linking, no fork."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.db import connection

from archive.models import ArchiveEntry
from archive.testing import export_bytes, verify_bytes
from archive.verify import GENESIS_HASH

REPO = Path(__file__).resolve().parents[2]
WRITERS = 4
PER_WRITER = 40

WRITER = textwrap.dedent("""
    import os, sys, django
    django.setup()
    from django.db import transaction
    from archive import kinds
    from archive.services import record
    writer = int(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()  # start together
    for i in range(int(sys.argv[2])):
        with transaction.atomic():
            record(kinds.COUNCIL_MEMBERSHIP_CHANGED,
                   {"member": "0x" + f"{writer:02x}" * 20, "change": "added", "writer": writer, "i": i})
""")


def database_url() -> str:
    s = connection.settings_dict
    auth = s["USER"] + (f":{s['PASSWORD']}" if s.get("PASSWORD") else "")
    return f"postgres://{auth}@{s['HOST'] or '127.0.0.1'}:{s['PORT'] or 5432}/{s['NAME']}"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent writers need PostgreSQL")
@pytest.mark.django_db(transaction=True)
def test_parallel_writers_make_one_chain():
    env = {**os.environ, "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "govapp.settings",
           "PYTHONPATH": str(REPO)}
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, str(w), str(PER_WRITER)], cwd=REPO, env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for w in range(WRITERS)]
    try:
        for proc in writers:
            assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
        for proc in writers:  # release them all at once
            proc.stdin.write("go\n")
            proc.stdin.flush()
        for proc in writers:
            _, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-3000:]
    finally:
        for proc in writers:
            if proc.poll() is None:
                proc.kill()

    rows = list(ArchiveEntry.objects.order_by("sequence").values_list("sequence", "prev_hash", "hash", "payload"))
    assert [r[0] for r in rows] == list(range(1, WRITERS * PER_WRITER + 1))  # no gap, no duplicate
    prev = GENESIS_HASH
    for _, prev_hash, entry_hash, _ in rows:
        assert prev_hash == prev  # each links to the one before: no fork
        prev = entry_hash
    writers_seen = [r[3]["writer"] for r in rows]
    assert {w: writers_seen.count(w) for w in range(WRITERS)} == dict.fromkeys(range(WRITERS), PER_WRITER)
    # the writes really interleaved (they ran at the same time, the lock serialized them)
    switches = sum(1 for a, b in zip(writers_seen, writers_seen[1:], strict=False) if a != b)
    assert switches >= WRITERS
    report = verify_bytes(export_bytes())
    assert report.entries == WRITERS * PER_WRITER and report.head_hash == prev
