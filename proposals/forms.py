"""The submit / edit form: plain fields turned into the service's (title, body, kind, payload, link).

The form checks nothing but shapes: the rules (limits, payload types, bounds) are the services',
and a refusal is shown on the form with its error code (see proposals.views).
"""

from __future__ import annotations

from typing import Any

from django import forms

from proposals.lifecycle import ProposalKind
from proposals.models import Proposal
from proposals.parameters import PARAMETERS


class ProposalForm(forms.Form):
    kind = forms.ChoiceField(label="Type", choices=ProposalKind.choices)
    title = forms.CharField(required=False, strip=False)
    body = forms.CharField(label="Body (Markdown)", required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 16}))
    discussion_url = forms.CharField(label="Discussion link", required=False,
                                     widget=forms.URLInput(attrs={"placeholder": "https://forum.example/t/..."}))
    # OS upgrade
    program_hash = forms.CharField(label="New program hash", required=False,
                                   widget=forms.TextInput(attrs={"placeholder": "0x + 64 hex digits"}))
    config_hash = forms.CharField(label="Config hash", required=False,
                                  widget=forms.TextInput(attrs={"placeholder": "0x + 64 hex digits"}))
    os_version = forms.CharField(label="OS version", required=False,
                                 widget=forms.TextInput(attrs={"placeholder": "0.14.0"}))
    snips = forms.CharField(label="Bundled improvement proposals", required=False,
                            widget=forms.TextInput(attrs={"placeholder": "SNIP-12, SNIP-15"}))
    # Parameter change
    changes = forms.CharField(label="Parameter changes (one per line: name = value)", required=False,
                              widget=forms.Textarea(attrs={"rows": 4, "placeholder": "fee.min_gas_price = 1000000"}))
    # Treasury grant
    recipient = forms.CharField(label="Recipient address", required=False)
    amount = forms.CharField(label="Amount (tokens)", required=False)
    # Edit only
    note = forms.CharField(label="What changed (optional)", required=False)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if not editing:
            del self.fields["note"]

    @staticmethod
    def initial_for(proposal: Proposal) -> dict[str, Any]:
        payload = proposal.payload or {}
        initial: dict[str, Any] = {"kind": proposal.kind, "title": proposal.title, "body": proposal.body,
                                   "discussion_url": proposal.discussion_url}
        if proposal.kind == ProposalKind.OS_UPGRADE:
            initial.update(program_hash=payload.get("program_hash", ""), config_hash=payload.get("config_hash", ""),
                           os_version=payload.get("os_version", ""), snips=", ".join(payload.get("snips", [])))
        elif proposal.kind == ProposalKind.PARAMETER_CHANGE:
            initial["changes"] = "\n".join(f"{c['name']} = {c['value']}" for c in payload.get("changes", []))
        elif proposal.kind == ProposalKind.TREASURY_GRANT:
            initial.update(recipient=payload.get("recipient", ""), amount=payload.get("amount", ""))
        return initial

    def payload(self) -> dict[str, Any] | list[Any] | str:
        """The raw payload of the chosen kind (validated by the service)."""
        data = self.cleaned_data
        kind = data["kind"]
        if kind == ProposalKind.OS_UPGRADE:
            return {"program_hash": data["program_hash"], "config_hash": data["config_hash"],
                    "os_version": data["os_version"], "snips": data["snips"]}
        if kind == ProposalKind.PARAMETER_CHANGE:
            changes: list[Any] = []
            for line in data["changes"].splitlines():
                if not line.strip():
                    continue
                name, sep, value = line.partition("=")
                changes.append({"name": name.strip(), "value": value.strip()} if sep else line.strip())
            return {"changes": changes}
        if kind == ProposalKind.TREASURY_GRANT:
            return {"recipient": data["recipient"], "amount": data["amount"]}
        return {}

    def service_fields(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {"title": data["title"], "body": data["body"], "kind": data["kind"], "payload": self.payload(),
                "discussion_url": data["discussion_url"]}


def parameter_choices() -> list[tuple[str, str]]:
    return [(p.name, f"{p.name} — {p.description} ({p.bounds_text()})") for p in PARAMETERS.values()]
