"""Typed payloads of the proposal kinds: validation on input, decoding for readers, on-chain actions.

    payload = validate_payload(kind, raw)          # normalized dict, or PayloadError (400, own code)
    rows = describe_payload(kind, payload)         # [(label, value)] for the detail page
    actions = compile_actions(kind, payload)       # [Action(target, value, data, ...)] for the executor

Payload shapes (JSON; no floats: integers as JSON integers or decimal strings, stored as strings):

  os_upgrade        {"program_hash": "0x<64 hex>", "config_hash": "0x<64 hex>", "os_version": "<semver>",
                     "snips": ["SNIP-12", ...]}        (the improvement proposals bundled in this version)
  parameter_change  {"changes": [{"name": "<registry name>", "value": "<decimal>"}, ...]}
                     value in the parameter's unit (proposals.parameters; whole tokens for "tokens")
  treasury_grant    {"recipient": "0x<address>", "amount": "<whole tokens, up to 18 decimals>"}
  process, informational  {}  (no on-chain action)

Executable kinds compile into actions of the UpgradeExecutor (`Action{target, value, data}`),
encoded with web3 against the committed artifacts and decoded back from the calldata for display:
  os_upgrade        StarknetCoreState.upgradeOs(programHash, configHash, osVersion)
  parameter_change  StarknetCoreState.setParameter(bytes32_name(name), value) per change
  treasury_grant    GovernanceToken.transfer(recipient, amount in base units) from the executor (treasury)
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from eth_utils import is_address, to_checksum_address
from web3 import Web3

from chain.artifacts import load_abi
from chain.deploy import CORE_STATE, TOKEN, TOKEN_UNIT, Deployment, bytes32_name
from govapp.errors import DomainError
from proposals.lifecycle import EXECUTABLE_KINDS, ProposalKind
from proposals.parameters import PARAMETERS, format_tokens

HASH_RE = re.compile(r"0x[0-9a-fA-F]{64}")
# semver.org's regular expression (2.0.0).
SEMVER_RE = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")
SNIP_RE = re.compile(r"SNIP-([1-9]\d{0,5})", re.IGNORECASE)
TOKEN_AMOUNT_RE = re.compile(r"(0|[1-9]\d{0,29})(\.\d{1,18})?")
INTEGER_RE = re.compile(r"0|[1-9]\d{0,77}")
MAX_SNIPS = 50
MAX_CHANGES = 20
OS_VERSION_MAX_CHARS = 64
UINT256_MAX = 2**256 - 1


class PayloadError(DomainError):
    code = "invalid_payload"
    status = 400


def _fail(code: str, field: str, message: str) -> PayloadError:
    return PayloadError(message, code=code, details={"field": field})


def _require_object(raw: Any, kind: str) -> dict[str, Any]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise _fail("invalid_payload", "payload", f"The payload of a {kind} proposal must be a JSON object.")
    return raw


def _only_fields(raw: dict[str, Any], allowed: set[str], kind: str) -> None:
    extra = sorted(set(raw) - allowed)
    if extra:
        raise _fail("unexpected_payload_field", extra[0],
                    f"A {kind} payload has no field {', '.join(extra)} (fields: {', '.join(sorted(allowed))}).")


def _hash32(raw: dict[str, Any], field: str, code: str, label: str) -> str:
    value = raw.get(field)
    if not isinstance(value, str) or not HASH_RE.fullmatch(value.strip()):
        raise _fail(code, field, f"The {label} must be 0x followed by 64 hexadecimal digits.")
    value = value.strip().lower()
    if int(value, 16) == 0:
        raise _fail(code, field, f"The {label} cannot be zero.")
    return value


def _integer(value: Any, field: str, code: str) -> int:
    """A non-negative integer given as a JSON integer or a decimal string (never a float or a bool)."""
    if isinstance(value, bool | float):
        raise _fail(code, field, "Give a whole number (as an integer or a decimal string), not a fraction.")
    if isinstance(value, int):
        number = value
    elif isinstance(value, str) and INTEGER_RE.fullmatch(value.strip().replace("_", "")):
        number = int(value.strip().replace("_", ""))
    else:
        raise _fail(code, field, "Give a non-negative whole number.")
    if not 0 <= number <= UINT256_MAX:
        raise _fail(code, field, "The number does not fit a uint256.")
    return number


def parse_tokens(value: Any, field: str, code: str) -> int:
    """Whole tokens (e.g. "50000" or "1.5", up to 18 decimals) → base units."""
    if isinstance(value, bool | float):
        raise _fail(code, field, "Give the token amount as a decimal string such as \"1500.5\", not a float.")
    text = str(value).strip().replace(",", "").replace("_", "") if isinstance(value, int | str) else ""
    if not TOKEN_AMOUNT_RE.fullmatch(text):
        raise _fail(code, field, "Give a token amount such as 50000 or 1.25 (at most 18 decimals).")
    whole, _, fraction = text.partition(".")  # exact integer arithmetic (Decimal would round past 28 digits)
    return int(whole) * TOKEN_UNIT + int(fraction.ljust(18, "0"))


def tokens_text(base_units: int) -> str:
    """The canonical decimal text of a token amount (no thousands separators, no trailing zeros)."""
    return format_tokens(base_units).replace(",", "")


# --------------------------------------------------------------------------- validation per kind


def _os_upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    _only_fields(raw, {"program_hash", "config_hash", "os_version", "snips"}, "OS upgrade")
    program_hash = _hash32(raw, "program_hash", "invalid_program_hash", "program hash")
    config_hash = _hash32(raw, "config_hash", "invalid_config_hash", "config hash")
    version = raw.get("os_version")
    if not isinstance(version, str) or len(version.strip()) > OS_VERSION_MAX_CHARS \
            or not SEMVER_RE.fullmatch(version.strip()):
        raise _fail("invalid_os_version", "os_version",
                    "The OS version must be a semantic version such as 0.14.0 (MAJOR.MINOR.PATCH).")
    snips_raw = raw.get("snips", [])
    if isinstance(snips_raw, str):
        snips_raw = [s for s in re.split(r"[\s,]+", snips_raw) if s]
    if not isinstance(snips_raw, list):
        raise _fail("invalid_snip_reference", "snips", "snips must be a list of references such as SNIP-12.")
    snips: list[str] = []
    for item in snips_raw:
        match = SNIP_RE.fullmatch(item.strip()) if isinstance(item, str) else None
        if not match:
            raise _fail("invalid_snip_reference", "snips", f"{item!r} is not a reference such as SNIP-12.")
        ref = f"SNIP-{int(match.group(1))}"
        if ref in snips:
            raise _fail("duplicate_snip_reference", "snips", f"{ref} is listed twice.")
        snips.append(ref)
    if len(snips) > MAX_SNIPS:
        raise _fail("invalid_snip_reference", "snips", f"At most {MAX_SNIPS} improvement proposals per upgrade.")
    return {"program_hash": program_hash, "config_hash": config_hash, "os_version": version.strip(),
            "snips": snips}


def _parameter_change(raw: dict[str, Any]) -> dict[str, Any]:
    _only_fields(raw, {"changes"}, "parameter change")
    changes = raw.get("changes")
    if not isinstance(changes, list) or not changes:
        raise _fail("invalid_payload", "changes", "List at least one parameter change: {\"name\", \"value\"}.")
    if len(changes) > MAX_CHANGES:
        raise _fail("invalid_payload", "changes", f"At most {MAX_CHANGES} parameter changes per proposal.")
    normalized = []
    seen: set[str] = set()
    for index, change in enumerate(changes):
        field = f"changes[{index}]"
        if not isinstance(change, dict) or set(change) != {"name", "value"}:
            raise _fail("invalid_payload", field, "Each change is an object {\"name\", \"value\"}.")
        name = change["name"].strip() if isinstance(change["name"], str) else change["name"]
        parameter = PARAMETERS.get(name) if isinstance(name, str) else None
        if parameter is None:
            raise _fail("unknown_parameter", f"{field}.name",
                        f"{name!r} is not a governed parameter (known: {', '.join(PARAMETERS)}).")
        if name in seen:
            raise _fail("duplicate_parameter", f"{field}.name", f"{name} is changed twice.")
        seen.add(name)
        if parameter.type == "tokens":
            onchain = parse_tokens(change["value"], f"{field}.value", "invalid_parameter_value")
            text = tokens_text(onchain)
        else:
            onchain = _integer(change["value"], f"{field}.value", "invalid_parameter_value")
            text = str(onchain)
        if not parameter.minimum <= onchain <= parameter.maximum:
            raise _fail("parameter_out_of_bounds", f"{field}.value",
                        f"{name} must be within {parameter.bounds_text()}; got {parameter.display(onchain)}.")
        normalized.append({"name": name, "value": text})
    return {"changes": normalized}


def _treasury_grant(raw: dict[str, Any]) -> dict[str, Any]:
    _only_fields(raw, {"recipient", "amount"}, "treasury grant")
    recipient = raw.get("recipient")
    if not isinstance(recipient, str) or not is_address(recipient.strip()):
        raise _fail("invalid_recipient", "recipient", "The recipient must be an address (0x + 40 hex digits).")
    recipient = to_checksum_address(recipient.strip())
    if int(recipient, 16) == 0:
        raise _fail("invalid_recipient", "recipient", "The recipient cannot be the zero address.")
    amount = parse_tokens(raw.get("amount"), "amount", "invalid_amount")
    if amount <= 0:
        raise _fail("invalid_amount", "amount", "The amount must be more than zero.")
    return {"recipient": recipient, "amount": tokens_text(amount)}


def _no_action(raw: dict[str, Any]) -> dict[str, Any]:
    if raw:
        raise _fail("unexpected_payload", "payload",
                    "Process and informational proposals have no on-chain action: the payload must be empty.")
    return {}


_VALIDATORS = {
    ProposalKind.OS_UPGRADE: _os_upgrade,
    ProposalKind.PARAMETER_CHANGE: _parameter_change,
    ProposalKind.TREASURY_GRANT: _treasury_grant,
    ProposalKind.PROCESS: _no_action,
    ProposalKind.INFORMATIONAL: _no_action,
}


def validate_payload(kind: str, raw: Any) -> dict[str, Any]:
    """The normalized payload of `kind`, or PayloadError naming the field and the problem."""
    if kind not in _VALIDATORS:
        raise _fail("invalid_kind", "kind", f"Choose a proposal type: {', '.join(ProposalKind.values)}.")
    return _VALIDATORS[kind](_require_object(raw, ProposalKind(kind).label))


# --------------------------------------------------------------------------- display


def describe_payload(kind: str, payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, value) rows of a payload, decoded for readers."""
    if kind == ProposalKind.OS_UPGRADE:
        return [("New program hash", payload["program_hash"]), ("Config hash", payload["config_hash"]),
                ("OS version", payload["os_version"]),
                ("Bundled improvement proposals", ", ".join(payload["snips"]) or "none")]
    if kind == ProposalKind.PARAMETER_CHANGE:
        rows = []
        for change in payload["changes"]:
            parameter = PARAMETERS[change["name"]]
            onchain = _onchain_parameter_value(change)
            rows.append((f"{change['name']} ({parameter.description})",
                         f"→ {parameter.display(onchain)} (allowed {parameter.bounds_text()})"))
        return rows
    if kind == ProposalKind.TREASURY_GRANT:
        amount = parse_tokens(payload["amount"], "amount", "invalid_amount")
        return [("Recipient", payload["recipient"]), ("Amount", f"{format_tokens(amount)} tokens "
                                                               f"({amount} base units)")]
    return []


