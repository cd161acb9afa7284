"""Fault injection: 20 seeded, randomized trials. Whatever happens to the workers, the node or the network,
each proposal is executed on chain EXACTLY ONCE (ProposalExecuted logs of its id, counted with
eth_getLogs) and ends in the right state, with its transactions accounted for.

Faults: duplicate task delivery, workers racing (threads and processes), a worker SIGKILLed at each point
of a transaction's life (signed-not-persisted, persisted-not-sent, sent-not-recorded, mined-not-recorded;
for schedule and execute), the RPC endpoint down, anvil restarted mid-way (state kept, mempool lost),
a nonce conflict (another transaction takes the nonce of a persisted one), a dropped transaction.

Each trial runs on its own anvil started from a dump of a deployed chain (`--state`: restarts keep the
chain, as a real node does; the clock is restored after a restart with evm_setTime, because anvil does not
persist evm_increaseTime offsets and a real chain never goes back in time). Worker processes are forked
from a pre-loaded zygote (tests/execution/zygote.py) so a SIGKILLed worker costs milliseconds, not a
Python start-up. Seed: EXECUTION_FAULT_SEED (default below); a failing trial names its seed and scenario.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from django.db import connection, connections
from eth_account import Account
from web3 import Web3

from archive import kinds
from archive.models import ArchiveEntry
from chain.anvil import AnvilProcess, dev_private_key, free_port
from chain.deploy import deploy_all, write_deployment_file
from chain.testing import GUARDIAN_INDICES, TEST_DELAY_SECONDS
from execution import engine, tasks
from execution.faults import ENV_VAR
from execution.models import ChainTransaction, Execution, ExecutionState, TxPurpose, TxState
from proposals.lifecycle import ProposalKind, ProposalStatus

from .conftest import executed_events, passed_proposal

SEED = int(os.environ.get("EXECUTION_FAULT_SEED", "7302"))
TRIALS = 20
E = ExecutionState
HERE = Path(__file__).resolve().parent

#: (scenario, variant): every one is run at least once; the remaining trials are drawn at random.
SCENARIOS: tuple[tuple[str, str], ...] = (
    ("duplicate_delivery", ""), ("threads_race", ""), ("process_race", ""),
    ("kill", "execute:signed"), ("kill", "execute:persisted"), ("kill", "execute:sent"), ("kill", "execute:mined"),
    ("kill", "schedule:signed"), ("kill", "schedule:persisted"), ("kill", "schedule:sent"),
    ("kill", "schedule:mined"),
    ("rpc_down", "schedule"), ("rpc_down", "execute"),
    ("anvil_restart", "persisted"), ("anvil_restart", "mempool"), ("anvil_restart", "down"),
    ("nonce_conflict", "transfer"), ("nonce_conflict", "manual_execute"),
    ("dropped", ""),
)


def _plan() -> list[tuple[str, str]]:
    """Every scenario once, the rest drawn at random; shuffled. Deterministic for a seed."""
    rng = random.Random(SEED)
    plan = list(SCENARIOS) + [rng.choice(SCENARIOS) for _ in range(TRIALS - len(SCENARIOS))]
    rng.shuffle(plan)
    return plan


PLAN = _plan()


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def template_state(tmp_path_factory) -> tuple[Path, Any]:
    """A deployed chain, dumped to a file each trial's anvil starts from."""
    path = tmp_path_factory.mktemp("anvil") / "deployed.json"
    node = AnvilProcess(extra_args=["--dump-state", str(path)]).start()
    try:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        deployment = deploy_all(
            w3, dev_private_key(0), executor_key_address=Account.from_key(dev_private_key(1)).address,
            guardian_addresses=[Account.from_key(dev_private_key(i)).address for i in GUARDIAN_INDICES],
            delay_seconds=TEST_DELAY_SECONDS)
    finally:
        node.stop()
    assert path.exists()
    return path, deployment


class Zygote:
    def __init__(self, database_url: str, log_path: Path) -> None:
        env = {**os.environ, "DATABASE_URL": database_url, "PYTHONUNBUFFERED": "1"}
        env.pop(ENV_VAR, None)
        self.log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, str(HERE / "zygote.py")], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.log, text=True, env=env, cwd=HERE.parents[1])
        self.lock = threading.Lock()

    def run(self, request: dict[str, Any]) -> list[int]:
        with self.lock:
            self.proc.stdin.write(json.dumps(request) + "\n")
            self.proc.stdin.flush()
            line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the zygote died; see {self.log.name}")
        return json.loads(line)["statuses"]

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=10)
        self.log.close()


@pytest.fixture(scope="module")
def zygote(django_db_setup, tmp_path_factory):
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    if db.get("PASSWORD"):
        url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT'] or 5432}/{db['NAME']}"
    z = Zygote(url, tmp_path_factory.mktemp("zygote") / "zygote.log")
    yield z
    z.stop()


