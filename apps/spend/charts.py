"""Server-rendered SVG charts for the Billing pages: a line over time, and bars stacked by a dimension.

No script and no third-party asset: the page is complete as the server sends it, and each chart has a
table under it with the same numbers.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT, PAD = 720, 220, 36
PALETTE = ("#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#6b7280")


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[int]  # one per bucket


def _scale(values: Sequence[int]) -> int:
    return max([*values, 1])


def _x(index: int, count: int) -> float:
    return PAD + (WIDTH - 2 * PAD) * (index / max(count - 1, 1) if count > 1 else 0.5)


def _y(value: int, top: int) -> float:
    return HEIGHT - PAD - (HEIGHT - 2 * PAD) * value / top


def _axis(labels: Sequence[str], top_label: str) -> SafeString:
    count = len(labels)
    step = max(1, count // 8)
    ticks = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle" class="tick">{}</text>',
        ((f"{_x(i, count):.1f}", HEIGHT - PAD + 16, label) for i, label in enumerate(labels) if i % step == 0),
    )
    return format_html(
        '<line x1="{}" y1="{}" x2="{}" y2="{}" class="axis"/><text x="{}" y="{}" class="tick">{}</text>{}',
        PAD,
        HEIGHT - PAD,
        WIDTH - PAD,
        HEIGHT - PAD,
        4,
        PAD - 8,
        top_label,
        ticks,
    )


def line_chart(*, labels: Sequence[str], values: Sequence[int], title: str, top_label: str) -> SafeString:
    """One line of `values` (one per label), scaled to the largest."""
    top = _scale(values)
    points = " ".join(f"{_x(i, len(values)):.1f},{_y(value, top):.1f}" for i, value in enumerate(values))
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" class="chart">{}'
        '<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/></svg>',
        WIDTH,
        HEIGHT,
        title,
        _axis(labels, top_label),
        points,
        PALETTE[0],
    )


def stacked_bars(*, labels: Sequence[str], series: Sequence[Series], title: str, top_label: str) -> SafeString:
    """A bar per label, stacked from `series` (each with one value per label), with a legend."""
    count = len(labels)
    totals = [sum(serie.values[i] for serie in series) for i in range(count)]
    top = _scale(totals)
    width = max(2.0, (WIDTH - 2 * PAD) / max(count, 1) * 0.7)
    rects = []  # plain f-strings of numbers; only the series' names are escaped (once each)
    titles = [escape(serie.name) for serie in series]
    for i in range(count):
        base = 0
        x = _x(i, count) - width / 2
        for number, serie in enumerate(series):
            value = serie.values[i]
            if value:
                y_top, y_base = _y(base + value, top), _y(base, top)
                rects.append(
                    f'<rect x="{x:.1f}" y="{y_top:.1f}" width="{width:.1f}" height="{y_base - y_top:.1f}" '
                    f'fill="{PALETTE[number % len(PALETTE)]}"><title>{titles[number]}: {value}</title></rect>'
                )
                base += value
    bars = mark_safe("".join(rects))  # noqa: S308 - numbers and escaped names only
    legend = format_html_join(
        "",
        '<rect x="{}" y="6" width="10" height="10" fill="{}"/><text x="{}" y="15" class="tick">{}</text>',
        (
            (PAD + 120 * n, PALETTE[n % len(PALETTE)], PAD + 120 * n + 14, serie.name[:16])
            for n, serie in enumerate(series)
        ),
    )
    return format_html(
        '<svg viewBox="0 0 {} {}" role="img" aria-label="{}" class="chart">{}{}{}</svg>',
        WIDTH,
        HEIGHT,
        title,
        _axis(labels, top_label),
        bars,
        legend,
    )
