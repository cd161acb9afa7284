#!/usr/bin/env python
"""Run every benchmark and write docs/benchmarks.md from what they measured (`make bench`).

    .venv/bin/python bench/report.py run                   # every bench/*/run.py at its default size, then render
    .venv/bin/python bench/report.py run --scale quick     # smaller sizes (QUICK_ARGS below), a few minutes
    .venv/bin/python bench/report.py run --only load       # some of them (the others keep their previous text)
    .venv/bin/python bench/report.py render                # only re-render from var/bench/*.json

Every bench/<name>/run.py takes ``--json PATH`` and writes its figures there (bench/common.py, ``write_json``):
``{"name", "command", "machine", "results": [{"measure", "figure", "value", "unit", "goal", "met"}]}``.
The page is: a header (the machine, load average before and after, date, how long the run took), then per
benchmark the hand-written text of bench/<name>/README.md with the table of figures put where its
``<!-- figures -->`` marker is, and the exact command. A benchmark without a JSON file keeps the text it had
on the previous page, marked as not re-run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / "bench"
JSON_DIR = REPO / "var" / "bench"
PAGE = REPO / "docs" / "benchmarks.md"
#: Order on the page; any other bench/<name>/run.py follows, alphabetically.
ORDER = ("votes", "archive", "delegation", "indexer", "load")
FIGURES_MARKER = "<!-- figures -->"
NOT_RERUN = "> **Not re-run by the last `make bench`**"
#: BENCH_SCALE=quick: sizes for a run of a few minutes in all. full = each script's defaults.
QUICK_ARGS: dict[str, list[str]] = {
    "votes": ["--votes", "2000", "--verify", "5000", "--tally-votes", "200000"],
    "archive": ["--entries", "50000", "--signed", "5000", "--appends", "250", "--repeat", "1"],
    "delegation": ["--holders", "20000", "--delegates", "4000", "--requests", "60"],
    "indexer": ["--events", "30000", "--holders", "3000", "--addresses", "2000", "--repeat", "2",
                "--web3-sample", "5000"],
    "load": ["--users", "16", "--duration", "45"],
}


# --------------------------------------------------------------------------- inputs
def bench_names(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Every bench/<name>/ with a run.py, in page order."""
    found = sorted(p.parent.name for p in bench_dir.glob("*/run.py"))
    return [n for n in ORDER if n in found] + [n for n in found if n not in ORDER]


def read_readmes(names: list[str], bench_dir: Path = BENCH_DIR) -> dict[str, str]:
    return {n: (bench_dir / n / "README.md").read_text() for n in names if (bench_dir / n / "README.md").exists()}


def read_results(names: list[str], json_dir: Path = JSON_DIR) -> dict[str, dict[str, Any]]:
    """name -> the benchmark's JSON document, for those whose file exists and parses."""
    docs = {}
    for name in names:
        path = json_dir / f"{name}.json"
        try:
            docs[name] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return docs


_SECTION = re.compile(r"(?m)^## .*\(`bench/([\w-]+)/run\.py`\)[^\n]*\n")


def previous_sections(page: str) -> dict[str, str]:
    """name -> its section on a previous page (heading line, then the body), without a not-re-run note."""
    sections = {}
    matches = list(_SECTION.finditer(page))
    for i, match in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(page)
        tail = re.search(r"(?m)^## ", page[match.end():end])  # a section that is not a benchmark's
        body = page[match.end(): match.end() + tail.start() if tail else end]
        lines = [line for line in body.strip("\n").splitlines() if not line.startswith(NOT_RERUN)]
        sections[match.group(1)] = match.group(0) + "\n" + "\n".join(lines).strip("\n")
    return sections


# --------------------------------------------------------------------------- rendering (pure)
def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _met(value: bool | None) -> str:
    return {True: "✓", False: "✗"}.get(value, "—")


def _load(values: Any) -> str:
    return " / ".join(f"{v:.2f}" for v in values) if values else "?"


def figures_table(doc: dict[str, Any]) -> str:
    """The measured block of one benchmark: when, the command, the load, the table of figures vs goals."""
    machine = doc.get("machine", {})
    lines = [f"### Measured ({machine.get('date', '?')})", "",
             f"Command: `{doc.get('command', '?')}`  ",
             f"Load average (1, 5, 15 min) before {_load(machine.get('load_before'))}, after "
             f"{_load(machine.get('load_after'))}, on {machine.get('cores', '?')} cores.", "",
             "| measure | figure | goal | met |", "| --- | --- | --- | :-: |"]
    for row in doc.get("results", []):
        lines.append(f"| {_cell(row.get('measure', ''))} | {_cell(row.get('figure', ''))} | "
                     f"{_cell(row.get('goal') or '—')} | {_met(row.get('met'))} |")
    return "\n".join(lines)


