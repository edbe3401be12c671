"""Inline SVG charts of the monitoring and enforcement pages.

Drawn as text (no script, no image file), in the colours of :mod:`serving.pages.charts`;
every mark has a ``<title>`` with its value and every chart a ``<desc>`` that says in
words what it shows, so colour is never the only cue. Each chart scales to its column
(``viewBox``, ``max-width: 100%``), so the page never scrolls sideways.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from serving.pages.charts import GRID, INK, MUTED

#: Series colours, each at least 4.5:1 on white.
SERIES_COLOURS = ("#0a58ca", "#b42318", "#8a4b00", "#57606a", "#6f42c1", "#1a7f37")
_WIDTH = 900
#: Room above a chart for its drawn title.
_TITLE = 28


def _format(value: float | None, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def _frame(chart_id: str, title: str, summary: str, height: int, body: str) -> Markup:
    # The title is drawn as well as named, so a sighted reader sees what the chart is.
    body = (f'<text x="8" y="18" font-size="15" font-weight="600" fill="{INK}">'
            f'{escape(title)}</text><g transform="translate(0 {_TITLE})">{body}</g>')
    height += _TITLE
    return Markup(
        f'<svg class="monitoring-chart" id="{escape(chart_id)}" role="img" '
        f'aria-labelledby="{escape(chart_id)}-title {escape(chart_id)}-desc" '
        f'viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(chart_id)}-title">{escape(title)}</title>'
        f'<desc id="{escape(chart_id)}-desc">{escape(summary)}</desc>' + body + "</svg>")


def _legend(names: Sequence[str], colours: Sequence[str], dashed: Sequence[bool] = ()) -> str:
    """One legend row (of up to three entries, each a fixed 280-px slot)."""
    parts = []
    for i, name in enumerate(names[:3]):
        x = 60 + 280 * i
        colour = colours[i % len(colours)]
        dash = ' stroke-dasharray="6 4"' if i < len(dashed) and dashed[i] else ""
        parts.append(f'<line x1="{x}" y1="14" x2="{x + 22}" y2="14" stroke="{colour}" '
                     f'stroke-width="3"{dash}/><text x="{x + 28}" y="18" font-size="13" '
                     f'fill="{INK}">{escape(name)}</text>')
    return "".join(parts)


def _axis(top: float, bottom: float, left: float, right: float, high: float,
          digits: int) -> str:
    parts = []
    for i in range(5):
        value = high * i / 4
        y = bottom - (bottom - top) * i / 4
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" '
                     f'stroke="{GRID}"/><text x="{left - 6}" y="{y + 4:.1f}" font-size="11" '
                     f'text-anchor="end" fill="{MUTED}">{_format(value, digits)}</text>')
    return "".join(parts)


def bars_svg(chart_id: str, title: str, categories: Sequence[str],
             series: Sequence[tuple[str, Sequence[float | None]]], *, digits: int = 0
             ) -> Markup | None:
    """Vertical bars, one group per category and one bar per series, values on top."""
    if not categories or not series:
        return None
    height, top, bottom, left, right = 300, 34, 250, 60, _WIDTH - 10
    values = [v for _, vs in series for v in vs if v is not None and not math.isnan(v)]
    high = max([*values, 1e-9]) * 1.15
    group = (right - left) / len(categories)
    bar = max(2.0, min(36.0, (group - 8) / len(series)))
    parts = [_axis(top, bottom, left, right, high, digits),
             _legend([name for name, _ in series], SERIES_COLOURS)]
    sentences = []
    for c, category in enumerate(categories):
        x0 = left + c * group + (group - bar * len(series)) / 2
        cells = []
        for s, (name, vs) in enumerate(series):
            value = vs[c]
            shown = _format(value, digits)
            cells.append(f"{name} {shown}")
            if value is None or math.isnan(value):
                continue
            length = value / high * (bottom - top)
            x = x0 + s * bar
            parts.append(
                f'<rect x="{x:.1f}" y="{bottom - length:.1f}" width="{bar - 1:.1f}" '
                f'height="{length:.1f}" fill="{SERIES_COLOURS[s % len(SERIES_COLOURS)]}">'
                f'<title>{escape(category)}, {escape(name)}: {shown}</title></rect>')
            if bar >= 18:
                parts.append(f'<text x="{x + bar / 2:.1f}" y="{bottom - length - 4:.1f}" '
                             f'font-size="10" text-anchor="middle" fill="{INK}">{shown}</text>')
        label = category if len(category) <= max(4, int(group / 7)) else category[
            :max(3, int(group / 7)) - 1] + "…"
        parts.append(f'<text x="{left + (c + 0.5) * group:.1f}" y="{bottom + 16}" '
                     f'font-size="11" text-anchor="middle" fill="{INK}">{escape(label)}'
                     f'<title>{escape(category)}</title></text>')
        sentences.append(f"{category}: " + ", ".join(cells))
    return _frame(chart_id, title, f"{title}. " + "; ".join(sentences) + ".", height,
                  "".join(parts))


def lines_svg(chart_id: str, title: str, labels: Sequence[str],
              series: Sequence[tuple[str, Sequence[float | None], bool]], *,
              digits: int = 1) -> Markup | None:
    """Lines over ``labels`` (dates or years); each series (name, values, dashed)."""
    if not labels or not series:
        return None
    height, top, bottom, left, right = 300, 34, 250, 60, _WIDTH - 20
    values = [v for _, vs, _ in series for v in vs if v is not None and not math.isnan(v)]
    high = max([*values, 1e-9]) * 1.15
    step = (right - left) / max(1, len(labels) - 1)

    def x_of(i: int) -> float:
        return left + i * step if len(labels) > 1 else (left + right) / 2

    rows = math.ceil(len(series) / 3)
    top += 22 * (rows - 1)
    height += 22 * (rows - 1)
    bottom += 22 * (rows - 1)
    parts = [_axis(top, bottom, left, right, high, digits)]
    for r in range(rows):
        chunk = series[3 * r:3 * r + 3]
        colours = [SERIES_COLOURS[(3 * r + i) % len(SERIES_COLOURS)] for i in range(len(chunk))]
        parts.append(f'<g transform="translate(0 {22 * r})">' + _legend(
            [name for name, _, _ in chunk], colours, [dashed for _, _, dashed in chunk])
            + "</g>")
    every = max(1, math.ceil(len(labels) / 10))
    for i, label in enumerate(labels):
        if i % every == 0 or i == len(labels) - 1:
            anchor = ("middle" if len(labels) == 1 else "start" if i == 0
                      else "end" if i == len(labels) - 1 else "middle")
            parts.append(f'<text x="{x_of(i):.1f}" y="{bottom + 16}" font-size="11" '
                         f'text-anchor="{anchor}" fill="{INK}">{escape(label)}</text>')
    sentences = []
    for s, (name, vs, dashed) in enumerate(series):
        colour = SERIES_COLOURS[s % len(SERIES_COLOURS)]
        points = [(x_of(i), bottom - v / high * (bottom - top), v, labels[i])
                  for i, v in enumerate(vs) if v is not None and not math.isnan(v)]
        if len(points) > 1:
            dash = ' stroke-dasharray="6 4"' if dashed else ""
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y, _, _ in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" '
                         f'stroke-width="2"{dash}/>')
        for x, y, v, label in points:
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"><title>'
                         f'{escape(label)}, {escape(name)}: {_format(v, digits)}</title>'
                         f'</circle>')
        sentences.append(f"{name}: " + ", ".join(f"{label} {_format(v, digits)}"
                                                  for _, _, v, label in points))
    return _frame(chart_id, title, f"{title}. " + "; ".join(sentences) + ".", height,
                  "".join(parts))


def calibration_svg(chart_id: str,
                    bands: Sequence[tuple[str, float | None, float | None, float | None,
                                          float | None, int]]) -> Markup | None:
    """Observed against predicted serious rates by score band, with 95% intervals.

    ``bands`` are (band, predicted, observed, ci_low, ci_high, inspected); bands without
    inspections are left out. On the diagonal, the scores are calibrated.
    """
    shown = [b for b in bands if b[1] is not None and b[2] is not None and b[5] > 0]
    if not shown:
        return None
    height, top, bottom, left, right = 360, 30, 320, 70, 560
    high = max([b[1] or 0.0 for b in shown] + [b[4] or 0.0 for b in shown] + [0.05]) * 1.1

    def x_of(v: float) -> float:
        return left + v / high * (right - left)

    def y_of(v: float) -> float:
        return bottom - v / high * (bottom - top)

    parts = [f'<line x1="{x_of(0):.1f}" y1="{y_of(0):.1f}" x2="{x_of(high):.1f}" '
             f'y2="{y_of(high):.1f}" stroke="{MUTED}" stroke-dasharray="4 4"/>']
    for i in range(5):
        v = high * i / 4
        parts.append(f'<line x1="{left}" y1="{y_of(v):.1f}" x2="{right}" y2="{y_of(v):.1f}" '
                     f'stroke="{GRID}"/><text x="{left - 6}" y="{y_of(v) + 4:.1f}" '
                     f'font-size="11" text-anchor="end" fill="{MUTED}">{v:.2f}</text>'
                     f'<text x="{x_of(v):.1f}" y="{bottom + 16}" font-size="11" '
                     f'text-anchor="middle" fill="{MUTED}">{v:.2f}</text>')
    parts.append(f'<text x="{(left + right) / 2}" y="{bottom + 34}" font-size="12" '
                 f'text-anchor="middle" fill="{INK}">predicted (mean score)</text>'
                 f'<text x="14" y="{(top + bottom) / 2}" font-size="12" fill="{INK}" '
                 f'transform="rotate(-90 14 {(top + bottom) / 2})" text-anchor="middle">'
                 f'observed share serious</text>')
    sentences = []
    for band, predicted, observed, low, high_ci, inspected in shown:
        assert predicted is not None and observed is not None
        x = x_of(predicted)
        if low is not None and high_ci is not None:
            parts.append(f'<line x1="{x:.1f}" y1="{y_of(low):.1f}" x2="{x:.1f}" '
                         f'y2="{y_of(min(high_ci, high)):.1f}" stroke="{SERIES_COLOURS[0]}" '
                         f'stroke-width="2"/>')
        text = (f"score band {band}: predicted {predicted:.3f}, observed {observed:.3f}"
                f" (95% {_format(low, 3)}-{_format(high_ci, 3)}) over {inspected:,} "
                "inspections")
        parts.append(f'<circle cx="{x:.1f}" cy="{y_of(observed):.1f}" r="5" '
                     f'fill="{SERIES_COLOURS[0]}"><title>{escape(text)}</title></circle>')
        sentences.append(text)
    parts.append(f'<text x="{right + 20}" y="{top + 10}" font-size="12" fill="{INK}">'
                 'dots: observed, bars: 95% interval</text>'
                 f'<text x="{right + 20}" y="{top + 28}" font-size="12" fill="{MUTED}">'
                 'dashed: calibrated (observed = predicted)</text>')
    return _frame(chart_id, "Calibration in the field",
                  "Observed against predicted serious rates by score band. "
                  + "; ".join(sentences) + ".", height, "".join(parts))