class Trial:
    """One trial's chain (its own anvil) and the ways to hurt it."""

    def __init__(self, state_template: Path, deployment: Any, tmp_path: Path, settings: Any, zygote: Zygote,
                 rng: random.Random) -> None:
        self.state_file = tmp_path / "state.json"
        shutil.copy(state_template, self.state_file)
        self.node = AnvilProcess(port=free_port(), extra_args=["--state", str(self.state_file)]).start()
        self.deployment = deployment
        self.settings = settings
        self.zygote = zygote
        self.rng = rng
        self.w3 = Web3(Web3.HTTPProvider(self.node.rpc_url, request_kwargs={"timeout": 30}))
        self.deployment_file = write_deployment_file(tmp_path / "deployment.json", deployment, 31337)
        settings.CHAIN_RPC_URL = self.node.rpc_url
        settings.CHAIN_ID = 31337
        settings.CHAIN_DEPLOYMENT_FILE = self.deployment_file
        settings.EXECUTION_BACKOFF_SECONDS = 0.0  # retries are driven by the test, not by the clock
        self.executor = deployment.executor(self.w3)
        self.events: list[str] = []

    # chain control
    def rpc(self, method: str, *params: Any) -> Any:
        answer = self.w3.provider.make_request(method, list(params))
        assert not answer.get("error"), answer
        return answer.get("result")

    def pass_delay(self) -> None:
        self.rpc("evm_increaseTime", TEST_DELAY_SECONDS + 1)
        self.rpc("evm_mine")

    def stop_anvil(self) -> None:
        """Stop anvil (SIGTERM: it dumps its state to the --state file)."""
        self._last_time = self.w3.eth.get_block("latest")["timestamp"]
        self.node.stop()

    def start_anvil(self) -> None:
        """Start it again on the same port from the dump: the chain is kept, the mempool is lost."""
        self.node.start()
        self.rpc("evm_setTime", self._last_time + 1)  # a real chain's clock does not go back
        self.events.append("anvil restarted")

    def restart_anvil(self) -> None:
        self.stop_anvil()
        self.start_anvil()

    def automine(self, on: bool) -> None:
        self.rpc("evm_setAutomine", on)

    # workers
    def worker(self, execution: Execution, *, crash_at: str | None = None, workers: int = 1,
               rpc_url: str | None = None) -> list[int]:
        env = {ENV_VAR: crash_at} if crash_at else {}
        statuses = self.zygote.run({
            "execution": execution.pk, "workers": workers, "env": env,
            "settings": {"CHAIN_RPC_URL": rpc_url or self.node.rpc_url, "CHAIN_ID": 31337,
                         "CHAIN_DEPLOYMENT_FILE": str(self.deployment_file), "EXECUTION_BACKOFF_SECONDS": 0.0}})
        self.events.append(f"{workers} worker(s) crash_at={crash_at}: {statuses}")
        return statuses

    def advance(self, execution: Execution) -> Execution:
        return engine.advance(execution.pk)

    def finish(self, execution: Execution, rounds: int = 20) -> Execution:
        """The reconciler: advance until terminal, mining blocks / moving time when the chain must move."""
        for _ in range(rounds):
            execution = engine.advance(execution.pk)
            if execution.is_terminal:
                return execution
            live = ChainTransaction.objects.filter(execution=execution, state__in=(TxState.SENT, TxState.MINED))
            if live.exists():
                self.rpc("evm_mine")
            elif execution.state == E.QUEUED and self.executor.functions.state(execution.onchain_id).call() == 1:
                self.pass_delay()
        return execution

    def stop(self) -> None:
        self.node.stop()


# --------------------------------------------------------------------------- scenarios
# Each takes the trial, a fresh Pending execution and the variant; the test then lets the reconciler
# (engine.advance, as the beat sweep would) finish and checks the outcome.


def _queued(t: Trial, execution: Execution) -> Execution:
    """Schedule (mining for confirmations when asked) and move the clock past the ETA."""
    for _ in range(6):
        execution = t.advance(execution)
        if execution.state == E.QUEUED:
            break
        t.rpc("evm_mine")
    assert execution.state == E.QUEUED, (execution.state, execution.last_error)
    t.pass_delay()
    return execution


def s_duplicate_delivery(t: Trial, execution: Execution, variant: str) -> None:
    # the same Celery message processed more than once, at scheduling and at execution
    for _ in range(t.rng.randint(2, 3)):
        tasks.advance_execution.apply(args=[execution.pk])
    execution = _queued(t, execution)
    for _ in range(t.rng.randint(2, 3)):
        tasks.advance_execution.apply(args=[execution.pk])
    assert ChainTransaction.objects.filter(execution=execution).count() == 2


