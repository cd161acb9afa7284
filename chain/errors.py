"""Decode revert data (custom Solidity errors, Error(string), Panic(uint256)) against the artifacts' ABIs.

web3 raises ContractCustomError with only the raw data ("0x<selector><args>") for custom errors;
``describe_revert(exc)`` turns that into e.g. ``AlreadyExecuted(0x12ab...)``. Plain Python, no Django.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi.exceptions import DecodingError
from eth_abi.grammar import ABIType, TupleType
from eth_abi.grammar import parse as parse_abi_type
from eth_utils import collapse_if_tuple, function_signature_to_4byte_selector, to_checksum_address
from hexbytes import HexBytes

from chain.artifacts import contract_names, load_artifact

ERROR_STRING_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)
PANIC_SELECTOR = bytes.fromhex("4e487b71")  # Panic(uint256)

#: Solidity panic codes (https://docs.soliditylang.org/en/latest/control-structures.html#panic-via-assert-and-error-via-require)
PANIC_CODES = {
    0x00: "generic compiler panic",
    0x01: "assert failed",
    0x11: "arithmetic overflow or underflow",
    0x12: "division or modulo by zero",
    0x21: "invalid enum value",
    0x22: "invalid storage byte array encoding",
    0x31: "pop on empty array",
    0x32: "array index out of bounds",
    0x41: "out of memory",
    0x51: "call to uninitialised internal function",
}


@dataclass(frozen=True)
class ErrorAbi:
    """One error definition: name, canonical signature, input types and names."""

    name: str
    signature: str
    types: tuple[str, ...]
    arg_names: tuple[str, ...]
    selector: bytes


@dataclass(frozen=True)
class DecodedError:
    """A decoded revert: ``str()`` gives ``Name(arg, ...)``."""

    name: str
    signature: str
    args: tuple[Any, ...]
    arg_names: tuple[str, ...] = ()

    @property
    def kwargs(self) -> dict[str, Any]:
        """Arguments by ABI name (positional index as key where the ABI gives no name)."""
        return {(n or str(i)): v for i, (n, v) in enumerate(zip(self.arg_names, self.args, strict=False))}

    def __str__(self) -> str:
        return f"{self.name}({', '.join(_format_value(a) for a in self.args)})"


def _format_value(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        return "0x" + bytes(value).hex()
    if isinstance(value, str):
        if len(value) == 42 and value.startswith("0x"):
            try:
                return to_checksum_address(value)
            except ValueError:
                pass
        return repr(value)
    if isinstance(value, tuple):
        return "(" + ", ".join(_format_value(v) for v in value) + ")"
    if isinstance(value, list):
        return "[" + ", ".join(_format_value(v) for v in value) + "]"
    return str(value)


def error_abi_from_entry(entry: dict[str, Any]) -> ErrorAbi:
    types = tuple(collapse_if_tuple(dict(i)) for i in entry.get("inputs", []))
    signature = f"{entry['name']}({','.join(types)})"
    return ErrorAbi(
        name=entry["name"],
        signature=signature,
        types=types,
        arg_names=tuple(i.get("name", "") for i in entry.get("inputs", [])),
        selector=function_signature_to_4byte_selector(signature),
    )


@lru_cache(maxsize=1)
def known_errors() -> dict[bytes, ErrorAbi]:
    """Every custom error declared in any artifact's ABI, by 4-byte selector."""
    registry: dict[bytes, ErrorAbi] = {}
    for name in contract_names():
        for entry in load_artifact(name)["abi"]:
            if entry.get("type") == "error":
                err = error_abi_from_entry(entry)
                registry.setdefault(err.selector, err)
    return registry


def _checksum_addresses(type_str: str | ABIType, value: Any) -> Any:
    """eth_abi decodes addresses in lower case; checksum them (also inside arrays and tuples)."""
    abi_type = parse_abi_type(type_str) if isinstance(type_str, str) else type_str
    if abi_type.is_array:
        return type(value)(_checksum_addresses(abi_type.item_type, v) for v in value)
    if isinstance(abi_type, TupleType):
        return tuple(_checksum_addresses(c, v) for c, v in zip(abi_type.components, value, strict=True))
    if getattr(abi_type, "base", None) == "address":
        return to_checksum_address(value)
    return value


def _to_bytes(data: str | bytes | bytearray | None) -> bytes | None:
    if data is None:
        return None
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    if isinstance(data, str):
        text = data.strip()
        if text.startswith("Reverted "):  # some nodes prefix the data
            text = text[len("Reverted ") :]
        try:
            return bytes(HexBytes(text))
        except ValueError:
            return None
    return None


def decode_revert(data: str | bytes | None, abi: list[dict[str, Any]] | None = None) -> DecodedError | None:
    """Decode revert data; None if it is empty or matches no known error.

    Looks up the selector among Error(string), Panic(uint256), the errors of `abi` (if given)
    and the errors of every artifact.
    """
    raw = _to_bytes(data)
    if not raw or len(raw) < 4:
        return None
    selector, payload = raw[:4], raw[4:]
    try:
        if selector == ERROR_STRING_SELECTOR:
            (message,) = abi_decode(["string"], payload)
            return DecodedError("Error", "Error(string)", (message,), ("message",))
        if selector == PANIC_SELECTOR:
            (code,) = abi_decode(["uint256"], payload)
            return DecodedError("Panic", "Panic(uint256)", (code,), ("code",))
        candidates: dict[bytes, ErrorAbi] = {}
        if abi:
            for entry in abi:
                if entry.get("type") == "error":
                    err = error_abi_from_entry(entry)
                    candidates[err.selector] = err
        err = candidates.get(selector) or known_errors().get(selector)
        if err is None:
            return None
        args = abi_decode(list(err.types), payload)
        args = tuple(_checksum_addresses(t, v) for t, v in zip(err.types, args, strict=True))
        return DecodedError(err.name, err.signature, args, err.arg_names)
    except (DecodingError, ValueError, TypeError):
        return None


def revert_data(exc: BaseException) -> str | None:
    """The 0x-hex revert data carried by a web3 ContractLogicError (or subclass), if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, dict):  # some nodes nest it: {"data": "0x..."} / {"originalError": {...}}
        inner = data.get("data") or (data.get("originalError") or {}).get("data")
        data = inner if isinstance(inner, str) else None
    if isinstance(data, bytes | bytearray):
        return "0x" + bytes(data).hex()
    if isinstance(data, str):
        return data
    return None


def decode_exception(exc: BaseException, abi: list[dict[str, Any]] | None = None) -> DecodedError | None:
    """Decode the revert carried by a web3 exception (None if there is none or it is unknown)."""
    return decode_revert(revert_data(exc), abi)


def describe_revert(exc_or_data: BaseException | str | bytes | None, abi: list[dict[str, Any]] | None = None) -> str:
    """Human-readable revert: "AlreadyExecuted(0x..)", "Error('msg')", "Panic(17: arithmetic ...)",
    else the raw data / exception message."""
    if isinstance(exc_or_data, BaseException):
        data = revert_data(exc_or_data)
        fallback = str(exc_or_data) or type(exc_or_data).__name__
    else:
        data = exc_or_data if isinstance(exc_or_data, str) else _to_bytes(exc_or_data)
        fallback = ("0x" + data.hex()) if isinstance(data, bytes) else (data or "execution reverted")
    decoded = decode_revert(data, abi)
    if decoded is None:
        return fallback
    if decoded.name == "Panic":
        code = decoded.args[0]
        return f"Panic({code:#x}: {PANIC_CODES.get(code, 'unknown panic code')})"
    return str(decoded)
