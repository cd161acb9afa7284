"""Server-rendered SVG charts (hand-written SVG: no JavaScript, no chart library).

`power_chart(history, head_block)` draws voting power over blocks as a step line: ERC20Votes
checkpoints hold their value until the next checkpoint. Long histories are reduced to one column per
pixel (keeping each column's low, high and last value), so the SVG stays small whatever the history.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from html import escape

from django.utils.safestring import SafeString, mark_safe

from delegation.formatting import format_tokens

WIDTH = 720
HEIGHT = 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 84, 16, 14, 30


def _nice_ceiling(value: int) -> int:
    """A round number >= value (1, 2, 2.5, 5 x 10^n) for the top of the y axis."""
    if value <= 0:
        return 1
    magnitude = 10 ** (len(str(value)) - 1)
    for step in (1, 2, 2.5, 5, 10):
        candidate = int(Decimal(step) * magnitude)
        if candidate >= value:
            return candidate
    return 10 * magnitude


def power_chart(history: Sequence[tuple[int, int]], head_block: int | None = None, *,
                title: str = "Voting power over time") -> SafeString:
    """SVG of votes against block number; `history` is [(block, votes)] in block order."""
    points = [(int(b), int(v)) for b, v in history]
    label = escape(title)
    if not points:
        return mark_safe(  # noqa: S308 - only our own constant text and escaped labels
            f'<svg class="power-chart" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} 60" '
            f'xmlns="http://www.w3.org/2000/svg"><title>{label}</title>'
            f'<text x="{WIDTH // 2}" y="34" text-anchor="middle" class="chart-empty">No voting power yet</text></svg>')
    first_block = points[0][0]
    last_block = max(points[-1][0], head_block or 0)
    if last_block == first_block:
        last_block = first_block + 1
    top = _nice_ceiling(max(v for _, v in points))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM

    def x_of(block: int) -> float:
        return PAD_LEFT + (block - first_block) * plot_w / (last_block - first_block)

    def y_of(votes: int) -> float:
        return PAD_TOP + plot_h - votes * plot_h / top

    # One column per pixel: (low, high, last) of the values that start in it.
    columns: dict[int, list[int]] = {}
    for block, votes in points:
        col = int(x_of(block))
        if col in columns:
            low, high, _ = columns[col]
            columns[col] = [min(low, votes), max(high, votes), votes]
        else:
            columns[col] = [votes, votes, votes]
    path = []
    previous_y: float | None = None
    for col in sorted(columns):
        low, high, last = columns[col]
        x = f"{col:.1f}" if col > PAD_LEFT else f"{PAD_LEFT:.1f}"
        if previous_y is None:
            path.append(f"M{x},{y_of(last if low == high else low):.1f}")
        else:
            path.append(f"H{x}")
        if low != high:
            path.append(f"V{y_of(low):.1f}V{y_of(high):.1f}")
        path.append(f"V{y_of(last):.1f}")
        previous_y = y_of(last)
    path.append(f"H{PAD_LEFT + plot_w:.1f}")
    line = "".join(path)
    area = f"{line}V{PAD_TOP + plot_h:.1f}H{PAD_LEFT:.1f}Z"

    grid = []
    for i in range(5):
        value = top * i // 4
        y = y_of(value)
        grid.append(f'<line x1="{PAD_LEFT}" x2="{PAD_LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" class="chart-grid"/>'
                    f'<text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" class="chart-label">'
                    f'{escape(format_tokens(value, places=0))}</text>')
    ticks = []
    for i in range(5):
        block = first_block + (last_block - first_block) * i // 4
        x = x_of(block)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        ticks.append(f'<text x="{x:.1f}" y="{HEIGHT - 10}" text-anchor="{anchor}" class="chart-label">'
                     f'block {block}</text>')
    svg = (
        f'<svg class="power-chart" role="img" aria-label="{label}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">'
        f"<title>{label}</title>"
        + "".join(grid)
        + f'<path d="{area}" class="chart-area"/>'
        f'<path d="{line}" class="chart-line" fill="none"/>'
        + "".join(ticks)
        + "</svg>"
    )
    return mark_safe(svg)  # noqa: S308 - numbers and escaped text only
