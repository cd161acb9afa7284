"""bench/report.py renders docs/benchmarks.md from the benchmarks' JSON; every bench/*/run.py takes --json."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _load_report():
    spec = importlib.util.spec_from_file_location("bench_report", REPO / "bench" / "report.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = _load_report()

MACHINE = {"cpu": "AMD EPYC", "cores": 2, "ram_gib": 23.4, "os": "Debian GNU/Linux 12 (bookworm)",
           "python": "3.11.7", "postgresql": "15.20", "redis": "7.0.15", "load_before": [0.5, 0.4, 0.3],
           "load_after": [1.5, 0.9, 0.5], "date": "2026-11-24 22:00 UTC"}

README = """# Load test (`bench/load/run.py`)

<!-- hand-written: kept out of the page -->

What it measures.

<!-- figures -->

### What bounds the figures

The analysis paragraph.
"""

PREVIOUS_PAGE = """# Benchmarks

Intro.

## Voting (`bench/votes/run.py`)

Old voting text with a | pipe.

### Measured (2026-11-24)

| measure | figure | goal |
| --- | --- | --- |
| old | 18 votes/s | ≥ 1,000/s |

## Load test (`bench/load/run.py`)

Old load text.

## Re-runs at low load

Not a benchmark's section.
"""


def sample(name: str, rows: list[dict]) -> dict:
    return {"name": name, "command": f".venv/bin/python bench/{name}/run.py --json var/bench/{name}.json",
            "machine": MACHINE, "results": rows}


LOAD = sample("load", [
    {"measure": "throughput, all requests", "figure": "23.5 requests/s", "value": 23.5, "unit": "requests/s",
     "goal": None, "met": None},
    {"measure": "errors", "figure": "0", "value": 0, "unit": "errors", "goal": "0", "met": True},
    {"measure": "latency | votes", "figure": "p50 20 ms, p99 90 ms", "value": 90, "unit": "ms", "goal": "< 50 ms",
     "met": False},
])


def test_previous_sections_are_found_by_script_and_stop_at_other_sections():
    sections = report.previous_sections(PREVIOUS_PAGE)
    assert set(sections) == {"votes", "load"}
    assert sections["votes"].startswith("## Voting (`bench/votes/run.py`)\n\nOld voting text")
    assert "| old | 18 votes/s |" in sections["votes"]
    assert sections["load"] == "## Load test (`bench/load/run.py`)\n\nOld load text."  # not "## Re-runs ..."


def test_render_puts_the_figures_in_the_readme_and_keeps_a_section_that_was_not_rerun():
    page = report.render(["votes", "load"], {"load": README}, {"load": LOAD},
                         report.previous_sections(PREVIOUS_PAGE),
                         {"scale": "quick", "seconds": 330.0, "load_before": [0.2, 0.3, 0.4],
                          "load_after": [2.0, 1.0, 0.5], "date": "2026-11-24 22:00 UTC",
                          "scripts": {"votes": {"reason": "its run.py does not take --json yet"}}})
    # header: the machine, versions, load average before/after, date, run time
    assert page.startswith("# Benchmarks\n")
    assert "AMD EPYC, 2 cores, 23.4 GiB RAM, Debian GNU/Linux 12 (bookworm); Python 3.11.7, PostgreSQL 15.20, " \
           "Redis 7.0.15" in page
    assert "before 0.20 / 0.30 / 0.40; after 2.00 / 1.00 / 0.50" in page
    assert "`make bench BENCH_SCALE=quick`: 5.5 min in all; not re-run: votes (its run.py does not take --json yet)" \
        in page
    # the re-run benchmark: README text, figures where the marker was, then the analysis; comments dropped
    load = page[page.index("## Load test (`bench/load/run.py`)"):]
    assert load.index("What it measures.") < load.index("### Measured (2026-11-24 22:00 UTC)") \
        < load.index("The analysis paragraph.")
    assert "hand-written" not in page and "<!-- figures -->" not in page
    assert "Command: `.venv/bin/python bench/load/run.py --json var/bench/load.json`" in load
    assert "| throughput, all requests | 23.5 requests/s | — | — |" in load
    assert "| errors | 0 | 0 | ✓ |" in load
    assert "| latency \\| votes | p50 20 ms, p99 90 ms | < 50 ms | ✗ |" in load  # pipes escaped
    assert "Old load text." not in page
    # the benchmark without JSON keeps its previous text, marked, with the reason
    votes = page[page.index("## Voting (`bench/votes/run.py`)"):page.index("## Load test")]
    assert "**Not re-run by the last `make bench`** (its run.py does not take --json yet)" in votes
    assert "Old voting text with a | pipe." in votes and "| old | 18 votes/s | ≥ 1,000/s |" in votes
    # rendering the rendered page again keeps the kept text once, without stacking the notes
    again = report.render(["votes", "load"], {"load": README}, {"load": LOAD}, report.previous_sections(page))
    assert again.count("Old voting text") == 1 and again.count("Not re-run by the last") == 1


def test_render_without_readme_or_previous_text_and_with_an_intro():
    page = report.render(["archive"], {}, {}, {}, intro="# Benchmarks\n\n<!-- note -->\nHow long a run takes.\n")
    assert "## Archive (`bench/archive/run.py`)" in page
    assert "no figures yet" in page
    assert "How long a run takes." in page and "note" not in page
    assert page.index("How long a run takes.") < page.index("## Archive")


def test_every_bench_readme_has_a_title_naming_its_script_and_a_figures_marker():
    for name in report.bench_names():
        readme = (REPO / "bench" / name / "README.md").read_text()
        assert readme.startswith("# ") and f"(`bench/{name}/run.py`)" in readme.splitlines()[0], name
        assert report.FIGURES_MARKER in readme, name


def test_read_results_skips_missing_and_broken_files(tmp_path):
    (tmp_path / "load.json").write_text(json.dumps(LOAD))
    (tmp_path / "archive.json").write_text("{not json")
    assert report.read_results(["load", "archive", "votes"], tmp_path) == {"load": LOAD}


@pytest.mark.parametrize("name", report.bench_names())
def test_every_bench_script_accepts_json(name):
    out = subprocess.run([sys.executable, str(REPO / "bench" / name / "run.py"), "--help"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "--json" in out.stdout, f"bench/{name}/run.py has no --json option"
