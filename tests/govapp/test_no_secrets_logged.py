"""No secret ever reaches a log line or an error page: the real key-using flows at DEBUG level with every logger
(web3, urllib3, celery, Django) captured from the handlers LOGGING installs; a Celery worker's own logging; the
DEBUG error page and the error report's settings and META."""

from __future__ import annotations

import copy
import io
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import RequestFactory
from django.views import debug
from eth_account import Account

from archive.testing import archive_flushable  # noqa: F401 - autouse: transactional tests may flush the archive
from govapp.security import REDACTED, RedactSecretsFilter, redact

ROOT = Path(__file__).resolve().parents[2]
KEY_SETTINGS = ("DEPLOYER_PRIVATE_KEY", "EXECUTOR_PRIVATE_KEY", "RELAYER_PRIVATE_KEY", "COUNCIL_RELAY_PRIVATE_KEY")


def secrets_of(settings) -> dict[str, str]:
    return {name: getattr(settings, name) for name in ("SECRET_KEY", *KEY_SETTINGS)}


def forms_of(secret: str) -> list[str]:
    """The ways a key may be printed: with or without 0x, lower or upper case."""
    bare = secret.removeprefix("0x")
    return [secret, bare, bare.lower(), bare.upper(), "0x" + bare.upper()]


def assert_no_secret(text: str, settings) -> None:
    for name, secret in secrets_of(settings).items():
        for form in forms_of(secret):
            assert form not in text, f"{name} appears in the output"
        assert secret.removeprefix("0x").lower() not in text.lower(), f"{name} appears in the output"


def configured_handlers() -> set[logging.Handler]:
    """Every handler on any logger that writes somewhere (not libraries' NullHandlers, not pytest's capture)."""
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    return {h for lg in loggers for h in lg.handlers
            if not type(h).__module__.startswith("_pytest") and not isinstance(h, logging.NullHandler)}


@pytest.fixture
def everything_logged():
    """All output of the configured handlers, with every logger (web3, urllib3, celery, ...) at DEBUG."""
    for name in ("web3", "web3.providers.HTTPProvider", "web3.manager.RequestManager", "urllib3", "celery",
                 "celery.task", "django", "django.db.backends", "eth_account", "delegation", "execution", "chain"):
        logging.getLogger(name)
    handlers = configured_handlers()
    assert handlers, "LOGGING installs no handler"
    unfiltered = [h for h in handlers if not any(isinstance(f, RedactSecretsFilter) for f in h.filters)]
    assert not unfiltered, f"handlers without the redaction filter: {unfiltered}"
    buffer = io.StringIO()
    streams = {h: h.setStream(buffer) for h in handlers if isinstance(h, logging.StreamHandler)}
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    levels = {lg: (lg.level, lg.disabled) for lg in loggers}
    for lg in loggers:
        lg.setLevel(logging.DEBUG)
        lg.disabled = False
    try:
        yield buffer
    finally:
        for lg, (level, disabled) in levels.items():
            lg.setLevel(level)
            lg.disabled = disabled
        for handler, stream in streams.items():
            handler.setStream(stream)


# --- The filter itself -----------------------------------------------------------------------------------------

def test_secrets_written_to_the_logs_on_purpose_come_out_redacted(everything_logged, settings):
    settings.CELERY_BROKER_URL = "redis://:broker-password-123@127.0.0.1:6379/0"
    relayer = settings.RELAYER_PRIVATE_KEY
    stray = "0x" + os.urandom(32).hex()  # not configured anywhere, but labelled as a key
    logging.getLogger("web3.providers.HTTPProvider").debug("signing with %s", relayer)
    logging.getLogger("celery.task").info("key=%s", relayer.removeprefix("0x").upper())
    logging.getLogger("urllib3").debug(f"secret {settings.SECRET_KEY}")
    logging.getLogger("chain").warning("private_key: %s", stray)
    logging.getLogger("delegation").info("broker at %s", settings.CELERY_BROKER_URL)
    try:
        raise ValueError(f"could not use {settings.EXECUTOR_PRIVATE_KEY}")
    except ValueError:
        logging.getLogger("execution").exception("sending failed")
    logging.getLogger("execution").info("stack", stack_info=True, extra={"k": settings.DEPLOYER_PRIVATE_KEY})
    tx_hash = "0x" + "ab" * 32
    logging.getLogger("execution").info("sent tx %s", tx_hash)

    output = everything_logged.getvalue()
    assert output.count(REDACTED) >= 6, output
    assert "ValueError: could not use [redacted]" in output and "Traceback" in output
    assert stray not in output and "broker-password-123" not in output
    assert tx_hash in output  # transaction hashes stay readable
    assert_no_secret(output, settings)


