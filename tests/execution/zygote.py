"""A pre-loaded worker factory for the fault-injection tests: `python tests/execution/zygote.py`.

Starting a fresh Python with Django and web3 costs seconds of CPU; the trials need dozens of worker
processes that may be SIGKILLed. This process imports everything once (no database or RPC connection
opened), then, for each JSON request line on stdin, forks worker processes that run the real engine step
(`engine.advance`) against the test database and chain, waits for them and answers one JSON line:

    request:  {"execution": 3, "workers": 2, "env": {"GOVAPP_EXECUTION_CRASH_AT": "execute:persisted"},
               "settings": {"CHAIN_RPC_URL": "http://127.0.0.1:8545", ...}}
    answer:   {"statuses": [-9, 0]}        # exit code, or -signal (-9: the worker was SIGKILLed)

Each worker is a separate OS process with its own database connection and HTTP session, exactly like a
Celery worker process; the crash hook (execution.faults) kills it with SIGKILL at the named point.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "govapp.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402

import execution.engine  # noqa: E402, F401 - imported once, before any fork


def _worker(request: dict) -> None:
    os.environ.update({k: str(v) for k, v in request.get("env", {}).items()})
    for name, value in request.get("settings", {}).items():
        setattr(settings, name, value)
    from execution import engine

    engine.advance(int(request["execution"]))


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        pids = []
        for _ in range(int(request.get("workers", 1))):
            pid = os.fork()
            if pid == 0:  # the worker
                code = 0
                try:
                    _worker(request)
                except BaseException:  # noqa: BLE001 - report, then exit with a code the test sees
                    traceback.print_exc()
                    code = 3
                finally:
                    sys.stderr.flush()
                    os._exit(code)
            pids.append(pid)
        statuses = []
        for pid in pids:
            _, status = os.waitpid(pid, 0)
            statuses.append(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status))
        sys.stdout.write(json.dumps({"statuses": statuses}) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
