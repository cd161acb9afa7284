"""Schemathesis fuzzing of every operation of the portal's own OpenAPI schema (/api/schema/).

In process (WSGI) against the real Django app, the test's PostgreSQL database and the test anvil chain,
after seeding real state (holders and delegations on chain and indexed, proposals in Draft, Endorsement
and Voting, votes, a delegate statement, a Foundation document, archive entries), so detail routes hit
real objects too. Every operation is fuzzed three times: anonymous, signed in as the proposals' author and
signed in as staff (sessions from the real wallet sign-in, with their CSRF token), with positive
(schema-valid) and negative (schema-violating) data.

Checks: no 5xx, every status code documented, the content type and the body as documented.

Bounded run (part of `make test`): FUZZ_EXAMPLES examples per operation and session (default 20, ≥ 1,000
cases in all), derandomized. `make fuzz` runs ten times as many with a random seed (FUZZ_SEED=random).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
import werkzeug
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import DatabaseError, close_old_connections, transaction
from hypothesis import HealthCheck, Phase, given, seed
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.django_db

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "20"))
SEED = os.environ.get("FUZZ_SEED", "")  # "" = derandomized (CI), "random" or an integer
MIN_CASES = int(os.environ.get("FUZZ_MIN_CASES", "1000"))

#: Query parameters that name an address: fuzzed with a real holder's address too.
ADDRESS_QUERY = ("address", "voter", "member", "endorser", "reviewer", "holder", "delegatee")


@contextlib.contextmanager
def connection_kept() -> Iterator[None]:
    """Requests through the WSGI app without Django closing the test's connection (it is inside the test's
    transaction) at the start and end of each request, as django.test.Client does."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


def _strategies(operation: Any, seeded: Any) -> list[Any]:
    """Free generation (positive and negative), plus positive cases pinned to the seeded objects."""
    strategies = [operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)]
    names = {p.name for p in operation.path_parameters}
    query_names = {p.name for p in operation.query}
    for name in names:
        for value in seeded.path.get(name, []):
            strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters={name: value}))
            for query_name in query_names & set(ADDRESS_QUERY):
                strategies.append(operation.as_strategy(GenerationMode.POSITIVE, path_parameters={name: value},
                                                        query={query_name: seeded.addresses[0]}))
    if not names:
        for query_name in query_names & set(ADDRESS_QUERY):
            for address in seeded.addresses:
                strategies.append(operation.as_strategy(GenerationMode.POSITIVE, query={query_name: address}))
    return strategies


def fuzz_operation(operation: Any, seeded: Any, cookies: dict[str, str], examples: int,
                   statuses: set[int] | None = None) -> tuple[int, str | None]:
    """Run `examples` generated cases against one operation; (cases run, failure report or None).
    The status codes answered are added to `statuses`."""
    calls = 0
    statuses = set() if statuses is None else statuses
    headers = {"X-CSRFToken": cookies["csrftoken"]}

    @hypothesis_settings(max_examples=examples, derandomize=not SEED, deadline=None, database=None,
                         suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
                         print_blob=False)
    @given(case=st.one_of(*_strategies(operation, seeded)))
    def run(case: Any) -> None:
        nonlocal calls
        calls += 1
        response = None
        try:
            # Each request in its own savepoint, as in production each is its own transaction: a request whose
            # query failed (answered 500, reported below) must not leave the test's transaction aborted.
            with transaction.atomic():
                response = case.call(headers=headers, cookies=cookies)
        except DatabaseError:
            if response is None:
                raise
        statuses.add(response.status_code)
        case.validate_response(response, checks=CHECKS, headers=headers)

    if SEED and SEED != "random":
        run = seed(int(SEED))(run)
    try:
        run()
    except (Exception, BaseExceptionGroup) as exc:  # the report: every distinct failure, with a curl command
        return calls, f"{type(exc).__name__}: {exc}"
    return calls, None


@pytest.fixture(autouse=True)
def writes_reach_views(settings: Any) -> None:
    """Rate limits off (before the sign-in): the fuzzer's hundreds of writes must reach the views."""
    settings.RATE_LIMIT_ENABLED = False


def _me_status(app: Any, cookies: dict[str, str]) -> int:
    """GET /accounts/me through the WSGI app (not django.test.Client: it reconnects close_old_connections)."""
    client = werkzeug.Client(app)
    for name, value in cookies.items():
        client.set_cookie(name, value, domain="localhost")
    return client.get("/accounts/me").status_code


def test_every_operation_survives_fuzzing(seeded: Any, sessions: dict[str, dict[str, str]], settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["localhost", "testserver"]
    app = get_wsgi_application()
    with connection_kept():
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 50, [op.label for op in operations]
    # Sign-out last: it ends the signed-in session the other operations use.
    logout = next(op for op in operations if op.label == "POST /accounts/logout")
    operations = [op for op in operations if op is not logout]

    request_log = logging.getLogger("django.request")  # every refusal is a warning: keep only 5xx errors
    level = request_log.level
    request_log.setLevel(logging.ERROR)
    started = time.monotonic()
    total = 0
    failures: dict[str, str] = {}
    answered: dict[str, set[int]] = {op.label: set() for op in [*operations, logout]}
    try:
        with connection_kept():
            for who, cookies in sessions.items():
                for operation in operations:
                    calls, failure = fuzz_operation(operation, seeded, cookies, EXAMPLES, answered[operation.label])
                    total += calls
                    if failure:
                        failures[f"{who} {operation.label}"] = failure
                if who != "anonymous":  # the fuzzing ran signed in: the session survived it
                    assert _me_status(app, cookies) == 200, "the signed-in session was lost while fuzzing"
                calls, failure = fuzz_operation(logout, seeded, cookies, EXAMPLES, answered[logout.label])
                total += calls
                if failure:
                    failures[f"{who} {logout.label}"] = failure
    finally:
        request_log.setLevel(level)
    elapsed = time.monotonic() - started
    print(f"\nfuzzed {len(operations) + 1} operations x {len(sessions)} sessions: {total} cases in {elapsed:.1f} s")
    assert not failures, "\n\n".join(f"=== {label}\n{report}" for label, report in failures.items())
    assert total >= MIN_CASES, f"only {total} cases were generated"
    # The fuzzing got past the refusals: most operations answered a success at least once (the rest need a
    # valid signature, or a state the seed does not have, and answered only 4xx).
    succeeded = sorted(label for label, codes in answered.items() if any(200 <= c < 300 for c in codes))
    print(f"{len(succeeded)} of {len(answered)} operations answered 2xx at least once; only refusals: "
          + ", ".join(f"{label} {sorted(codes)}" for label, codes in answered.items() if label not in succeeded))
    assert len(succeeded) >= 0.6 * len(answered), {label: sorted(codes) for label, codes in answered.items()}