def _threads(fn, count: int) -> list[BaseException]:
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def run() -> None:
        try:
            barrier.wait()
            fn()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def s_threads_race(t: Trial, execution: Execution, variant: str) -> None:
    count = t.rng.randint(2, 5)
    assert not _threads(lambda: engine.advance(execution.pk), count)  # racing to schedule
    assert ChainTransaction.objects.filter(execution=execution, purpose=TxPurpose.SCHEDULE).count() == 1
    execution = _queued(t, execution)
    assert not _threads(lambda: tasks.advance_execution.apply(args=[execution.pk]), count)  # racing to execute
    assert ChainTransaction.objects.filter(execution=execution, purpose=TxPurpose.EXECUTE).count() == 1
    t.events.append(f"{count} threads raced")


def s_process_race(t: Trial, execution: Execution, variant: str) -> None:
    execution = _queued(t, execution)
    statuses = t.worker(execution, workers=t.rng.randint(2, 4))
    assert all(s == 0 for s in statuses), statuses
    assert ChainTransaction.objects.filter(execution=execution, purpose=TxPurpose.EXECUTE).count() == 1


def _executor_nonce(t: Trial) -> int:
    return t.w3.eth.get_transaction_count(Account.from_key(dev_private_key(1)).address, "pending")


def s_kill(t: Trial, execution: Execution, point: str) -> None:
    """A worker SIGKILLed at `point`; then the reconciler (another worker process, or this one) goes on."""
    if point.startswith("execute"):
        execution = _queued(t, execution)
    nonce_before = _executor_nonce(t)
    assert t.worker(execution, crash_at=point) == [-9]
    rows = ChainTransaction.objects.filter(execution=execution, purpose=point.split(":")[0])
    nonce_after = _executor_nonce(t)
    if point.endswith(":signed"):
        # killed before the commit: nothing persisted, nothing sent, the claim rolled back with it
        assert not rows.exists() and nonce_after == nonce_before
        assert Execution.objects.get(pk=execution.pk).state in (E.PENDING, E.QUEUED)
    elif point.endswith(":persisted"):
        # persisted, never broadcast: the node has not seen it; the row is what makes it recoverable
        assert rows.get().state == TxState.SIGNED and nonce_after == nonce_before
    else:
        # broadcast (and mined: automine) but not recorded as such
        assert rows.get().state in (TxState.SIGNED, TxState.SENT) and nonce_after == nonce_before + 1
    if t.rng.random() < 0.5:
        assert t.worker(execution) == [0]


def s_rpc_down(t: Trial, execution: Execution, where: str) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    if where == "execute":
        execution = _queued(t, execution)
    before = t.settings.CHAIN_RPC_URL
    t.settings.CHAIN_RPC_URL = dead
    try:
        execution = engine.advance(execution.pk)
        assert t.worker(execution, rpc_url=dead) == [0]
    finally:
        t.settings.CHAIN_RPC_URL = before
    execution.refresh_from_db()
    assert execution.attempts == 2 and "rpc_unavailable" in execution.last_error, execution.last_error
    assert execution.state == (E.QUEUED if where == "execute" else E.PENDING)
    assert not ChainTransaction.objects.filter(execution=execution, purpose=TxPurpose.EXECUTE).exists()


def s_anvil_restart(t: Trial, execution: Execution, variant: str) -> None:
    execution = _queued(t, execution)
    if variant == "persisted":  # a persisted, unsent transaction survives the restart in the database
        assert t.worker(execution, crash_at="execute:persisted") == [-9]
        t.restart_anvil()
    elif variant == "mempool":  # sent, pending in the node's pool, lost with the restart
        t.automine(False)
        execution = engine.advance(execution.pk)
        assert execution.state == E.EXECUTING
        t.restart_anvil()
        assert t.w3.eth.get_transaction_count(Account.from_key(dev_private_key(1)).address, "pending") == \
            ChainTransaction.objects.get(execution=execution, purpose=TxPurpose.EXECUTE).nonce
    else:  # the node is down while a worker runs
        t.stop_anvil()
        execution = engine.advance(execution.pk)
        assert execution.attempts == 1 and execution.state == E.QUEUED, execution.last_error
        t.start_anvil()


