"""Export (HTTP stream and management command) → standalone verifier (a subprocess without Django)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connection

from archive.testing import export_bytes, rewrite_export
from archive.verify import FORMAT, GENESIS_HASH

pytestmark = pytest.mark.django_db
REPO = Path(__file__).resolve().parents[2]


def run_verifier(*args: str, importtime: bool = False) -> subprocess.CompletedProcess:
    """`python -m archive.verify ...` in a clean environment: no Django settings, cwd = repo."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "DATABASE"))}
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-m", "archive.verify", *args]
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)


def http_export(client) -> bytes:
    response = client.get("/archive/export.jsonl")
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"].startswith("application/x-ndjson")
    assert response["X-Archive-Format"] == FORMAT
    return b"".join(response.streaming_content)


def test_round_trip_with_real_signatures(client, builder, tmp_path):
    builder.story("7")
    entries = builder.story("8")
    data = http_export(client)
    lines = data.splitlines()
    assert len(lines) == len(builder.recorded) + 1
    trailer = json.loads(lines[-1])
    head = builder.recorded[-1]
    assert trailer == {"archive_head": {"sequence": head.sequence, "hash": head.hash},
                       "entries": len(builder.recorded), "format": FORMAT}
    first = json.loads(lines[0])
    assert first["entry"]["sequence"] == 1 and first["entry"]["prev_hash"] == GENESIS_HASH
    assert first["hash"] == entries[0].hash

    path = tmp_path / "export.jsonl"
    path.write_bytes(data)
    result = run_verifier(str(path), importtime=True)
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"OK: {len(builder.recorded)} entries, head sequence {head.sequence} hash {head.hash}" in result.stdout
    assert "2 tallies recomputed" in result.stdout
    signed = sum(1 for e in builder.recorded if e.signed)
    assert f"{signed} signatures verified" in result.stdout
    imported = [line.split("|")[-1].strip() for line in result.stderr.splitlines() if "|" in line]
    assert "archive.kinds" in imported and "coincurve" in imported  # it ran as __main__
    assert not [m for m in imported if m.split(".")[0] in ("django", "rest_framework", "govapp", "web3")]

    probe = subprocess.run(
        [sys.executable, "-c", "import sys, archive.verify; print(sorted(m for m in sys.modules if "
         "m.split('.')[0] in ('django', 'govapp', 'web3', 'rest_framework')))"],
        cwd=REPO, env={k: v for k, v in os.environ.items() if not k.startswith("DJANGO")},
        capture_output=True, text=True, check=True)
    assert probe.stdout.strip() == "[]"


def test_verifier_names_a_wrong_tally_and_exits_non_zero(client, builder, tmp_path):
    builder.story("7")
    tally = next(e for e in builder.recorded if e.kind == "tally.final")
    data = http_export(client)

    def inflate(body):
        body["payload"]["totals"]["against"] = str(int(body["payload"]["totals"]["against"]) + 10**18)

    path = tmp_path / "forged.jsonl"
    path.write_bytes(rewrite_export(data, tally.sequence, inflate))
    result = run_verifier(str(path))
    assert result.returncode == 1
    assert f"entry {tally.sequence}" in result.stderr and "wrong tally for proposal 7" in result.stderr

    path.write_bytes(data.replace(b'"weight":"7"', b'"weight":"8"', 1))  # a plain edit: the hash says so
    result = run_verifier(str(path))
    assert result.returncode == 1
    abstain = next(e for e in builder.recorded if e.payload.get("weight") == "7")
    assert f"FAIL: entry {abstain.sequence} (line {abstain.sequence}): hash mismatch" in result.stderr

    assert run_verifier(str(tmp_path / "missing.jsonl")).returncode == 2


def test_management_command_writes_the_same_export(client, builder, tmp_path):
    builder.story("7")
    path = tmp_path / "cmd.jsonl"
    call_command("archive_export", "--output", str(path), "--chunk-size", "3")
    assert path.read_bytes() == http_export(client) == export_bytes()
    result = run_verifier(str(path), "--no-signatures")
    assert result.returncode == 0 and "0 signatures verified" in result.stdout


def test_empty_archive_exports_and_verifies(client, tmp_path):
    data = http_export(client)
    assert json.loads(data) == {"archive_head": {"sequence": 0, "hash": GENESIS_HASH}, "entries": 0,
                                "format": FORMAT}
    path = tmp_path / "empty.jsonl"
    path.write_bytes(data)
    result = run_verifier(str(path))
    assert result.returncode == 0 and "OK: 0 entries" in result.stdout


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="a PostgreSQL named (server-side) cursor, seen in pg_cursors; SQLite exports through "
                           "the ORM")
def test_export_streams_in_blocks_from_a_server_side_cursor(builder):
    from archive.services import export_lines

    builder.story("7")
    stream = export_lines(chunk_size=4, lines_per_chunk=3)
    first = next(stream)
    assert first.count("\n") == 3
    with connection.cursor() as cursor:  # while streaming, the rows come from a named cursor
        cursor.execute("SELECT name, statement FROM pg_cursors")
        cursors = cursor.fetchall()
    assert any("archive_archiveentry" in statement for _, statement in cursors), cursors
    blocks = [first, *stream]
    assert len(blocks) == 6  # 16 entries in blocks of 3 lines, the last with the trailer
    assert "".join(blocks) == export_bytes().decode()


def test_export_lines_are_the_canonical_bodies(builder):
    from archive.models import ArchiveEntry
    from archive.verify import dumps_body, export_line

    builder.story("7")
    lines = export_bytes().decode().splitlines()[:-1]
    entries = list(ArchiveEntry.objects.order_by("sequence"))
    assert len(lines) == len(entries)
    for line, entry in zip(lines, entries, strict=True):
        assert line == export_line(dumps_body(entry.body()), entry.hash)


@pytest.mark.parametrize(("moment", "expected"), [
    ("2025-01-01 00:00:00+00", "2025-01-01T00:00:00.000000Z"),
    ("1999-12-31 23:59:59.999999+00", "1999-12-31T23:59:59.999999Z"),
    ("2024-02-29 12:30:05.000001+05:30", "2024-02-29T07:00:05.000001Z"),
    ("2030-06-15 03:04:05.5-08", "2030-06-15T11:04:05.500000Z"),
])
def test_database_time_format_is_the_canonical_one(moment, expected):
    import datetime as dt

    from django.db import connection

    from archive.verify import format_time

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL formats the time of the export")
    assert format_time(dt.datetime.fromisoformat(moment.replace(" ", "T") + ("" if ":" in moment[-3:] else ":00"))
                       ) == expected
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL TIME ZONE 'Asia/Kolkata'")  # the session zone must not matter
        cursor.execute("SELECT to_char(%s::timestamptz AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
                       [moment])
        assert cursor.fetchone()[0] == expected
