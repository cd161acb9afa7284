"""Send transactions signed locally with eth-account; one helper used everywhere.

    receipt = send_tx(w3, token.functions.mint(addr, 10**18), owner_key)
    token, receipt = deploy_contract(w3, "GovernanceToken", key, "Gov", "GOV")

Reverts raise TransactionReverted whose message names the decoded custom error
(e.g. "UpgradeExecutor.execute reverted: AlreadyExecuted(0x..)"). Plain Python, no Django.
"""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import ContractLogicError, Web3RPCError
from web3.types import TxReceipt

from chain.artifacts import contract_names, load_artifact
from chain.errors import DecodedError, decode_exception, describe_revert

DEFAULT_TIMEOUT = 120.0


class TransactionReverted(RuntimeError):
    """A transaction (or its gas estimation) reverted.

    Attributes: ``error`` (DecodedError or None), ``reason`` (human-readable revert),
    ``receipt`` (when the transaction was mined with status 0), ``tx_hash``, ``cause``.
    """

    def __init__(
        self,
        what: str,
        reason: str,
        *,
        error: DecodedError | None = None,
        receipt: TxReceipt | None = None,
        tx_hash: str | None = None,
        cause: BaseException | None = None,
    ) -> None:
        super().__init__(f"{what} reverted: {reason}")
        self.what = what
        self.reason = reason
        self.error = error
        self.receipt = receipt
        self.tx_hash = tx_hash
        self.cause = cause

    @property
    def error_name(self) -> str | None:
        """Name of the decoded error, e.g. "AlreadyExecuted" (None if undecoded)."""
        return self.error.name if self.error else None


def as_account(key: str | bytes | LocalAccount) -> LocalAccount:
    """A LocalAccount from a private key (hex str or bytes) or an account."""
    if isinstance(key, LocalAccount):
        return key
    return Account.from_key(key)


def _artifact_name_for_abi(abi: Any) -> str | None:
    """Name of the artifact whose ABI is `abi` (None for a foreign ABI)."""
    if not abi:
        return None
    abi = list(abi)
    for name in contract_names():
        if load_artifact(name)["abi"] == abi:
            return name
    return None


def _abi_of(contract_fn: Any) -> list[dict[str, Any]] | None:
    """Full contract ABI of a bound function (contract_abi) or a constructor (abi)."""
    if isinstance(contract_fn, dict):
        return None
    abi = getattr(contract_fn, "contract_abi", None)
    if abi is None and hasattr(contract_fn, "bytecode"):
        abi = getattr(contract_fn, "abi", None)
    return list(abi) if abi else None


def _describe_call(contract_fn: Any, abi: list[dict[str, Any]] | None) -> str:
    """Label for messages: GovernanceToken.mint, UpgradeExecutor deployment, transaction..."""
    if isinstance(contract_fn, dict):
        return "transaction"
    contract_name = _artifact_name_for_abi(abi) or "contract"
    fn_name = getattr(contract_fn, "fn_name", None)
    if fn_name is None:
        return f"{contract_name} deployment"
    return f"{contract_name}.{fn_name}"


def send_tx(
    w3: Web3,
    contract_fn: Any,
    key: str | bytes | LocalAccount,
    *,
    wait: bool = True,
    timeout: float = DEFAULT_TIMEOUT,
    **tx_fields: Any,
) -> TxReceipt | str:
    """Build, sign locally and send a transaction; wait for its receipt and return it.

    ``contract_fn`` is a bound contract call (``contract.functions.f(args)``), a constructor
    (``w3.eth.contract(abi=..., bytecode=...).constructor(args)``) or a plain dict of
    transaction fields (e.g. ``{"to": addr, "value": 10**18}``). ``tx_fields`` (value, gas,
    nonce, maxFeePerGas, ...) are passed to the transaction. ``from``, ``nonce`` (pending count)
    and ``chainId`` are filled in; gas is estimated unless given.

    Raises TransactionReverted if the estimation or the mined transaction reverts.
    With ``wait=False`` returns the 0x transaction hash instead of the receipt.
    """
    account = as_account(key)
    abi = _abi_of(contract_fn)
    what = _describe_call(contract_fn, abi)
    params: dict[str, Any] = {"from": account.address, "chainId": w3.eth.chain_id}
    if isinstance(contract_fn, dict):
        params.update(contract_fn)
    params.update(tx_fields)
    if params.get("nonce") is None:
        params["nonce"] = w3.eth.get_transaction_count(account.address, "pending")

    explicit_gas = params.pop("gas", None)
    try:
        # gas=0 placeholder: build_transaction must not estimate (it would use "latest", see _estimate_gas)
        tx = params if isinstance(contract_fn, dict) else dict(contract_fn.build_transaction({**params, "gas": 0}))
        tx["gas"] = explicit_gas if explicit_gas is not None else _estimate_gas(w3, tx)
    except ContractLogicError as exc:
        raise TransactionReverted(what, describe_revert(exc, abi), error=decode_exception(exc, abi), cause=exc) from exc
    if "maxFeePerGas" not in tx and "gasPrice" not in tx:
        tx.update(_fee_fields(w3))

    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction).to_0x_hex()
    if not wait:
        return tx_hash
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1:
        raise _reverted_receipt(w3, what, abi, tx, receipt, tx_hash)
    return receipt