def _onchain_parameter_value(change: dict[str, Any]) -> int:
    parameter = PARAMETERS[change["name"]]
    if parameter.type == "tokens":
        return parse_tokens(change["value"], "value", "invalid_parameter_value")
    return int(change["value"])


# --------------------------------------------------------------------------- on-chain actions


@dataclass(frozen=True)
class Action:
    """One call of the UpgradeExecutor: Action{target, value, data}, plus its decoded form."""

    target: str  # checksummed
    value: int  # wei sent with the call
    data: str  # 0x calldata
    contract: str  # artifact name of the target
    function: str  # e.g. "upgradeOs(bytes32,bytes32,string)"
    arguments: tuple[tuple[str, str], ...]  # decoded back from `data`: (name, value as text)

    def as_tuple(self) -> tuple[str, int, bytes]:
        """(target, value, data bytes): what UpgradeExecutor.schedule/execute take."""
        return self.target, self.value, bytes.fromhex(self.data[2:])

    def as_dict(self) -> dict[str, Any]:
        return {"target": self.target, "value": str(self.value), "data": self.data, "contract": self.contract,
                "function": self.function, "arguments": {name: value for name, value in self.arguments}}


def _contract(name: str, address: str) -> Any:
    return Web3().eth.contract(address=to_checksum_address(address), abi=load_abi(name))


