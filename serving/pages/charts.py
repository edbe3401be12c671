"""Charts drawn on the server as inline SVG: no script, no plotting library, no network.

The waterfall reads an explanation (``base_value + sum(shap_value) = raw_score``) from the
left: the average licensee's raw score, each feature's push up or down in the catalogue's
plain words, the rest summed per family, and the licensee's own raw score. The axis is
labelled in score (the calibrated probability), which is what a reader compares.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from models.reasons import reason_features
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
    contributions: Sequence[ContributionPublic], top_reasons: int = 3,
    always: Collection[str] = (),
) -> list[ContributionPublic]:
    """The features the chart draws one by one: the largest, the top reasons, and enough
    more that no family's roll-up of the rest outweighs a drawn bar.

    The top reasons of the list are among the largest *positive* contributions; a licensee
    with large negative ones could push them out of a plain size ranking, and a reader must
    find the list's reasons on the chart. The features not drawn are summed per family
    (:func:`family_rollups`); while one family's sum is larger (in absolute value) than the
    smallest drawn bar, that family's largest remaining feature is drawn too, so a "rest"
    bar never claims more than a bar the reader can read.
    """
    by_size = sorted(contributions, key=lambda row: (-abs(row.shap_value), row.feature))
    chosen = {row.feature for row in by_size[:CHART_FEATURES]}
    positive = sorted((row for row in contributions if row.shap_value > 0),
                      key=lambda row: (-row.shap_value, row.feature))
    chosen.update(row.feature for row in positive[:top_reasons])
    chosen.update(always)  # e.g. a what-if's changed features (ux-pages)
    # The list's principal reasons (distinct facts, models.reasons) are always drawn.
    chosen.update(reason_features([row.shap_value for row in contributions],
                                  [row.value for row in contributions],
                                  [row.feature for row in contributions]))
    while True:
        shown = [row for row in by_size if row.feature in chosen]
        smallest = min((abs(row.shap_value) for row in shown), default=0.0)
        rollups = family_rollups(contributions, chosen)
        too_large = [family for family, total, _ in rollups if abs(total) > smallest]
        if not too_large:
            return shown
        family = too_large[0]
        chosen.add(next(row.feature for row in by_size
                        if row.family == family and row.feature not in chosen))


def family_rollups(
    contributions: Sequence[ContributionPublic], shown: set[str] | frozenset[str]
) -> list[tuple[str, float, int]]:
    """The contributions not drawn one by one, summed per family: (family, sum, count),
    largest absolute sum first (ties by family name)."""
    totals: dict[str, list[float]] = {}
    for row in contributions:
        if row.feature not in shown:
            totals.setdefault(row.family, []).append(row.shap_value)
    rollups = [(family, math.fsum(values), len(values)) for family, values in totals.items()]
    return sorted(rollups, key=lambda item: (-abs(item[1]), item[0]))


#: How the chart names a family's roll-up.
FAMILY_NAMES = {
    "traces": "crime-gun trace", "time_to_crime": "time-to-crime",
    "trace_characteristics": "trace characteristics", "multiple_sales": "multiple-sale",
    "theft_loss": "theft and loss", "inspections": "inspection history",
    "profile": "licensee profile",
}


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


def _rows(explanation: ExplanationBase, license_type: str | None,
          always: Collection[str] = ()) -> list[_Row]:
    shown = chart_contributions(explanation.contributions, always=always)
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
    end = base + explanation.contributions_total
    rollups = family_rollups(explanation.contributions, {row.feature for row in shown})
    for index, (family, total, count) in enumerate(rollups):
        name = FAMILY_NAMES.get(family, family.replace("_", " "))
        # The last roll-up closes on the licensee's raw score exactly (no float drift).
        stop = end if index == len(rollups) - 1 else level + total
        noun = "feature" if count == 1 else "features"
        rows.append(_Row("rest", (f"{count} other {name} {noun} together",),
                         "smaller pushes, summed", level, stop,
                         title=f"The other {count} {name} {noun} add {total:+.3f} in "
                               "log-odds."))
        level = stop
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
                  chart_id: str = "waterfall", caption: str = "",
                  always: Collection[str] = ()) -> Markup:
    """The explanation as an accessible inline SVG waterfall (see the module docstring);
    ``always`` names features drawn whatever their size (a what-if's changed ones)."""
    rows = _rows(explanation, license_type, always)
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


def history_svg(points: Sequence[tuple[str, str, float]]) -> Markup | None:
    """A small line of the score over stored lists (oldest first); None below two points.

    ``points`` are (as-of date, model version, score). Each point is labelled with its
    model version and as-of date, so every number on the chart is traceable; with many
    lists only some points carry a label (each dot's title has it all the same).
    """
    if len(points) < 2:
        return None
    width, height, pad, label_space = 460, 128, 34, 34
    scores = [score for _, _, score in points]
    top = max(max(scores) * 1.15, 0.05)
    plot_bottom = height - label_space

    def at(index: int, score: float) -> tuple[float, float]:
        x = pad + index * (width - 2 * pad) / (len(points) - 1)
        return x, plot_bottom - score / top * (plot_bottom - 14)

    coordinates = [at(i, score) for i, (_, _, score) in enumerate(points)]
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coordinates)
    every = max(1, math.ceil(len(points) / 5))
    labelled = set(range(0, len(points), every)) | {len(points) - 1}
    parts = []
    for i, ((x, y), (as_of, version, score)) in enumerate(zip(coordinates, points,
                                                                strict=True)):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" fill="{INK}"><title>'
            f'{escape(as_of)}, model version {escape(version)}: {score:.3f}</title></circle>')
        if i in labelled:
            anchor = "start" if i == 0 else "end" if i == len(points) - 1 else "middle"
            parts.append(
                f'<text x="{x:.1f}" y="{y - 7:.1f}" font-size="11" text-anchor="{anchor}" '
                f'fill="{INK}">{score:.3f}</text>'
                f'<text x="{x:.1f}" y="{plot_bottom + 15}" font-size="11" '
                f'text-anchor="{anchor}" fill="{MUTED}">{escape(as_of)}</text>'
                f'<text x="{x:.1f}" y="{plot_bottom + 29}" font-size="11" '
                f'text-anchor="{anchor}" fill="{MUTED}">model v{escape(version)}</text>')
    description = "; ".join(f"as of {as_of}, model version {version}: {score:.3f}"
                            for as_of, version, score in points)
    return Markup(
        f'<svg class="history" role="img" aria-label="Score over the stored lists: '
        f'{escape(description)}" viewBox="0 0 {width} {height}" width="{width}" '
        f'height="{height}" xmlns="http://www.w3.org/2000/svg">'
        f'<line x1="{pad}" y1="{plot_bottom}" x2="{width - pad}" y2="{plot_bottom}" '
        f'stroke="{GRID}"/>'
        f'<polyline points="{path}" fill="none" stroke="{LOWERS_COLOUR}" stroke-width="2"/>'
        + "".join(parts) + "</svg>"
    )


