"""Run the execution engine once, in this process: `manage.py execution_step [--execution ID | --proposal N]`.

Without an argument: create the executions of passed proposals, then advance every due execution (what
the beat tasks do). Operators use it to nudge an execution; the fault-injection tests run it in a
subprocess (with GOVAPP_EXECUTION_CRASH_AT, see execution.faults) to kill a worker at a precise point.
"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from execution import engine


class Command(BaseCommand):
    help = "Advance executions (one, by id or proposal number, or every due one)."

    def add_arguments(self, parser) -> None:  # noqa: ANN001
        parser.add_argument("--execution", type=int, help="Execution id")
        parser.add_argument("--proposal", type=int, help="Proposal number")

    def handle(self, *args, **options) -> None:  # noqa: ANN002, ANN003
        if options.get("proposal") is not None:
            ids = [engine.create_execution(options["proposal"]).pk]
        elif options.get("execution") is not None:
            ids = [options["execution"]]
        else:
            engine.queue_passed()
            ids = engine.due_executions()
        result = {}
        for execution_id in ids:
            execution = engine.advance(execution_id)
            result[execution_id] = execution.state
        self.stdout.write(json.dumps(result))
