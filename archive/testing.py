"""pytest support for projects whose tests flush the database while the archive has rows.

The archive's PostgreSQL triggers refuse TRUNCATE of a non-empty archive table, and Django's
flush after a transactional test (``@pytest.mark.django_db(transaction=True)``) truncates every
table. Register this module as a plugin (root conftest: ``pytest_plugins = [..., "archive.testing"]``)
or import the fixture into a conftest: after each transactional test the truncate triggers are
disabled for the flush, and they are enabled again before every database test.

It also holds the archive tests' helpers: EIP-712 typed data under the portal's domain, signing
with eth-account, a Builder that records realistic entries through record(), and export I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth_account import Account

from archive import kinds
from archive.verify import Report, VerificationFailed, verify_lines

_TRIGGERS = (("archive_archiveentry", "archive_archiveentry_no_truncate"),
             ("archive_document", "archive_document_no_truncate"))


def _set_truncate_triggers(enabled: bool) -> None:
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    action = "ENABLE" if enabled else "DISABLE"
    with connection.cursor() as cursor:
        for table, trigger in _TRIGGERS:
            cursor.execute(f"ALTER TABLE {table} {action} TRIGGER {trigger}")


@pytest.fixture(autouse=True)
def archive_flushable(request: pytest.FixtureRequest):
    marker = request.node.get_closest_marker("django_db")
    names = set(request.fixturenames)
    uses_db = marker is not None or bool(names & {"db", "transactional_db", "live_server"})
    if not uses_db:
        yield
        return
    transactional = bool(names & {"transactional_db", "live_server"}) or bool(
        marker and (marker.kwargs.get("transaction") or (marker.args and marker.args[0])))
    # Set up after the database fixture, so that this teardown runs before its flush.
    request.getfixturevalue("_django_db_helper" if marker is not None else
                            ("transactional_db" if transactional else "db"))
    _set_truncate_triggers(True)
    yield
    if transactional:
        _set_truncate_triggers(False)


# --------------------------------------------------------------------------- test helpers
#: Deterministic test keys (never use outside tests).
TEST_KEYS = [f"0x{i:064x}" for i in range(0xA11CE, 0xA11CE + 6)]
SUPPORT_CODE = {"against": 0, "for": 1, "abstain": 2}
VERIFYING_CONTRACT = "0x5FbDB2315678afecb367f032d93F642f64180aa3"


def typed_data(primary: str, fields: list[tuple[str, str]], message: dict[str, Any]) -> dict[str, Any]:
    """Full EIP-712 JSON under the portal's domain (name, version, chainId, verifyingContract)."""
    return {
        "types": {
            "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                             {"name": "chainId", "type": "uint256"},
                             {"name": "verifyingContract", "type": "address"}],
            primary: [{"name": n, "type": t} for n, t in fields],
        },
        "primaryType": primary,
        "domain": {"name": "govapp", "version": "1", "chainId": 31337, "verifyingContract": VERIFYING_CONTRACT},
        "message": message,
    }


def sign(account, data: dict[str, Any]) -> dict[str, Any]:
    """The signed artifact {typed_data, signature, signer}, signed with eth-account."""
    signature = Account.sign_typed_data(account.key, full_message=data).signature.to_0x_hex()
    return {"typed_data": data, "signature": signature, "signer": account.address}


