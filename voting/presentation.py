"""What the vote templates show: the panel's data, the results (SVG geometry) and the votes list."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.urls import reverse

from chain.deploy import TOKEN_UNIT
from voting import selectors
from voting.models import Support

VOTES_ON_PAGE = 50
#: SVG geometry of the result bars (viewBox units).
BAR_LABEL_WIDTH = 90
BAR_WIDTH = 300
BAR_HEIGHT = 18
BAR_GAP = 10


def format_tokens(base_units: Any) -> str:
    try:
        value = int(str(base_units))
    except (TypeError, ValueError):
        return ""
    sign, value = ("−", -value) if value < 0 else ("", value)
    whole, fraction = divmod(value, TOKEN_UNIT)
    text = f"{whole:,}"
    if fraction:
        text += "." + f"{fraction:018d}".rstrip("0")[:4]
    return sign + text


def format_bps(bps: Any) -> str:
    try:
        value = int(bps)
    except (TypeError, ValueError):
        return ""
    return f"{value // 100}.{value % 100:02d} %"


def _svg_bars(results: selectors.Results) -> list[dict[str, Any]]:
    rows = []
    for i, bar in enumerate(results.bars):
        y = i * (BAR_HEIGHT + BAR_GAP)
        width = BAR_WIDTH * bar.share_bps // 10_000
        rows.append({"key": bar.key, "label": bar.label, "power": bar.power, "share_bps": bar.share_bps,
                     "y": y, "text_y": y + BAR_HEIGHT - 4, "width": width, "x": BAR_LABEL_WIDTH,
                     "end_x": BAR_LABEL_WIDTH + BAR_WIDTH + 6})
    return rows


def _quorum_svg(results: selectors.Results) -> dict[str, Any]:
    progress = min(results.quorum_progress_bps, 10_000)
    return {"width": BAR_WIDTH * progress // 10_000, "marker_x": BAR_LABEL_WIDTH + BAR_WIDTH * min(
        results.quorum_bps, 10_000) // 10_000, "x": BAR_LABEL_WIDTH, "end_x": BAR_LABEL_WIDTH + BAR_WIDTH + 6}


def results_context(proposal: Any) -> dict[str, Any]:
    results = selectors.results(proposal)
    votes = list(selectors.votes_of(proposal)[:VOTES_ON_PAGE]) if results.tally is not None else []
    names = selectors.display_names([v.voter for v in votes])
    rows = [{"vote": v, "name": names.get(v.voter, ""), "weight": v.weight} for v in votes]
    height = 3 * (BAR_HEIGHT + BAR_GAP)
    return {
        "proposal": proposal,
        "results": results,
        "bars": _svg_bars(results),
        "bars_height": height,
        "bars_width": BAR_LABEL_WIDTH + BAR_WIDTH + 150,
        "quorum_svg": _quorum_svg(results),
        "vote_rows": rows,
        "more_votes": results.voters > len(rows),
        "bar_height": BAR_HEIGHT,
        "quorum_counts_label": " + ".join(c.capitalize() for c in results.quorum_counts),
        "csv_url": reverse("voting-api:csv", args=[proposal.number]),
        "votes_api_url": reverse("voting-api:list", args=[proposal.number]),
    }


def section_context(proposal: Any, request: Any = None) -> dict[str, Any]:
    user = getattr(request, "user", None)
    address = getattr(user, "address", "") if user is not None and user.is_authenticated else ""
    context = results_context(proposal)
    context.update({
        "address": address,
        "supports": [(Support.FOR, "For"), (Support.AGAINST, "Against"), (Support.ABSTAIN, "Abstain")],
        "reason_max": settings.GOVERNANCE["VOTE_REASON_MAX_CHARS"],
        "template_url": reverse("voting-api:template", args=[proposal.number]),
        "submit_url": reverse("voting-api:cast-for-proposal", args=[proposal.number]),
        "power_url": reverse("voting-api:power", args=[proposal.number]),
        "results_url": reverse("voting:results-fragment", args=[proposal.number]),
    })
    return context