def _argument_text(value: Any) -> str:
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
        text = raw.rstrip(b"\0")
        if text and all(32 <= b < 127 for b in text):
            return f"0x{raw.hex()} (\"{text.decode()}\")"
        return "0x" + raw.hex()
    return str(value)


def _action(name: str, address: str, function: str, args: list[Any]) -> Action:
    contract = _contract(name, address)
    data = contract.encode_abi(function, args=args)
    decoded_fn, decoded_args = contract.decode_function_input(data)
    return Action(target=contract.address, value=0, data=data, contract=name,
                  function=decoded_fn.signature if hasattr(decoded_fn, "signature") else function,
                  arguments=tuple((k, _argument_text(v)) for k, v in decoded_args.items()))


def compile_actions(kind: str, payload: dict[str, Any], deployment: Deployment) -> list[Action]:
    """The executor actions of an executable payload ([] for process / informational proposals)."""
    if kind not in EXECUTABLE_KINDS:
        return []
    if kind == ProposalKind.OS_UPGRADE:
        return [_action(CORE_STATE, deployment.address(CORE_STATE), "upgradeOs", [
            bytes.fromhex(payload["program_hash"][2:]), bytes.fromhex(payload["config_hash"][2:]),
            payload["os_version"]])]
    if kind == ProposalKind.PARAMETER_CHANGE:
        return [_action(CORE_STATE, deployment.address(CORE_STATE), "setParameter",
                        [bytes32_name(change["name"]), _onchain_parameter_value(change)])
                for change in payload["changes"]]
    amount = parse_tokens(payload["amount"], "amount", "invalid_amount")
    return [_action(TOKEN, deployment.address(TOKEN), "transfer", [payload["recipient"], amount])]
