"""Run a local anvil dev chain (from the npm package @foundry-rs/anvil-linux-amd64) and its dev keys.

Plain Python, no Django. Typical use::

    with AnvilProcess() as node:
        w3 = Web3(Web3.HTTPProvider(node.rpc_url))
        key = dev_private_key(0)
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from functools import cache
from pathlib import Path

from eth_account import Account

from chain.artifacts import REPO_ROOT

#: Mnemonic of anvil's (and hardhat's) default funded dev accounts. Public knowledge: never use on a real chain.
DEV_MNEMONIC = "test test test test test test test test test test test junk"
#: Anvil's default chain id.
DEFAULT_CHAIN_ID = 31337
#: Number of funded accounts anvil creates by default.
DEFAULT_ACCOUNTS = 10
#: Where `npm ci` installs the anvil binary.
ANVIL_BINARY = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


class AnvilError(RuntimeError):
    """anvil could not be found, started or stopped."""


class _PortProblem(AnvilError):
    """The port is taken or anvil exited while starting (with an OS-picked port: retry another)."""


def anvil_binary() -> Path:
    """Path of the anvil executable installed by npm; a clear error if it is missing."""
    override = os.environ.get("ANVIL_BIN")
    path = Path(override) if override else ANVIL_BINARY
    if not path.is_file():
        raise AnvilError(
            f"anvil not found at {path}. Run `npm ci` in {REPO_ROOT} to install "
            "@foundry-rs/anvil-linux-amd64 (or set ANVIL_BIN to an anvil executable)."
        )
    if not os.access(path, os.X_OK):
        raise AnvilError(f"{path} is not executable; re-run `npm ci` or `chmod +x {path}`.")
    return path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def rpc_call(url: str, method: str, params: list | None = None, timeout: float = 2.0):
    """One raw JSON-RPC call with urllib (no web3 needed); returns "result" or raises AnvilError."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url!r}")
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 (checked above)
        payload = json.loads(response.read())
    if "error" in payload:
        raise AnvilError(f"{method} failed: {payload['error']}")
    return payload["result"]


