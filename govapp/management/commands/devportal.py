"""`make run`: the whole portal on this machine — anvil, contracts, demo data, worker, web server.

Starts anvil on CHAIN_RPC_URL's port (a fresh chain each time), deploys the contracts, writes the
deployment file, seeds demo holders, delegations and proposals, then runs a Celery worker with beat
and the web server until Ctrl-C or SIGTERM, and stops every child cleanly.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from urllib.parse import urlparse

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from web3 import Web3

from chain.anvil import AnvilProcess, dev_address, dev_private_key, rpc_call
from chain.deploy import deploy_all, seed_demo_state, write_deployment_file

GUARDIAN_INDICES = (7, 8, 9)
HOLDER_INDICES = range(3, 10)


class Command(BaseCommand):
    help = "Run the portal locally on a fresh dev chain with demo data (what `make run` calls)."

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-worker", action="store_true", help="Do not start the Celery worker/beat.")

    def handle(self, *args, host: str, port: int, no_worker: bool, **options):
        if settings.CHAIN_ID != 31337:
            raise CommandError("devportal runs a local anvil chain (CHAIN_ID 31337); point a real "
                               "deployment at the network with gunicorn and workers instead.")
        rpc = urlparse(settings.CHAIN_RPC_URL)
        if rpc.hostname not in ("127.0.0.1", "localhost"):
            raise CommandError(f"CHAIN_RPC_URL {settings.CHAIN_RPC_URL} is not local; devportal starts its own anvil.")
        try:
            rpc_call(settings.CHAIN_RPC_URL, "eth_chainId", timeout=0.5)
        except OSError:
            pass
        else:
            raise CommandError(f"Something already answers on {settings.CHAIN_RPC_URL}; stop it first.")

        children: list[subprocess.Popen] = []
        anvil = AnvilProcess(port=rpc.port or 8545, chain_id=settings.CHAIN_ID)
        stopping = False

        def stop(signum, frame):  # noqa: ARG001 - signal handler signature
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        try:
            self._fresh_embedded_database()
            self.stdout.write("[1/5] database: applying migrations")
            call_command("migrate", interactive=False, verbosity=0)
            self.stdout.write(f"[2/5] chain: starting anvil at {settings.CHAIN_RPC_URL}")
            anvil.start()
            w3 = Web3(Web3.HTTPProvider(anvil.rpc_url))
            self.stdout.write("[3/5] chain: deploying contracts and seeding demo holders")
            self._deploy_and_seed(w3)
            if not no_worker:
                self.stdout.write("[4/5] celery: starting a worker with beat (queues default, indexing, execution)")
                children.append(subprocess.Popen(
                    [sys.executable, "-m", "celery", "-A", "govapp", "worker", "-B", "--loglevel", "WARNING",
                     "-Q", "default,indexing,execution", "--concurrency", "1",
                     "--schedule", str(settings.VAR_DIR / "celerybeat-schedule")],
                    cwd=settings.BASE_DIR))
            self.stdout.write(f"[5/5] web: serving http://{host}:{port}/ (Ctrl-C stops everything)")
            children.append(subprocess.Popen(
                [sys.executable, "manage.py", "runserver", f"{host}:{port}", "--noreload"], cwd=settings.BASE_DIR))
            while not stopping:
                if any(child.poll() is not None for child in children):
                    raise CommandError("a child process stopped unexpectedly")
                time.sleep(0.2)
        finally:
            for child in reversed(children):
                if child.poll() is None:
                    child.terminate()
            for child in reversed(children):
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
            anvil.stop()
            self.stdout.write("stopped")

    def _fresh_embedded_database(self) -> None:
        """The dev chain starts empty each time, so the embedded demo database must too: everything
        indexed or recorded against the previous chain would be wrong. A configured DATABASE_URL is
        never touched."""
        db = settings.DATABASES["default"]
        if db["ENGINE"].endswith("sqlite3") and str(db["NAME"]).startswith(str(settings.VAR_DIR)):
            for suffix in ("", "-wal", "-shm", "-journal"):
                path = f"{db['NAME']}{suffix}"
                if os.path.exists(path):
                    os.remove(path)
            self.stdout.write(f"      fresh demo database {db['NAME']}")

    def _deploy_and_seed(self, w3: Web3) -> None:
        from proposals.demo import seed_demo_proposals

        deployer_key = settings.DEPLOYER_PRIVATE_KEY
        executor_address = Web3.to_checksum_address(
            w3.eth.account.from_key(settings.EXECUTOR_PRIVATE_KEY).address)
        deployment = deploy_all(
            w3, deployer_key, executor_key_address=executor_address,
            guardian_addresses=[dev_address(i) for i in GUARDIAN_INDICES],
        )
        write_deployment_file(settings.CHAIN_DEPLOYMENT_FILE, deployment, settings.CHAIN_ID)
        holder_keys = [dev_private_key(i) for i in HOLDER_INDICES]
        demo = seed_demo_state(w3, deployment, deployer_key, holder_keys)
        # Index the demo chain first: the demo proposals read endorsing power from the index.
        from chain.indexer import follow_once

        indexed = follow_once(respect_backoff=False)
        self.stdout.write(f"      indexed: {indexed.get('status')} up to block {indexed.get('head', '?')}")
        seed_demo_proposals(list(demo.balances))
        self.stdout.write(f"      token {deployment.token_address}, executor {deployment.executor_address}, "
                          f"{len(demo.balances)} holders, deployment file {settings.CHAIN_DEPLOYMENT_FILE}")