@pytest.mark.parametrize("text, expected", [
    ("tx 0x" + "ab" * 32 + " mined", "tx 0x" + "ab" * 32 + " mined"),
    ('{"private_key": "0x' + "cd" * 32 + '"}', '{"private_key": "[redacted]"}'),
    ("RELAYER_KEY=" + "ef" * 32, "RELAYER_KEY=[redacted]"),
    ("seed " + "01" * 32, "seed [redacted]"),
])
def test_labelled_32_byte_hex_is_redacted_unlabelled_is_not(text, expected):
    assert redact(text) == expected


# --- Real flows that use the keys ---------------------------------------------------------------------------

@pytest.fixture
def council(settings):
    from chain.anvil import dev_address

    value = copy.deepcopy(settings.GOVERNANCE)
    value["SECURITY_COUNCIL"] = [dev_address(i) for i in (7, 8, 9)]
    value["SECURITY_COUNCIL_THRESHOLD"] = 2
    value["EXECUTION_CONFIRMATIONS"] = 1
    settings.GOVERNANCE = value


def passed_proposal():
    """A proposal put in Passed with an archived final tally (as tests/execution does)."""
    from accounts.models import User
    from archive.services import record_final_tally
    from proposals import services
    from proposals.lifecycle import ProposalKind, ProposalStatus
    from proposals.models import Proposal

    author = User.objects.for_address(Account.create().address)
    proposal = services.create_proposal(author, title="An OS upgrade", body="Why and how.",
                                        kind=ProposalKind.OS_UPGRADE,
                                        payload={"program_hash": "0x" + "ab" * 32, "config_hash": "0x" + "cd" * 32,
                                                 "os_version": "0.14.0", "snips": ["SNIP-12"]})
    Proposal.objects.filter(pk=proposal.pk).update(status=ProposalStatus.PASSED)
    proposal.refresh_from_db()
    record_final_tally(proposal.ref, {"outcome": "passed", "merkle_root": "0x" + "00" * 32})
    return proposal


@pytest.mark.django_db
def test_key_using_flows_log_no_key(everything_logged, settings, chain_settings, council, client,
                                    django_capture_on_commit_callbacks):
    from archive.anchoring import anchor_head
    from chain.testing import TEST_DELAY_SECONDS
    from delegation.models import RelayedDelegation, RelayStatus
    from delegation.testing import DELEGATE, HOLDER, Api, Chain, sign_typed
    from execution import engine, vetoes
    from execution.models import ExecutionState
    from govapp.celery import app as celery_app

    chain = chain_settings
    eager = celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates
    celery_app.conf.task_always_eager = celery_app.conf.task_eager_propagates = True
    try:
        # A relayed (gasless) delegation: RELAYER_PRIVATE_KEY signs and sends delegateBySig.
        onchain, api = Chain(chain), Api(client)
        holder, delegatee = chain.address(HOLDER), chain.address(DELEGATE)
        onchain.mint(HOLDER, 10)
        typed = api.get("/api/relay/delegation-template/", holder=holder.lower(), delegatee=delegatee).json()[
            "typed_data"]
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post("/api/relay/delegations/", {"holder": holder, "typed_data": typed,
                                                            "signature": sign_typed(chain.key(HOLDER), typed)})
        assert response.status_code == 202, response.content
        assert RelayedDelegation.objects.get().status == RelayStatus.CONFIRMED

        # Execution: EXECUTOR_PRIVATE_KEY schedules and executes after the timelock.
        execution = engine.create_execution(passed_proposal())
        assert engine.advance(execution.pk).state == ExecutionState.QUEUED
        chain.increase_time(TEST_DELAY_SECONDS + 1)
        assert engine.advance(execution.pk).state == ExecutionState.EXECUTED

        # A council veto: COUNCIL_RELAY_PRIVATE_KEY sends cancel at the threshold.
        execution = engine.create_execution(passed_proposal())
        assert engine.advance(execution.pk).state == ExecutionState.QUEUED
        for index in (7, 8):
            veto = vetoes.veto_template(execution.proposal.number, chain.address(index), "Not the audited build.")
            vetoes.submit_veto(execution.proposal.number, veto, sign_typed(chain.key(index), veto))
        for _ in range(5):  # cancel sent, mined, confirmed
            if engine.advance(execution.pk).state == ExecutionState.VETOED:
                break
            chain.mine(1)
        assert execution.__class__.objects.get(pk=execution.pk).state == ExecutionState.VETOED

        # The archive anchor: DEPLOYER_PRIVATE_KEY publishes the head hash.
        assert anchor_head() is not None
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_eager_propagates = eager

    output = everything_logged.getvalue()
    # The capture is real: web3's DEBUG request logs of those transactions are in it.
    assert "eth_sendRawTransaction" in output, output[-2000:]
    assert_no_secret(output, settings)