def _reverted_receipt(w3: Web3, what: str, abi, tx: dict, receipt: TxReceipt, tx_hash: str) -> TransactionReverted:
    """Explain a mined-but-reverted transaction: out of gas, or replay it with eth_call for the revert data."""
    where = f"tx {tx_hash}, block {receipt['blockNumber']}"
    if receipt["gasUsed"] >= tx.get("gas", 0):
        return TransactionReverted(
            what, f"out of gas (gas limit {tx.get('gas')}; {where})", receipt=receipt, tx_hash=tx_hash
        )
    call = {k: tx[k] for k in ("from", "to", "value", "data") if k in tx}
    try:
        w3.eth.call(call, block_identifier=max(receipt["blockNumber"] - 1, 0))
    except ContractLogicError as exc:
        return TransactionReverted(
            what,
            f"{describe_revert(exc, abi)} ({where})",
            error=decode_exception(exc, abi),
            receipt=receipt,
            tx_hash=tx_hash,
            cause=exc,
        )
    except Exception:  # noqa: BLE001, S110 - best effort: the replay is only for the message
        pass
    return TransactionReverted(what, f"status 0 ({where})", receipt=receipt, tx_hash=tx_hash)


def _estimate_gas(w3: Web3, tx: dict[str, Any]) -> int:
    """Gas estimate against the *pending* block, plus a 20 % margin (capped at the block gas limit).

    Estimating against "latest" under-estimates on anvil whenever the gas depends on the block
    number: e.g. an ERC20Votes transfer right after a delegation in the previous block updates a
    checkpoint in place at "latest" but pushes a new checkpoint (a fresh storage slot) when mined.
    """
    call = {k: tx[k] for k in ("from", "to", "value", "data", "nonce") if tx.get(k) is not None}
    try:
        estimate = w3.eth.estimate_gas(call, block_identifier="pending")
    except Web3RPCError:  # a node without "pending" support (reverts raise ContractLogicError, not this)
        estimate = w3.eth.estimate_gas(call)
    limit = w3.eth.get_block("latest")["gasLimit"]
    return min(estimate + estimate // 5, limit)


def _fee_fields(w3: Web3) -> dict[str, int]:
    """EIP-1559 fee fields (legacy gasPrice if the chain has no base fee)."""
    base_fee = w3.eth.get_block("pending").get("baseFeePerGas")
    if base_fee is None:
        return {"gasPrice": w3.eth.gas_price}
    tip = w3.eth.max_priority_fee
    return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * base_fee + tip}


def contract_at(w3: Web3, name: str, address: str) -> Contract:
    """A web3 contract object for artifact `name` at `address`."""
    contract = w3.eth.contract(address=Web3.to_checksum_address(address), abi=load_artifact(name)["abi"])
    return contract


def deploy_contract(
    w3: Web3,
    name: str,
    key: str | bytes | LocalAccount,
    *args: Any,
    timeout: float = DEFAULT_TIMEOUT,
    **tx_fields: Any,
) -> tuple[Contract, TxReceipt]:
    """Deploy artifact `name` with constructor `args`; returns (contract, receipt)."""
    artifact = load_artifact(name)
    factory = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = send_tx(w3, factory.constructor(*args), key, timeout=timeout, **tx_fields)
    address = receipt["contractAddress"]
    return contract_at(w3, name, address), receipt


def send_eth(w3: Web3, key: str | bytes | LocalAccount, to: str, value: int, **tx_fields: Any) -> TxReceipt:
    """Transfer `value` wei from the key's account to `to`."""
    return send_tx(w3, {"to": Web3.to_checksum_address(to), "value": value}, key, **tx_fields)
