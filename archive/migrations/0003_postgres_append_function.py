"""PostgreSQL only: archive_append(), the append in ONE round trip while the append lock is held.

record() prepares everything outside the lock (validation, signature checks, the canonical JSON of
the payload and of the signed artifact) and hands the body text around the three values only the
head can give — prev_hash, sequence, time — to this function, which takes the append lock
(pg_advisory_xact_lock, held to the end of the transaction), reads the head (a fresh snapshot: a
PL/pgSQL statement after the lock sees every append committed before it), refuses votes and
tallies on a proposal whose final tally is archived, and inserts the row with
hash = sha256(head_text || prev_hash || mid_text || sequence || tail_text || time || '"}').
Fewer round trips while holding the lock = more appends per second for all writers together.

The body it hashes is exactly archive.verify.dumps_body(entry_body(...)): the key order is the
canonical (sorted) one, the time is archive.verify.format_time's form (to_char in UTC).
"""

from django.db import migrations

FORWARD = [
    r"""
    CREATE OR REPLACE FUNCTION archive_append(
        p_lock_key bigint, p_kind text, p_ref text, p_address text, p_payload jsonb, p_signed jsonb,
        p_head_text text, p_mid_text text, p_tail_text text, p_check_closed boolean
    ) RETURNS TABLE (out_sequence bigint, out_created_at timestamptz, out_prev_hash text, out_hash text)
    LANGUAGE plpgsql VOLATILE AS $$
    DECLARE
        v_sequence bigint;
        v_prev_hash text;
        v_prev_time timestamptz;
        v_time timestamptz;
        v_hash text;
    BEGIN
        PERFORM pg_advisory_xact_lock(p_lock_key);
        SELECT a.sequence, a.hash, a.created_at INTO v_sequence, v_prev_hash, v_prev_time
            FROM archive_archiveentry a ORDER BY a.sequence DESC LIMIT 1;
        IF NOT FOUND THEN
            v_sequence := 0;
            v_prev_hash := repeat('0', 64);
        END IF;
        IF p_check_closed AND EXISTS (
            SELECT 1 FROM archive_archiveentry a WHERE a.proposal_ref = p_ref AND a.kind = 'tally.final'
        ) THEN
            RAISE EXCEPTION 'archive_tally_closed' USING ERRCODE = 'check_violation';
        END IF;
        v_time := clock_timestamp();
        IF v_prev_time IS NOT NULL AND v_time < v_prev_time THEN
            v_time := v_prev_time;  -- never backwards
        END IF;
        v_sequence := v_sequence + 1;
        v_hash := encode(sha256(convert_to(
            p_head_text || v_prev_hash || p_mid_text || v_sequence::text || p_tail_text
            || to_char(v_time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '"}',
            'UTF8')), 'hex');
        INSERT INTO archive_archiveentry (sequence, kind, created_at, proposal_ref, address, payload, signed,
                                          prev_hash, hash)
            VALUES (v_sequence, p_kind, v_time, p_ref, p_address, p_payload, p_signed, v_prev_hash, v_hash);
        RETURN QUERY SELECT v_sequence, v_time, v_prev_hash, v_hash;
    END;
    $$
    """,
]

BACKWARD = [
    "DROP FUNCTION IF EXISTS archive_append(bigint, text, text, text, jsonb, jsonb, text, text, text, boolean)",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for sql in statements:
            schema_editor.execute(sql, None)

    return run


class Migration(migrations.Migration):
    dependencies = [("archive", "0002_postgres_append_only_and_search")]

    operations = [migrations.RunPython(_run(FORWARD), _run(BACKWARD), elidable=False)]