def _readme_parts(readme: str) -> tuple[str, str]:
    """(title, body) of a bench README: its first-level heading and the rest, HTML comments dropped."""
    lines = readme.strip("\n").splitlines()
    title = lines[0].lstrip("#").strip() if lines and lines[0].startswith("#") else ""
    body = "\n".join(lines[1:] if title else lines)
    body = re.sub(r"<!--(?!\s*figures\s*-->).*?-->\n?", "", body, flags=re.S)
    return title, body.strip("\n")


def render_section(name: str, readme: str | None, doc: dict[str, Any] | None, previous: str | None,
                   reason: str = "") -> str:
    """One benchmark's section: README text with its figures, or the previous text when it was not re-run."""
    title, body = _readme_parts(readme) if readme else ("", "")
    heading = f"## {title or name.title()}" if f"bench/{name}/run.py" in title else \
        f"## {title or name.title()} (`bench/{name}/run.py`)"
    if doc is None:
        note = f"{NOT_RERUN} ({reason or f'no var/bench/{name}.json'}): the text below is from the previous page."
        if previous:
            previous_heading, _, previous_body = previous.partition("\n")
            return "\n\n".join([previous_heading, note, previous_body.strip("\n")])
        return "\n\n".join(part for part in [heading, body.replace(FIGURES_MARKER, "").strip(),
                                             note.replace("the text below is from the previous page.",
                                                          "no figures yet.")] if part)
    figures = figures_table(doc)
    if FIGURES_MARKER in body:
        body = body.replace(FIGURES_MARKER, figures, 1)
    else:
        body = f"{body}\n\n{figures}" if body else figures
    return f"{heading}\n\n{body}"


def _machine_line(docs: dict[str, dict[str, Any]]) -> str:
    machines = [d.get("machine", {}) for d in docs.values()]
    if not machines:
        return "(no benchmark was run)"
    m = machines[0]
    versions = ", ".join(f"{label} {m[key]}" for label, key in (("Python", "python"), ("PostgreSQL", "postgresql"),
                                                                ("Redis", "redis")) if m.get(key))
    return (f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('ram_gib', '?')} GiB RAM, "
            f"{m.get('os', '?')}; {versions}")