def s_nonce_conflict(t: Trial, execution: Execution, variant: str) -> None:
    """Our execute transaction is persisted; then another transaction takes its nonce."""
    execution = _queued(t, execution)
    assert t.worker(execution, crash_at="execute:persisted") == [-9]
    ours = ChainTransaction.objects.get(execution=execution, purpose=TxPurpose.EXECUTE)
    key = dev_private_key(1)
    fees = {"chainId": 31337, "maxFeePerGas": 10**10, "maxPriorityFeePerGas": 10**9, "nonce": ours.nonce}
    if variant == "transfer":  # someone uses the executor key for something else
        tx = {"to": Account.from_key(key).address, "value": 1, "gas": 21000, **fees}
    else:  # an operator executes by hand with the executor key
        fn = t.executor.functions.execute(execution.onchain_id, execution.action_tuples(), execution.tally_digest)
        tx = fn.build_transaction({"from": Account.from_key(key).address, "gas": 500_000, **fees})
    signed = Account.sign_transaction(tx, key)
    t.w3.eth.wait_for_transaction_receipt(t.w3.eth.send_raw_transaction(signed.raw_transaction))
    assert signed.hash.to_0x_hex() != ours.tx_hash


def s_dropped(t: Trial, execution: Execution, variant: str) -> None:
    execution = _queued(t, execution)
    t.automine(False)
    execution = engine.advance(execution.pk)
    tx = ChainTransaction.objects.get(execution=execution, purpose=TxPurpose.EXECUTE)
    assert tx.state == TxState.SENT
    t.rpc("anvil_dropTransaction", tx.tx_hash)
    engine.advance(execution.pk)  # not mined, not pending, nonce still free: broadcast the same bytes again
    tx.refresh_from_db()
    assert tx.broadcasts == 2 and tx.state == TxState.SENT
    t.rpc("evm_mine")
    t.automine(True)


# --------------------------------------------------------------------------- the trials


def _run_trial(t: Trial, index: int, scenario: str, variant: str) -> None:
    kind = t.rng.choice([ProposalKind.OS_UPGRADE, ProposalKind.PARAMETER_CHANGE])
    confirmations = t.rng.choice([1, 1, 2])
    t.settings.GOVERNANCE = {**t.settings.GOVERNANCE, "EXECUTION_CONFIRMATIONS": confirmations}
    proposal = passed_proposal(kind)
    execution = engine.create_execution(proposal)
    context = f"seed={SEED} trial={index} scenario={scenario}:{variant} kind={kind} confirmations={confirmations}"

    globals()[f"s_{scenario}"](t, execution, variant)
    execution = t.finish(Execution.objects.get(pk=execution.pk))

    rows = ChainTransaction.objects.filter(execution=execution)
    context += (f" events={t.events} last_error={execution.last_error!r} failure={execution.failure_reason!r} "
                f"txs={list(rows.values_list('purpose', 'state', 'broadcasts', 'external', 'error_code'))}")
    assert execution.state == E.EXECUTED, context
    assert executed_events(t.w3, t.deployment.executor_address, execution.onchain_id) == 1, context
    assert executed_events(t.w3, t.deployment.executor_address, execution.onchain_id, "ProposalScheduled") == 1
    assert t.executor.functions.state(execution.onchain_id).call() == engine.ONCHAIN_EXECUTED
    proposal.refresh_from_db()
    assert proposal.status == ProposalStatus.EXECUTED, context
    assert execution.readback == execution.requested, context
    # every transaction is accounted for: one confirmed per purpose, the others provably dead
    for purpose in (TxPurpose.SCHEDULE, TxPurpose.EXECUTE):
        of_purpose = rows.filter(purpose=purpose)
        assert of_purpose.filter(state=TxState.CONFIRMED).count() == 1, context
        assert not of_purpose.filter(state__in=(TxState.SIGNED, TxState.SENT, TxState.MINED)).exists(), context
    for kind_ in (kinds.EXECUTION_SCHEDULED, kinds.EXECUTION_EXECUTED):
        assert ArchiveEntry.objects.filter(kind=kind_, proposal_ref=proposal.ref).count() == 1, context
    assert not ArchiveEntry.objects.filter(kind=kinds.EXECUTION_FAILED, proposal_ref=proposal.ref).exists(), context
    if os.environ.get("EXECUTION_FAULT_VERBOSE"):
        print(context)


@pytest.mark.skipif(connection.vendor != "postgresql",
                    reason="worker processes racing and SIGKILLed on the shared test database, row locks and "
                           "concurrent claims: PostgreSQL (the SQLite test database is in memory, one process)")
@pytest.mark.django_db(transaction=True)
def test_fault_trials_each_execute_exactly_once(subtests, template_state, tmp_path, settings, zygote):
    """The 20 trials, one subtest each (one database flush for all: each trial has its own chain)."""
    for index, (scenario, variant) in enumerate(PLAN):
        with subtests.test(msg=f"trial {index:02d} {scenario}:{variant}"):
            rng = random.Random(SEED * 1000 + index)
            directory = tmp_path / f"trial{index:02d}"
            directory.mkdir()
            t = Trial(template_state[0], template_state[1], directory, settings, zygote, rng)
            try:
                _run_trial(t, index, scenario, variant)
            finally:
                t.stop()
