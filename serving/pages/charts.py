"""Charts drawn on the server as inline SVG: no script, no plotting library, no network.

The waterfall reads an explanation (``base_value + sum(shap_value) = raw_score``) from the
left: the average licensee's raw score, each feature's push up or down in the catalogue's
plain words, the rest summed, and the licensee's own raw score. The axis is labelled in
score (the calibrated probability), which is what a reader compares.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from serving.schemas import CalibrationPublic, ContributionPublic, ExplanationBase

#: Features drawn one by one; the rest are summed into one bar.
CHART_FEATURES = 8
RAISES_COLOUR = "#b42318"  # 6.6:1 on white
LOWERS_COLOUR = "#175cd3"  # 6.0:1 on white
INK = "#1f2328"
MUTED = "#57606a"  # 6.4:1 on white
GRID = "#d0d7de"

_WIDTH = 1100
_LABEL_X = 8
_LABEL_CHARS = 74
_BARS_LEFT = 620
_BARS_RIGHT = 975
_VALUE_RIGHT = 1092
_LINE = 17
_TOP = 46
_PROBABILITY_TICKS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6,
                      0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


@dataclass(frozen=True)
class _Row:
    kind: str  # "start", "feature", "rest", "end"
    lines: tuple[str, ...]
    note: str
    start: float
    end: float
    feature: str | None = None
    title: str = ""


def chart_contributions(
    contributions: Sequence[ContributionPublic], top_reasons: int = 3
) -> list[ContributionPublic]:
    """The features the chart draws: the largest by size, and always the top reasons.

    The top reasons of the list are the largest *positive* contributions; a licensee with
    large negative ones could push them out of a plain size ranking, and a reader must
    find the list's reasons on the chart.
    """
    by_size = sorted(contributions, key=lambda row: (-abs(row.shap_value), row.feature))
    chosen = {row.feature for row in by_size[:CHART_FEATURES]}
    positive = sorted((row for row in contributions if row.shap_value > 0),
                      key=lambda row: (-row.shap_value, row.feature))
    chosen.update(row.feature for row in positive[:top_reasons])
    return [row for row in by_size if row.feature in chosen]


def probability(raw_score: float, calibration: CalibrationPublic) -> float:
    """The score a raw score calibrates to (the formula every explanation states)."""
    return 1.0 / (1.0 + math.exp(-(calibration.slope * raw_score + calibration.intercept)))


def _raw_of(score: float, calibration: CalibrationPublic) -> float:
    return (math.log(score / (1.0 - score)) - calibration.intercept) / calibration.slope


def _format_score(value: float) -> str:
    """A score as the list prints it (three decimals)."""
    return f"{value:.3f}"


def _tick_label(value: float) -> str:
    return f"{value:.3f}" if value < 0.01 or value > 0.99 else f"{value:.2f}"


def ordinal(number: float) -> str:
    """``97`` -> ``97th``, ``3`` -> ``3rd``, ``11`` -> ``11th`` (rounded to a whole number)."""
    whole = round(number)
    suffix = "th" if 10 <= whole % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(
        whole % 10, "th")
    return f"{whole}{suffix}"


def _peer_note(row: ContributionPublic, license_type: str | None) -> str:
    if row.peer_percentile is None:
        return row.feature
    peers = f"type {license_type} licensees" if license_type else "licensees of its type"
    return f"{row.feature} · {ordinal(row.peer_percentile)} percentile among {peers}"


def _rows(explanation: ExplanationBase, license_type: str | None) -> list[_Row]:
    shown = chart_contributions(explanation.contributions)
    base = explanation.base_value
    calibration = explanation.calibration
    rows = [_Row("start", ("Average licensee (where every score starts)",),
                 f"score {_format_score(probability(base, calibration))}", base, base,
                 title="The model's average raw score, before any feature of this licensee.")]
    level = base
    for row in shown:
        lines = tuple(textwrap.wrap(row.description, _LABEL_CHARS)) or (row.feature,)
        direction = "raises" if row.shap_value > 0 else "lowers"
        rows.append(_Row("feature", lines, _peer_note(row, license_type), level,
                         level + row.shap_value, feature=row.feature,
                         title=f"{row.description} This {direction} the score "
                               f"({row.shap_value:+.3f} in log-odds)."))
        level += row.shap_value
    rest_count = len(explanation.contributions) - len(shown)
    end = base + explanation.contributions_total
    if rest_count:
        rest = end - level
        rows.append(_Row("rest", (f"All {rest_count} other features together",),
                         "smaller pushes, summed", level, end,
                         title=f"The other {rest_count} features add {rest:+.3f} in log-odds."))
    rows.append(_Row("end", ("This licensee",),
                     f"score {_format_score(probability(end, calibration))}", end, end,
                     title="The licensee's raw score: the start plus every push."))
    return rows


def _ticks(low: float, high: float, calibration: CalibrationPublic) -> list[tuple[float, str]]:
    ticks = [(_raw_of(p, calibration), _tick_label(p)) for p in _PROBABILITY_TICKS]
    inside = [(x, label) for x, label in ticks if low <= x <= high]
    while len(inside) > 7:
        inside = inside[::2]
    if len(inside) < 2:
        inside = [(x, _tick_label(probability(x, calibration)))
                  for x in (low + (high - low) * f for f in (0.1, 0.5, 0.9))]
    return inside


def waterfall_svg(explanation: ExplanationBase, *, license_type: str | None,
                  chart_id: str = "waterfall", caption: str = "") -> Markup:
    """The explanation as an accessible inline SVG waterfall (see the module docstring)."""
    rows = _rows(explanation, license_type)
    levels = [value for row in rows for value in (row.start, row.end)]
    low, high = min(levels), max(levels)
    pad = max(high - low, 0.5) * 0.08
    low, high = low - pad, high + pad

    def x(value: float) -> float:
        return _BARS_LEFT + (value - low) / (high - low) * (_BARS_RIGHT - _BARS_LEFT)

    heights = [max(2, len(row.lines) + 1) * _LINE + 14 for row in rows]
    height = _TOP + sum(heights) + 46
    parts: list[str] = []
    add = parts.append
    ticks = _ticks(low, high, explanation.calibration)
    axis_y = height - 40
    for tick, label in ticks:
        add(f'<line x1="{x(tick):.1f}" y1="{_TOP - 6}" x2="{x(tick):.1f}" y2="{axis_y}" '
            f'stroke="{GRID}" stroke-width="1"/>')
        add(f'<text x="{x(tick):.1f}" y="{axis_y + 16}" text-anchor="middle" '
            f'font-size="13" fill="{MUTED}">{escape(label)}</text>')
    add(f'<line x1="{_BARS_LEFT}" y1="{axis_y}" x2="{_BARS_RIGHT}" y2="{axis_y}" '
        f'stroke="{MUTED}" stroke-width="1"/>')
    add(f'<text x="{(_BARS_LEFT + _BARS_RIGHT) / 2:.0f}" y="{axis_y + 34}" '
        f'text-anchor="middle" font-size="13" fill="{INK}">score (the chance an inspection '
        'ends serious)</text>')
    # Legend: colour is never the only cue (the signed numbers say the same).
    add(f'<rect x="{_BARS_LEFT}" y="8" width="14" height="14" fill="{RAISES_COLOUR}"/>'
        f'<text x="{_BARS_LEFT + 20}" y="20" font-size="13" fill="{INK}">raises the score'
        '</text>')
    add(f'<rect x="{_BARS_LEFT + 150}" y="8" width="14" height="14" fill="{LOWERS_COLOUR}"/>'
        f'<text x="{_BARS_LEFT + 170}" y="20" font-size="13" fill="{INK}">lowers it</text>')
    add(f'<text x="{_VALUE_RIGHT}" y="20" text-anchor="end" font-size="13" fill="{MUTED}">'
        'log-odds</text>')

    y = _TOP
    previous_end: float | None = None
    for row, row_height in zip(rows, heights, strict=True):
        feature = f' data-feature="{escape(row.feature)}"' if row.feature else ""
        add(f'<g class="waterfall-row waterfall-{row.kind}"{feature}>')
        add(f"<title>{escape(row.title)}</title>")
        weight = ' font-weight="600"' if row.kind in ("start", "end") else ""
        add(f'<text x="{_LABEL_X}" y="{y + _LINE + 2}" font-size="14" fill="{INK}"{weight}>')
        for index, line in enumerate(row.lines):
            dy = "0" if index == 0 else str(_LINE)
            add(f'<tspan x="{_LABEL_X}" dy="{dy}">{escape(line)}</tspan>')
        add("</text>")
        add(f'<text x="{_LABEL_X}" y="{y + _LINE * (len(row.lines) + 1) + 1}" font-size="12" '
            f'fill="{MUTED}">{escape(row.note)}</text>')
        middle = y + row_height / 2
        if previous_end is not None:
            add(f'<line x1="{x(previous_end):.1f}" y1="{y - 4}" x2="{x(previous_end):.1f}" '
                f'y2="{middle - 8}" stroke="{MUTED}" stroke-width="1" '
                'stroke-dasharray="3 3"/>')
        if row.kind in ("start", "end"):
            add(f'<line x1="{x(row.end):.1f}" y1="{middle - 11}" x2="{x(row.end):.1f}" '
                f'y2="{middle + 11}" stroke="{INK}" stroke-width="3"/>')
            add(f'<text x="{_VALUE_RIGHT}" y="{middle + 5}" text-anchor="end" font-size="14" '
                f'font-weight="600" fill="{INK}">{row.end:.2f}</text>')
        else:
            delta = row.end - row.start
            colour = RAISES_COLOUR if delta > 0 else LOWERS_COLOUR
            left, right = sorted((x(row.start), x(row.end)))
            add(f'<rect x="{left:.1f}" y="{middle - 8}" width="{max(right - left, 1.5):.1f}" '
                f'height="16" fill="{colour}"/>')
            sign = f"{delta:+.2f}".replace("-", "\u2212")
            add(f'<text x="{_VALUE_RIGHT}" y="{middle + 5}" text-anchor="end" font-size="14" '
                f'fill="{colour}">{sign}</text>')
        add("</g>")
        previous_end = row.end
        y += row_height

    start, end = rows[0].end, rows[-1].end
    first = rows[1] if len(rows) > 2 else None
    summary = (f"Starting from the average licensee's score of "
               f"{_format_score(probability(start, explanation.calibration))}, ")
    if first is not None and first.feature:
        summary += f"the largest push comes from {first.feature} ({first.end - first.start:+.2f}); "
    summary += (f"the licensee ends at a score of "
                f"{_format_score(probability(end, explanation.calibration))}.")
    title = caption or "Why this licensee scores as it does"
    return Markup(
        f'<svg class="waterfall" id="{escape(chart_id)}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'viewBox="0 0 {_WIDTH} {height}" width="100%" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(summary)}</desc>'
        + "".join(parts) + "</svg>"
    )


def history_svg(points: Sequence[tuple[str, float]]) -> Markup | None:
    """A small line of the score over stored lists (oldest first); None below two points."""
    if len(points) < 2:
        return None
    width, height, pad = 420, 90, 24
    scores = [score for _, score in points]
    top = max(max(scores) * 1.1, 0.05)

    def at(index: int, score: float) -> tuple[float, float]:
        x = pad + index * (width - 2 * pad) / (len(points) - 1)
        return x, height - pad - score / top * (height - 2 * pad)

    coordinates = [at(i, score) for i, (_, score) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    dots = "".join(
        f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{INK}"><title>{escape(label)}: '
        f"{score:.3f}</title></circle>"
        for (x, y), (label, score) in zip(coordinates, points, strict=True))
    description = "; ".join(f"{label}: {score:.3f}" for label, score in points)
    return Markup(
        f'<svg class="history" role="img" aria-label="Score over the stored lists: '
        f'{escape(description)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{pad}" y1="{height - pad}" x2="{width - pad}" y2="{height - pad}" '
        f'stroke="{GRID}"/>'
        f'<polyline points="{path}" fill="none" stroke="{LOWERS_COLOUR}" stroke-width="2"/>'
        f'{dots}'
        f'<text x="{pad}" y="{height - 6}" font-size="11" fill="{MUTED}">'
        f'{escape(points[0][0])}</text>'
        f'<text x="{width - pad}" y="{height - 6}" font-size="11" text-anchor="end" '
        f'fill="{MUTED}">{escape(points[-1][0])}</text></svg>'
    )
