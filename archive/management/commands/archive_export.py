"""Write the whole archive as JSON Lines (last line: the head trailer) to a file or stdout."""

from __future__ import annotations

import sys
import time

from django.core.management.base import BaseCommand

from archive.services import export_lines


class Command(BaseCommand):
    help = ("Export the Foundation archive as JSON Lines in sequence order; the last line carries the head "
            "(sequence, hash). Verify it with `python -m archive.verify FILE`.")

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", default="-", help="output file (default: stdout)")
        parser.add_argument("--chunk-size", type=int, default=5000, help="rows fetched per round trip")

    def handle(self, *args, output: str, chunk_size: int, **options):
        started = time.perf_counter()
        lines = 0
        stream = sys.stdout if output == "-" else open(output, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
        try:
            for block in export_lines(chunk_size=chunk_size):
                stream.write(block)
                lines += block.count("\n")
        finally:
            if stream is not sys.stdout:
                stream.close()
        if output != "-":
            seconds = time.perf_counter() - started
            self.stderr.write(f"wrote {lines - 1} entries + trailer to {output} in {seconds:.2f}s")