@dataclass
class Builder:
    """Records realistic entries through archive.services.record()."""

    accounts: list
    timestamp: int = 1_750_000_000
    recorded: list = field(default_factory=list)

    def _keep(self, entry):
        self.recorded.append(entry)
        return entry

    def vote(self, account, ref: str, support: str, weight: int | str, *, replaced: bool = False):
        from archive.services import record

        self.timestamp += 1
        data = typed_data("Vote", [("proposalId", "uint256"), ("voter", "address"), ("support", "uint8"),
                                   ("reason", "string"), ("timestamp", "uint64")],
                          {"proposalId": int(ref), "voter": account.address, "support": SUPPORT_CODE[support],
                           "reason": f"I vote {support} ✓", "timestamp": self.timestamp})
        kind = kinds.VOTE_REPLACED if replaced else kinds.VOTE_CAST
        return self._keep(record(kind, {"proposal": ref, "voter": account.address, "support": support,
                                        "weight": str(weight)}, signed=sign(account, data)))

    def endorsement(self, account, ref: str):
        from archive.services import record

        self.timestamp += 1
        data = typed_data("Endorsement", [("proposalId", "uint256"), ("revisionHash", "bytes32"),
                                          ("endorser", "address"), ("timestamp", "uint64")],
                          {"proposalId": int(ref), "revisionHash": "0x" + "ab" * 32, "endorser": account.address,
                           "timestamp": self.timestamp})
        return self._keep(record(kinds.ENDORSEMENT, {"proposal": ref, "endorser": account.address},
                                 signed=sign(account, data)))

    def review(self, account, ref: str, approve: bool = True):
        from archive.services import record

        self.timestamp += 1
        data = typed_data("TechnicalReview", [("proposalId", "uint256"), ("revisionHash", "bytes32"),
                                              ("reviewer", "address"), ("approve", "bool"),
                                              ("comment", "string"), ("timestamp", "uint64")],
                          {"proposalId": int(ref), "revisionHash": "0x" + "cd" * 32, "reviewer": account.address,
                           "approve": approve, "comment": "Looks sound.", "timestamp": self.timestamp})
        return self._keep(record(kinds.TECHNICAL_REVIEW, {"proposal": ref, "reviewer": account.address,
                                                          "verdict": "approve" if approve else "reject"},
                                 signed=sign(account, data)))

    def veto(self, account, ref: str):
        from archive.services import record

        self.timestamp += 1
        data = typed_data("Veto", [("proposalId", "uint256"), ("member", "address"), ("reason", "string"),
                                   ("timestamp", "uint64")],
                          {"proposalId": int(ref), "member": account.address, "reason": "unsafe",
                           "timestamp": self.timestamp})
        return self._keep(record(kinds.VETO_SIGNATURE, {"proposal": ref, "member": account.address},
                                 signed=sign(account, data)))

    def statement(self, account, text: str = "I care about security."):
        from archive.services import record

        self.timestamp += 1
        data = typed_data("DelegateStatement", [("delegate", "address"), ("statement", "string"),
                                                ("timestamp", "uint64")],
                          {"delegate": account.address, "statement": text, "timestamp": self.timestamp})
        return self._keep(record(kinds.DELEGATE_STATEMENT, {"delegate": account.address, "statement": text},
                                 signed=sign(account, data)))

    def created(self, ref: str, title: str = "Raise the block gas limit"):
        from archive.services import record

        return self._keep(record(kinds.PROPOSAL_CREATED, {"proposal": ref, "title": title,
                                                          "author": self.accounts[0].address,
                                                          "body_sha256": "11" * 32}))

    def status(self, ref: str, old: str, new: str):
        from archive.services import record

        return self._keep(record(kinds.PROPOSAL_STATUS_CHANGED, {"proposal": ref, "from": old, "to": new}))

    def tally(self, ref: str, **extra):
        from archive.services import record_final_tally

        return self._keep(record_final_tally(ref, extra or None))

    def execution(self, ref: str, what: str = "executed"):
        from archive.services import record

        kind = {"scheduled": kinds.EXECUTION_SCHEDULED, "executed": kinds.EXECUTION_EXECUTED,
                "failed": kinds.EXECUTION_FAILED, "cancelled": kinds.EXECUTION_CANCELLED}[what]
        return self._keep(record(kind, {"proposal": ref, "tx_hash": "0x" + "12" * 32, "eta": 1_750_003_600}))

    def council(self, account, change: str = "added"):
        from archive.services import record

        return self._keep(record(kinds.COUNCIL_MEMBERSHIP_CHANGED, {"member": account.address, "change": change}))

    def story(self, ref: str = "7"):
        """A whole proposal life: created, endorsed, reviewed, voting (with a replaced vote), tally, ..."""
        a = self.accounts
        self.created(ref)
        self.status(ref, "draft", "endorsement")
        self.endorsement(a[1], ref)
        self.review(a[2], ref)
        self.status(ref, "technical_review", "voting")
        self.vote(a[1], ref, "for", 10**21)
        self.vote(a[2], ref, "against", 5 * 10**20)
        self.vote(a[3], ref, "abstain", 7)
        self.vote(a[2], ref, "for", 5 * 10**20, replaced=True)
        self.tally(ref, outcome="passed")
        self.status(ref, "voting", "queued")
        self.veto(a[4], ref)
        self.execution(ref, "scheduled")
        self.execution(ref, "executed")
        self.council(a[5])
        self.statement(a[3])
        return self.recorded


def export_bytes() -> bytes:
    from archive.services import export_lines

    return "".join(export_lines(chunk_size=7, lines_per_chunk=5)).encode("utf-8")


def verify_bytes(data: bytes, **kwargs) -> Report:
    return verify_lines(data.splitlines(), **kwargs)


def failure_of(data: bytes, **kwargs) -> VerificationFailed | None:
    try:
        verify_bytes(data, **kwargs)
    except VerificationFailed as exc:
        return exc
    return None


def rewrite_export(data: bytes, sequence: int, mutate) -> bytes:
    """An attacker's rewrite: mutate the body of `sequence`, re-hash it and re-link every later entry."""
    import hashlib

    from archive.verify import GENESIS_HASH, dumps_body, export_line, trailer_line

    out, prev, count, last = [], GENESIS_HASH, 0, 0
    for line in data.splitlines():
        doc = json.loads(line)
        if "archive_head" in doc:
            continue
        body, digest = doc["entry"], doc["hash"]
        if body["sequence"] >= sequence:
            body["prev_hash"] = prev
            if body["sequence"] == sequence:
                mutate(body)
            text = dumps_body(body)
            digest = hashlib.sha256(text.encode()).hexdigest()
            out.append(export_line(text, digest))
        else:
            out.append(line.decode())
        prev, count, last = digest, count + 1, body["sequence"]
    out.append(trailer_line(last, prev, count))
    return ("\n".join(out) + "\n").encode()
