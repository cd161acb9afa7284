"""`make run` on the embedded defaults: the portal serves demo data, then stops cleanly."""

import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

from chain.anvil import free_port

ROOT = Path(__file__).resolve().parents[2]


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_make_run_serves_the_portal_with_demo_data_and_stops_cleanly(tmp_path):
    web_port, chain_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL", "CHAIN_DEPLOYMENT_FILE"}}
    env.update({"GOVAPP_VAR_DIR": str(tmp_path), "PORT": str(web_port),
                "CHAIN_RPC_URL": f"http://127.0.0.1:{chain_port}"})
    log = (tmp_path / "make-run.log").open("w")
    proc = subprocess.Popen(["make", "run"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        page = None
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/", timeout=2) as response:
                    assert response.status == 200
                    page = response.read().decode()
                    break
            except OSError:
                assert proc.poll() is None, (tmp_path / "make-run.log").read_text()
                time.sleep(0.5)
        assert page is not None, (tmp_path / "make-run.log").read_text()
        assert "govapp" in page
        assert "Upgrade the network OS to v0.14.0" in page
        assert "Lower the minimum gas price by 10 %" in page
        with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/healthz", timeout=5) as response:
            assert b'"ok": true' in response.read()
        assert (tmp_path / "deployment.json").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (_port_open(web_port) or _port_open(chain_port)):
        time.sleep(0.2)
    assert not _port_open(web_port), "the web server still runs"
    assert not _port_open(chain_port), "anvil still runs"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and "stopped" not in (tmp_path / "make-run.log").read_text():
        time.sleep(0.2)
    assert "stopped" in (tmp_path / "make-run.log").read_text()