class AnvilProcess:
    """An anvil node on 127.0.0.1 (given port, or a free one), started by start() or `with`.

    Arguments mirror anvil's flags: chain_id (--chain-id), block_time (--block-time, seconds;
    None = automine, one block per transaction), accounts (--accounts), mnemonic (--mnemonic),
    gas_limit (--gas-limit), extra_args (appended verbatim). startup_timeout bounds the wait for
    the node to answer eth_chainId.
    """

    def __init__(
        self,
        port: int | None = None,
        *,
        host: str = "127.0.0.1",
        chain_id: int = DEFAULT_CHAIN_ID,
        block_time: float | None = None,
        accounts: int = DEFAULT_ACCOUNTS,
        mnemonic: str = DEV_MNEMONIC,
        gas_limit: int | None = None,
        extra_args: tuple[str, ...] | list[str] = (),
        startup_timeout: float = 15.0,
    ) -> None:
        self.host = host
        self.requested_port = port
        self.port: int | None = port
        self.chain_id = chain_id
        self.block_time = block_time
        self.accounts = accounts
        self.mnemonic = mnemonic
        self.gas_limit = gas_limit
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen | None = None
        self._stderr = None

    # -- properties --------------------------------------------------------------------------

    @property
    def rpc_url(self) -> str:
        """http://127.0.0.1:<port> (only meaningful once started)."""
        if self.port is None:
            raise AnvilError("anvil is not started; call start() first")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def command(self) -> list[str]:
        """The anvil command line for the current port."""
        cmd = [
            str(anvil_binary()),
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--silent",
            "--chain-id",
            str(self.chain_id),
            "--accounts",
            str(self.accounts),
            "--mnemonic",
            self.mnemonic,
        ]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        if self.gas_limit is not None:
            cmd += ["--gas-limit", str(self.gas_limit)]
        return cmd + self.extra_args

    # -- life cycle --------------------------------------------------------------------------

    def start(self) -> AnvilProcess:
        """Start anvil and wait until it answers eth_chainId; returns self."""
        if self.running:
            return self
        # With an OS-picked port there is a tiny race (another process may take it before anvil
        # binds): retry a couple of times with a new port in that case.
        attempts = 1 if self.requested_port is not None else 3
        last_error: AnvilError | None = None
        for _ in range(attempts):
            self.port = self.requested_port or free_port(self.host)
            try:
                self._spawn_and_wait()
                atexit.register(self.stop)
                return self
            except AnvilError as exc:
                last_error = exc
                self._terminate()
                if not isinstance(exc, _PortProblem):
                    break  # a timeout or a wrong chain id is not a port clash: do not retry
        assert last_error is not None
        raise last_error

    def _port_in_use(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.settimeout(0.2)
            return sock.connect_ex((self.host, self.port)) == 0

    def _spawn_and_wait(self) -> None:
        # Otherwise a node already listening there could answer our readiness probe while our own
        # anvil fails to bind and exits.
        if self._port_in_use():
            raise _PortProblem(f"port {self.port} on {self.host} is already in use")
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 (closed in _terminate)
        self._proc = subprocess.Popen(
            self.command(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
        )
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise _PortProblem(f"anvil exited with code {code} while starting: {self._stderr_text()}")
            try:
                answer = int(rpc_call(self.rpc_url, "eth_chainId", timeout=0.5), 16)
            except (OSError, urllib.error.URLError, ValueError, AnvilError):
                answer = None
            if answer is not None:
                if answer != self.chain_id:
                    raise AnvilError(
                        f"something else answers at {self.rpc_url}: chain id {answer}, expected {self.chain_id}"
                    )
                return
            if time.monotonic() > deadline:
                raise AnvilError(
                    f"anvil did not answer eth_chainId at {self.rpc_url} within {self.startup_timeout} s"
                    f"{': ' + self._stderr_text() if self._stderr_text() else ''}"
                )
            time.sleep(0.05)

    def _stderr_text(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(0)
            return self._stderr.read().decode(errors="replace").strip()[-2000:]
        except (OSError, ValueError):
            return ""

    def _terminate(self, timeout: float = 5.0) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        if self._stderr is not None:
            with contextlib.suppress(OSError):
                self._stderr.close()
            self._stderr = None

    def stop(self, timeout: float = 5.0) -> None:
        """Stop anvil: SIGTERM, then SIGKILL if it is still alive after `timeout` seconds. Idempotent."""
        atexit.unregister(self.stop)
        self._terminate(timeout)

    def __enter__(self) -> AnvilProcess:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<AnvilProcess {self.host}:{self.port} chain_id={self.chain_id} {state}>"


# -- dev keys ---------------------------------------------------------------------------------


@cache
def _derive_key(mnemonic: str, index: int) -> str:
    Account.enable_unaudited_hdwallet_features()
    account = Account.from_mnemonic(mnemonic, account_path=f"m/44'/60'/0'/0/{index}")
    return account.key.to_0x_hex()


def dev_private_key(index: int, mnemonic: str = DEV_MNEMONIC) -> str:
    """0x-prefixed private key of anvil's default account `index` (path m/44'/60'/0'/0/index)."""
    if index < 0:
        raise ValueError("account index must be >= 0")
    return _derive_key(mnemonic, index)


def dev_private_keys(count: int = DEFAULT_ACCOUNTS, mnemonic: str = DEV_MNEMONIC) -> list[str]:
    """Private keys of anvil's first `count` default accounts."""
    return [dev_private_key(i, mnemonic) for i in range(count)]


def dev_address(index: int, mnemonic: str = DEV_MNEMONIC) -> str:
    """Checksummed address of anvil's default account `index`."""
    return Account.from_key(dev_private_key(index, mnemonic)).address


def dev_addresses(count: int = DEFAULT_ACCOUNTS, mnemonic: str = DEV_MNEMONIC) -> list[str]:
    """Checksummed addresses of anvil's first `count` default accounts."""
    return [dev_address(i, mnemonic) for i in range(count)]
