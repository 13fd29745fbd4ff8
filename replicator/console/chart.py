"""A small chart of the last hour as inline SVG, drawn on the server (no script needed).

``hour_chart(minutes, now)`` draws changes per minute as bars and the lag as a line over
them, each against its own scale, with the largest value of each written beside it and
a ``<title>`` for screen readers. Every text in the SVG is escaped.
"""

from __future__ import annotations

from html import escape

from .samples import WINDOW_MINUTES, Minute

WIDTH, HEIGHT, PAD = 600, 120, 4


def x_of(start: float, now: float) -> float:
    """The left edge of the minute that starts at ``start``: now is at the right edge."""
    age_min = (now - start) / 60
    return PAD + (WIDTH - 2 * PAD) * (1 - age_min / WINDOW_MINUTES)


def bars(minutes: list[Minute], now: float, step: float) -> list[str]:
    top = max((m.changes for m in minutes), default=0)
    if top == 0:
        return []
    out = []
    for m in minutes:
        h = (HEIGHT - 2 * PAD) * m.changes / top
        x = max(PAD, x_of(m.start, now) - step)
        out.append(
            f'<rect class="changes" x="{x:.1f}" y="{HEIGHT - PAD - h:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{h:.1f}"></rect>'
        )
    return out


def lag_line(minutes: list[Minute], now: float, step: float) -> str:
    points = [(x_of(m.start, now) - step / 2, m.lag_s) for m in minutes if m.lag_s is not None]
    top = max((lag for _, lag in points), default=0.0)
    if not points:
        return ""
    scale = (HEIGHT - 2 * PAD) / top if top > 0 else 0.0
    path = " ".join(f"{max(x, PAD):.1f},{HEIGHT - PAD - lag * scale:.1f}" for x, lag in points)
    return f'<polyline class="lag" fill="none" points="{path}"></polyline>'


def hour_chart(minutes: list[Minute], now: float, label: str) -> str:
    """The SVG of ``minutes`` (the last hour before ``now``), titled ``label``."""
    step = (WIDTH - 2 * PAD) / WINDOW_MINUTES
    most = max((m.changes for m in minutes), default=0)
    lags = [m.lag_s for m in minutes if m.lag_s is not None]
    summary = (
        f"{label}: at most {most} changes a minute, lag at most "
        f"{max(lags) if lags else 0:.1f} s, over the last hour"
    )
    return "".join(
        [
            f'<svg class="chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" '
            f'width="{WIDTH}" height="{HEIGHT}" xmlns="http://www.w3.org/2000/svg">',
            f"<title>{escape(summary)}</title>",
            f'<rect class="frame" x="0" y="0" width="{WIDTH}" height="{HEIGHT}"></rect>',
            *bars(minutes, now, step),
            lag_line(minutes, now, step),
            f'<text x="{PAD + 2}" y="14">{most} a minute</text>',
            f'<text x="{WIDTH - PAD - 2}" y="14" text-anchor="end">lag '
            f"{max(lags) if lags else 0:.1f} s</text>",
            f'<text x="{PAD + 2}" y="{HEIGHT - PAD - 2}">an hour ago</text>',
            f'<text x="{WIDTH - PAD - 2}" y="{HEIGHT - PAD - 2}" text-anchor="end">now</text>',
            "</svg>",
        ]
    )
