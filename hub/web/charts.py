"""Server-rendered SVG charts (no JavaScript, no CDN): hourly bars and a lag line."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 280, 120, 44, 22, 10


def _scale(peak: float) -> float:
    """A round axis maximum at or above ``peak`` (1, 2, 5 x 10^n)."""
    if peak <= 0:
        return 1.0
    step = 1.0
    while step * 10 <= peak:
        step *= 10
    for factor in (1, 2, 5, 10):
        if factor * step >= peak:
            return factor * step
    return 10 * step


def _frame(title: str, kind: str, flow: str, top: float, label: str, body: str) -> str:
    plot_h = HEIGHT - PAD_BOTTOM - PAD_TOP
    return (
        f'<svg class="chart chart-{kind}" data-flow="{escape(flow)}" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" y2="{PAD_TOP + plot_h}" '
        'stroke="#888"/>'
        f'<line x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{WIDTH - 4}" '
        f'y2="{PAD_TOP + plot_h}" stroke="#888"/>'
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + 8}" text-anchor="end" font-size="10">'
        f"{escape(label)}</text>"
        f'<text x="{PAD_LEFT - 4}" y="{PAD_TOP + plot_h}" text-anchor="end" font-size="10">0</text>'
        f'<text x="{PAD_LEFT}" y="{HEIGHT - 6}" font-size="10">-24 h</text>'
        f'<text x="{WIDTH - 4}" y="{HEIGHT - 6}" text-anchor="end" font-size="10">now</text>'
        f"{body}</svg>"
    )


def volume_chart(flow: str, done: Sequence[int], failed: Sequence[int]) -> str:
    """Stacked hourly bars: items done (green) and failed or dead-lettered (red)."""
    totals = [d + f for d, f in zip(done, failed, strict=True)]
    top = _scale(max(totals, default=0))
    plot_w, plot_h = WIDTH - PAD_LEFT - 4, HEIGHT - PAD_BOTTOM - PAD_TOP
    slot = plot_w / max(1, len(totals))
    bars = []
    for i, (d, f) in enumerate(zip(done, failed, strict=True)):
        x = PAD_LEFT + i * slot + 1
        base: float = PAD_TOP + plot_h
        for value, colour, kind in ((d, "#2e8b57", "done"), (f, "#c0392b", "failed")):
            if value <= 0:
                continue
            h = plot_h * value / top
            base -= h
            bars.append(
                f'<rect class="bar bar-{kind}" x="{x:.1f}" y="{base:.1f}" width="{slot - 2:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{value} {kind}</title></rect>'
            )
    title = f"{flow}: items per hour, last 24 h (total {sum(totals)})"
    return _frame(title, "volume", flow, top, f"{top:g}", "".join(bars))


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.0f} h"
    if seconds >= 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:.0f} s"


def lag_chart(flow: str, lag_seconds: Sequence[float]) -> str:
    """Lag (age of the oldest unfinished item) at the end of each hour, as a line."""
    top = _scale(max(lag_seconds, default=0.0))
    plot_w, plot_h = WIDTH - PAD_LEFT - 4, HEIGHT - PAD_BOTTOM - PAD_TOP
    n = max(1, len(lag_seconds) - 1)
    points = " ".join(
        f"{PAD_LEFT + plot_w * i / n:.1f},{PAD_TOP + plot_h - plot_h * v / top:.1f}"
        for i, v in enumerate(lag_seconds)
    )
    body = (
        f'<polyline class="lag-line" points="{points}" fill="none" '
        'stroke="#2c6fbb" stroke-width="2"/>'
    )
    title = f"{flow}: lag, last 24 h (now {_duration(lag_seconds[-1] if lag_seconds else 0)})"
    return _frame(title, "lag", flow, top, _duration(top), body)