#: The bars of the plan overview's chart: what each plan of the same capacity expects.
FINDINGS_SERIES = (
    ("this plan", "#0a58ca"),
    ("Demand Letter 2 rule", "#8a4b00"),  # 6.0:1 on white
    ("random plan", MUTED),
)


def findings_svg(divisions: Sequence[tuple[str, float, float | None, float]]) -> Markup | None:
    """Expected serious findings per division: the plan beside the DL2 rule's and random's.

    ``divisions`` are (name, plan, Demand Letter 2 rule or None, random). Horizontal bars,
    three per division, each with its value as text (colour is never the only cue).
    """
    if not divisions:
        return None
    width, label_width, value_width, bar, gap, top = 900, 170, 70, 14, 3, 34
    group = 3 * (bar + gap) + 14
    height = top + group * len(divisions) + 8
    largest = max([max(plan, rule or 0.0, random) for _, plan, rule, random in divisions]
                  + [1e-9])
    span = width - label_width - value_width - 10
    parts = []
    for i, (name, _) in enumerate(FINDINGS_SERIES):
        colour = FINDINGS_SERIES[i][1]
        x = label_width + i * 200
        parts.append(f'<rect x="{x}" y="8" width="12" height="12" fill="{colour}"/>'
                     f'<text x="{x + 18}" y="19" font-size="13" fill="{INK}">'
                     f'{escape(name)}</text>')
    sentences = []
    for d, (name, plan, rule, random) in enumerate(divisions):
        y0 = top + d * group
        parts.append(f'<text x="{label_width - 10}" y="{y0 + 1.5 * (bar + gap) + 5:.1f}" '
                     f'font-size="13" text-anchor="end" fill="{INK}">{escape(name)}</text>')
        for i, value in enumerate((plan, rule, random)):
            label, colour = FINDINGS_SERIES[i]
            y = y0 + i * (bar + gap)
            shown = "n/a" if value is None else f"{value:.1f}"
            length = 0.0 if value is None else max(value / largest * span, 1.0)
            parts.append(
                f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar}" '
                f'fill="{colour}"><title>{escape(name)}, {escape(label)}: {shown} expected '
                f'serious findings</title></rect>'
                f'<text x="{label_width + length + 6:.1f}" y="{y + bar - 3}" font-size="12" '
                f'fill="{INK}">{shown}</text>')
        sentences.append(f"{name}: this plan {plan:.1f}, Demand Letter 2 rule "
                         f"{'n/a' if rule is None else f'{rule:.1f}'}, random {random:.1f}")
    summary = "Expected serious findings per field division. " + "; ".join(sentences) + "."
    return Markup(
        f'<svg class="findings-chart" role="img" aria-labelledby="findings-title '
        f'findings-desc" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="findings-title">Expected serious findings per field division</title>'
        f'<desc id="findings-desc">{escape(summary)}</desc>' + "".join(parts) + "</svg>"
    )
