"""Context of the execution panel (execution/_panel.html), shared by the template tag and the views."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from execution import conf, selectors
from execution.models import Execution
from proposals.models import Proposal


def panel_context(proposal: Proposal, request: Any = None) -> dict[str, Any]:
    execution = Execution.objects.filter(proposal=proposal).first()
    status = selectors.execution_status(proposal)
    user = getattr(request, "user", None)
    address = getattr(user, "address", "") if user is not None and user.is_authenticated else ""
    members = conf.council()
    veto = status["veto"]
    is_member = bool(address) and address in members
    already = any(s["member"] == address for s in veto["signatures"])
    return {
        "proposal": proposal,
        "execution": execution,
        "status": status,
        "veto": veto,
        "comparison": selectors.comparison_rows(execution) if execution and execution.readback is not None else [],
        "transactions": status["transactions"],
        "address": address,
        "council_member": is_member,
        "already_vetoed": already,
        "can_veto": is_member and veto["open"] and not already,
        "template_url": reverse("execution-api:veto-template", args=[proposal.number]),
        "veto_url": reverse("execution-api:veto", args=[proposal.number]),
        "panel_url": reverse("execution:panel", args=[proposal.number]),
        "status_url": reverse("execution-api:status", args=[proposal.number]),
        "reason_max": 5000,
        "required_confirmations": conf.confirmations(),
    }