def render(names: list[str], readmes: dict[str, str], docs: dict[str, dict[str, Any]], previous: dict[str, str],
           run: dict[str, Any] | None = None, intro: str | None = None) -> str:
    """The whole docs/benchmarks.md (a pure function of its inputs); `intro`: bench/README.md, under the header."""
    run = run or {}
    machines = [docs[n].get("machine", {}) for n in names if n in docs]
    load_before = run.get("load_before") or (machines[0].get("load_before") if machines else None)
    load_after = run.get("load_after") or (machines[-1].get("load_after") if machines else None)
    date = run.get("date") or (machines[0].get("date") if machines else "?")
    lines = [
        "# Benchmarks", "",
        "<!-- Generated by `make bench` (bench/report.py): edit bench/<name>/README.md, not this page. -->", "",
        "Each capability with a speed or memory target has a script under `bench/` that prints its figures and",
        "writes them as JSON (`--json PATH`); `make bench` runs them all and writes this page from their JSON and",
        "the text next to each script (`bench/<name>/README.md`).", "",
        "```sh",
        "make bench                    # every script at its default (full) size, then this page",
        "make bench BENCH_SCALE=quick  # smaller sizes (bench/report.py QUICK_ARGS), a few minutes",
        ".venv/bin/python bench/report.py run --only load   # one benchmark; the others keep their text",
        ".venv/bin/python bench/report.py render            # re-render from var/bench/*.json",
        "```", "",
        "| | |", "| --- | --- |",
        f"| Machine | {_cell(_machine_line(docs))} |",
        f"| Date | {_cell(date)} |",
        f"| Load average (1, 5, 15 min) | before {_load(load_before)}; after {_load(load_after)} |",
    ]
    if run.get("seconds") is not None:
        command = run.get("command") or f"make bench BENCH_SCALE={run.get('scale', '?')}"
        skipped = [f"{n} ({s['reason']})" for n, s in run.get("scripts", {}).items() if s.get("reason")]
        lines.append(f"| Run | `{command}`: {run['seconds'] / 60:.1f} min in all"
                     + (f"; not re-run: {_cell('; '.join(skipped))}" if skipped else "") + " |")
    lines += ["",
              "The machine is shared: other engineers' test suites may run on the same cores, so wall-clock figures",
              "follow the load average above; where a section gives CPU seconds per operation, that figure does not",
              "depend on the load. Re-run a script on an idle machine before comparing against a goal.", ""]
    if intro:
        lines += [_readme_parts(intro)[1], ""]
    scripts = run.get("scripts", {})
    for name in names:
        reason = scripts.get(name, {}).get("reason", "")
        lines += [render_section(name, readmes.get(name), docs.get(name), previous.get(name), reason), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


# --------------------------------------------------------------------------- running
def accepts_json(script: Path) -> bool:
    """Whether the script's --help lists a --json option."""
    out = subprocess.run([sys.executable, str(script), "--help"], cwd=REPO, capture_output=True, text=True,
                         timeout=120)
    return out.returncode == 0 and "--json" in out.stdout


def _relative(path: Path) -> str:
    """The path as typed from the repository root (commands run there), absolute outside it."""
    path = path.resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def run_all(names: list[str], scale: str, json_dir: Path) -> dict[str, Any]:
    """Run each bench/<name>/run.py with --json; returns what happened (also written to json_dir/run.json)."""
    json_dir.mkdir(parents=True, exist_ok=True)
    info: dict[str, Any] = {"scale": scale, "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
                            "load_before": [round(x, 2) for x in os.getloadavg()], "scripts": {}}
    started = time.perf_counter()
    for name in names:
        script = BENCH_DIR / name / "run.py"
        target = json_dir / f"{name}.json"
        target.unlink(missing_ok=True)
        if not accepts_json(script):
            info["scripts"][name] = {"returncode": None, "reason": "its run.py does not take --json yet"}
            print(f"== {name}: skipped, {script.relative_to(REPO)} does not take --json yet", flush=True)
            continue
        command = [sys.executable, _relative(script), *(QUICK_ARGS.get(name, []) if scale == "quick" else []),
                   "--json", _relative(target)]
        print(f"== {name}: {' '.join(command)}", flush=True)
        t0 = time.perf_counter()
        code = subprocess.run(command, cwd=REPO).returncode
        entry: dict[str, Any] = {"returncode": code, "seconds": round(time.perf_counter() - t0, 1)}
        if not target.exists():
            entry["reason"] = f"its run failed (exit {code}) without writing figures"
        info["scripts"][name] = entry
        print(f"== {name}: exit {code} in {entry['seconds']:.0f} s", flush=True)
    info["seconds"] = round(time.perf_counter() - started, 1)
    info["load_after"] = [round(x, 2) for x in os.getloadavg()]
    (json_dir / "run.json").write_text(json.dumps(info, indent=2) + "\n")
    return info


def write_page(names: list[str], json_dir: Path, page: Path, run: dict[str, Any] | None) -> None:
    previous = previous_sections(page.read_text()) if page.exists() else {}
    intro = BENCH_DIR / "README.md"
    page.write_text(render(names, read_readmes(names), read_results(names, json_dir), previous, run,
                           intro.read_text() if intro.exists() else None))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run", "render"])
    parser.add_argument("--scale", choices=["quick", "full"], default=os.environ.get("BENCH_SCALE") or "full")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks")
    parser.add_argument("--json-dir", type=Path, default=JSON_DIR)
    parser.add_argument("--out", type=Path, default=PAGE)
    args = parser.parse_args(argv)
    names = bench_names()
    run_file = args.json_dir / "run.json"
    if args.action == "run":
        unknown = set(args.only or []) - set(names)
        if unknown:
            parser.error(f"no bench/<name>/run.py for {', '.join(sorted(unknown))}")
        run = run_all(args.only or names, args.scale, args.json_dir)
        run["command"] = (f"bench/report.py run --scale {args.scale} --only {' '.join(args.only)}" if args.only
                          else f"make bench BENCH_SCALE={args.scale}")
        if args.only:  # the other benchmarks keep their JSON (if any) and the run's header says what ran
            run["scripts"].update({n: {"reason": "not selected (--only)"} for n in names if n not in args.only})
        (args.json_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n")
    else:
        run = json.loads(run_file.read_text()) if run_file.exists() else None
    write_page(names, args.json_dir, args.out, run)
    print(f"wrote {args.out.relative_to(REPO) if args.out.is_relative_to(REPO) else args.out}")
    if args.action == "run":
        failed = {n: s for n, s in run["scripts"].items() if s.get("returncode") not in (0, None)}
        for name, state in failed.items():
            print(f"   {name}: exit {state['returncode']}", file=sys.stderr)
        print(f"make bench ({args.scale}): {run['seconds'] / 60:.1f} min", flush=True)
        return 1 if failed else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