# --- A Celery worker's own logging ------------------------------------------------------------------------------

WORKER_LOGGING = """
import logging, django
django.setup()
from django.conf import settings
from celery.utils.log import get_task_logger
from govapp.celery import app

app.log.setup(loglevel="DEBUG", redirect_stdouts=True)  # what `celery worker` does at start
key = settings.EXECUTOR_PRIVATE_KEY
get_task_logger("execution.tasks").warning("sending with %s", key)
logging.getLogger("celery").info("key %s", key.removeprefix("0x").upper())
logging.getLogger("web3").debug(key)
print("a task printed", key)  # workers redirect stdout into the celery.redirected logger
"""


def test_a_celery_worker_redacts_its_own_log_handlers(tmp_path, settings):
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "govapp.settings", "GOVAPP_VAR_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", WORKER_LOGGING], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert output.count(REDACTED) >= 4, output
    assert "sending with [redacted]" in output and "a task printed" in output
    assert_no_secret(output, settings)


# --- Error pages -----------------------------------------------------------------------------------------------------

def _fail_with_the_key(key: str) -> None:
    raw = key  # a local variable with an innocent name  # noqa: F841
    material = {"signer": key}  # noqa: F841
    raise ValueError(f"could not sign with {key}")


@pytest.mark.parametrize("accept", ["text/html", "text/plain"])
def test_debug_error_page_hides_the_keys(settings, accept):
    settings.DEBUG = True
    settings.CELERY_BROKER_URL = "redis://:broker-password-123@127.0.0.1:6379/0"
    key = settings.RELAYER_PRIVATE_KEY
    request = RequestFactory().get("/boom", HTTP_ACCEPT=accept, RELAYER_PRIVATE_KEY=key,
                                   DATABASE_URL=f"postgres://u:{settings.SECRET_KEY}@db/x")
    try:
        _fail_with_the_key(key)
    except ValueError:
        response = debug.technical_500_response(request, *sys.exc_info())
    page = response.content.decode()
    assert "could not sign with" in page and "_fail_with_the_key" in page  # it is the real report
    assert "broker-password-123" not in page
    assert_no_secret(page, settings)


def test_error_report_settings_hide_every_key_setting_by_name(settings):
    safe = debug.get_default_exception_reporter_filter().get_safe_settings()
    for name in ("SECRET_KEY", *KEY_SETTINGS, "DEV_DEPLOYER_KEY", "DEV_EXECUTOR_KEY", "DEV_RELAYER_KEY",
                 "DEV_COUNCIL_RELAY_KEY"):
        assert safe[name] == "********************", name
    assert_no_secret(repr(safe), settings)
    assert_no_secret(repr(settings), settings)
