"""EXPLAIN (ANALYZE, BUFFERS) of the portal's hot queries (govapp.hot_queries), for docs/scaling.md.

    manage.py explain_hot_queries --populate --scale 200000   # on a scratch database (see docs/scaling.md)
    manage.py explain_hot_queries --scale 200000              # plans only (e.g. on a restored copy)
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from govapp import hot_queries


class Command(BaseCommand):
    help = "Print EXPLAIN (ANALYZE, BUFFERS) of the hot queries; --populate fills a scratch database first."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--scale", type=int, default=200_000, help="accounts in the data set")
        parser.add_argument("--populate", action="store_true",
                            help="bulk-insert the synthetic data set first (refused unless the tables are empty)")

    def handle(self, *args: Any, scale: int, populate: bool, **options: Any) -> None:
        if connection.vendor != "postgresql":
            raise CommandError("PostgreSQL only.")
        if populate:
            with connection.cursor() as cursor:
                cursor.execute("SELECT EXISTS (SELECT 1 FROM chain_votescheckpoint) OR "
                               "EXISTS (SELECT 1 FROM archive_archiveentry)")
                if cursor.fetchone()[0]:
                    raise CommandError("--populate only fills an empty (scratch) database.")
            with transaction.atomic():
                counts = hot_queries.populate(scale)
            self.stdout.write("rows: " + ", ".join(f"{t} {n:,}" for t, n in counts.items()))
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            self.stdout.write(f"PostgreSQL {cursor.fetchone()[0]}, scale {scale:,}\n")
        for query in hot_queries.HOT_QUERIES:
            plan = hot_queries.explain(query, scale)
            used = [name for name in query.indexes if name in plan]
            verdict = f"uses {used[0]}" if used else (f"DOES NOT use {' / '.join(query.indexes)}"
                                                      if query.indexes else "no index expected")
            self.stdout.write(f"### {query.name} ({verdict})\n{query.note}\n\n{plan}\n")
