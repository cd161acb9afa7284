"""Pieces the benchmark scripts share: the machine, the --json result file, gunicorn, CPU accounting.

Every bench/<name>/run.py accepts ``--json PATH`` and writes there (see ``write_json``)::

    {"name": str, "command": str, "machine": {...},
     "results": [{"measure": str, "figure": str, "value": number, "unit": str, "goal": str | None,
                  "met": bool | None}]}

bench/report.py renders docs/benchmarks.md from those files.
"""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import platform
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


# --------------------------------------------------------------------------- the machine
def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _ram_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    return 0.0


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.platform()


def _postgres_version(url: str | None) -> str | None:
    if not url:
        return None
    try:
        import psycopg

        from bench.scratch_db import admin_url

        with psycopg.connect(admin_url(url)[0], connect_timeout=3) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0]).split(" ")[0]
    except Exception:  # the machine description must not fail a benchmark
        return None


def _redis_version(url: str | None) -> str | None:
    if not url:
        return None
    try:
        import redis

        return str(redis.Redis.from_url(url, socket_timeout=3).info("server")["redis_version"])
    except Exception:  # the machine description must not fail a benchmark
        return None


def machine_info(database_url: str | None = None, redis_url: str | None = "redis://127.0.0.1:6379/0") -> dict[str, Any]:
    """CPU model, cores, RAM, OS, Python, PostgreSQL and Redis versions, load average and time now."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": _os_name(),
        "python": platform.python_version(),
        "postgresql": _postgres_version(database_url or "postgres://postgres@127.0.0.1:5432/postgres"),
        "redis": _redis_version(redis_url),
        "load_before": load_average(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


# --------------------------------------------------------------------------- the --json file
def result(measure: str, figure: str, value: float | int, unit: str, goal: str | None = None,
           met: bool | None = None) -> dict[str, Any]:
    """One row of a benchmark's results: `figure` is the human text, `value` + `unit` the number."""
    return {"measure": measure, "figure": figure, "value": value, "unit": unit, "goal": goal, "met": met}


def command_line(argv: list[str] | None = None) -> str:
    """The command that ran this script, as a person would type it from the repository root."""
    argv = list(sys.argv if argv is None else argv)
    script = Path(argv[0]).resolve()
    try:
        script_text = str(script.relative_to(REPO))
    except ValueError:
        script_text = str(script)
    return " ".join([".venv/bin/python", script_text, *(shlex.quote(a) for a in argv[1:])])


def write_json(path: Path | str, name: str, results: list[dict[str, Any]], machine: dict[str, Any],
               command: str | None = None, extra: dict[str, Any] | None = None) -> None:
    """Write the benchmark's figures in the shared format (load average after is taken now)."""
    finished = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    machine = {**machine, "load_after": load_average(), "finished": finished}
    document: dict[str, Any] = {"name": name, "command": command or command_line(), "machine": machine,
                                "results": results}
    if extra:
        document["details"] = extra
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")


# --------------------------------------------------------------------------- the server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(base: dict[str, str]) -> dict[str, str]:
    """DEBUG off (as in production) with throw-away secrets, so govapp.production's checks pass."""
    env = {**base, "DEBUG": "false", "SECRET_KEY": "bench-" + secrets.token_urlsafe(48),
           "ALLOWED_HOSTS": "127.0.0.1,localhost", "SESSION_COOKIE_SECURE": "false", "CSRF_COOKIE_SECURE": "false"}
    for name in ("DEPLOYER", "EXECUTOR", "RELAYER", "COUNCIL_RELAY"):
        env[f"{name}_PRIVATE_KEY"] = "0x" + secrets.token_hex(32)
    return env


def static_inputs_digest() -> str:
    """A digest of every file the staticfiles finders see (path, size, mtime); needs Django set up."""
    import hashlib

    from django.contrib.staticfiles.finders import get_finders

    digest = hashlib.sha256()
    for finder in get_finders():
        for path, storage in sorted(finder.list([]), key=lambda item: item[0]):
            stat = os.stat(storage.path(path))
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def collected_static_var_dir(env: dict[str, str]) -> Path:
    """A GOVAPP_VAR_DIR (var/bench/server-var) whose static/ holds the collected, compressed static files.

    `collectstatic` with DEBUG off (whitenoise's compressed manifest storage) takes most of a minute of CPU
    here, so its output is kept and reused while the static sources are unchanged. Needs Django set up.
    """
    var_dir = REPO / "var" / "bench" / "server-var"
    stamp = var_dir / "static" / ".bench-inputs"
    digest = static_inputs_digest()
    if stamp.exists() and stamp.read_text() == digest:
        return var_dir
    var_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "--clear", "-v0"], cwd=REPO,
                   env={**env, "GOVAPP_VAR_DIR": str(var_dir)}, check=True)
    stamp.write_text(digest)
    return var_dir


def start_gunicorn(env: dict[str, str], workers: int, port: int, probe: str = "/",
                   extra_args: tuple[str, ...] = (), threads: int = 1,
                   app: str = "govapp.wsgi:application") -> subprocess.Popen:
    """gunicorn serving `app` on 127.0.0.1:port in its own session — gthread workers of `threads` threads as
    deployed (docker-compose.yml), sync workers with threads=1; returns once `probe` answers 200."""
    worker_class = ("gthread", "--threads", str(threads)) if threads > 1 else ("sync",)
    command = [sys.executable, "-m", "gunicorn", app, "--workers", str(workers),
               "--bind", f"127.0.0.1:{port}", "--worker-class", *worker_class, "--log-level", "warning",
               "--backlog", "2048", "--timeout", "120", *extra_args]
    process = subprocess.Popen(command, cwd=REPO, env=env, start_new_session=True)
    deadline = time.time() + 60
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {process.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", probe)
            if conn.getresponse().status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.3)
    stop_process(process)
    raise RuntimeError("gunicorn did not start")


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM the process group started with start_new_session=True; SIGKILL if it lingers."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# --------------------------------------------------------------------------- CPU accounting (/proc)
def proc_cpu_seconds(pid: int) -> float:
    """utime + stime of a process in seconds (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(x) for x in task.read_text().split()]
        except OSError:
            continue
    return found


def copy_rows(cursor: Any, table: str, columns: tuple[str, ...], rows: Any) -> int:
    """COPY `rows` (tuples in `columns` order) into `table` on a psycopg cursor; returns how many."""
    count = 0
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def database_backends(url: str) -> list[int]:
    """Pids of the PostgreSQL backends connected to the database of `url`."""
    import psycopg

    from bench.scratch_db import admin_url

    admin, name = admin_url(url)
    with psycopg.connect(admin, autocommit=True) as conn:
        return [row[0] for row in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [name])]


def cpu_snapshot(pids: list[int]) -> dict[int, float]:
    return {pid: proc_cpu_seconds(pid) for pid in set(pids)}


def cpu_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds spent between two snapshots (a process that started in between counts in full)."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())
