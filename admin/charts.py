"""Charts drawn on the server as SVG: no JavaScript, no chart library, nothing from elsewhere.

Only numbers and escaped text go into the markup, and no inline styles (the dashboard's CSP allows
none); colours come from the stylesheet through class names.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from markupsafe import Markup, escape

WIDTH, HEIGHT, PAD_LEFT, PAD_BOTTOM, PAD_TOP = 640, 180, 56, 22, 10


def _label(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1_000:.0f}k"
    return f"{value:g}"


def line_chart(
    title: str, times: Sequence[datetime], series: Mapping[str, Sequence[float]]
) -> Markup:
    """One SVG with a line per series (class ``series-<n>``) over shared time stamps."""
    plot_w, plot_h = WIDTH - PAD_LEFT - 8, HEIGHT - PAD_BOTTOM - PAD_TOP
    top = max((max(values, default=0) for values in series.values()), default=0) or 1
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP + plot_h}" x2="{PAD_LEFT + plot_w}" '
        f'y2="{PAD_TOP + plot_h}"/>',
        f'<line class="axis" x1="{PAD_LEFT}" y1="{PAD_TOP}" x2="{PAD_LEFT}" '
        f'y2="{PAD_TOP + plot_h}"/>',
        f'<text class="tick" x="{PAD_LEFT - 6}" y="{PAD_TOP + 8}" text-anchor="end">'
        f"{escape(_label(top))}</text>",
        f'<text class="tick" x="{PAD_LEFT - 6}" y="{PAD_TOP + plot_h}" text-anchor="end">0</text>',
    ]
    if len(times) < 2:
        parts.append(
            f'<text class="empty" x="{PAD_LEFT + plot_w / 2:.0f}" y="{PAD_TOP + plot_h / 2:.0f}" '
            'text-anchor="middle">collecting samples…</text>'
        )
    else:
        start, end = times[0].timestamp(), times[-1].timestamp()
        span = (end - start) or 1.0
        for number, (name, values) in enumerate(series.items()):
            points = " ".join(
                f"{PAD_LEFT + plot_w * (at.timestamp() - start) / span:.1f},"
                f"{PAD_TOP + plot_h * (1 - value / top):.1f}"
                for at, value in zip(times, values, strict=True)
            )
            parts.append(
                f'<polyline class="line series-{number}" points="{points}">'
                f"<title>{escape(name)}</title></polyline>"
            )
        for x, at, anchor in ((PAD_LEFT, times[0], "start"), (PAD_LEFT + plot_w, times[-1], "end")):
            parts.append(
                f'<text class="tick" x="{x}" y="{HEIGHT - 4}" text-anchor="{anchor}">'
                f"{escape(at.strftime('%H:%M:%S'))}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))
