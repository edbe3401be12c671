"""Mechanism mixes: named worlds that lean on one hidden mechanism more than the default.

The default world runs every mechanism at the weights calibrated on the public figures
(``shared/calibration.md``). A model tuned on that one world may learn its particular
balance, so the quality benchmark also trains on worlds where one mechanism dominates.
A mix is a set of parameter overrides, applied in order before the sections of a
``--config`` file (so a file can still change any single parameter of a mix)::

    dealer-risk generate out/world --mechanisms straw_rings,risk_regulator

or, in a generator config file, ``mechanisms = ["straw_rings", "risk_regulator"]``.
``docs/synthetic.md`` ("Mechanism mixes") says what each one changes and whether its
world still meets the calibration ranges.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

#: The mix every world starts from: the calibrated defaults, nothing overridden.
DEFAULT_MIX = "default"


@dataclass(frozen=True)
class MechanismMix:
    """A named set of parameter overrides, by config section."""

    name: str
    description: str
    #: Whether a world of this mix alone keeps the calibration ranges that are stable on a
    #: small world (checked by tests/synthetic/test_mechanisms.py).
    calibrated: bool
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


MIXES: dict[str, MechanismMix] = {
    mix.name: mix
    for mix in (
        MechanismMix(
            DEFAULT_MIX,
            "Every mechanism at its calibrated weight (the parameters' defaults).",
            calibrated=True,
        ),
        MechanismMix(
            "random_onset_diversion",
            "Diversion that starts at a random time inside the window: half again as many "
            "diverters, each starting uniformly between the window start (or its license "
            "issue) and the window end, so a licensee's own earlier years are clean and "
            "only the change over time gives it away.",
            calibrated=True,
            overrides={
                "behaviour": {
                    "diverter_share_by_type": {"01": 0.033, "02": 0.05, "07": 0.012,
                                               "08": 0.006},
                    "diversion_start_earliest": dt.date(2014, 1, 1),
                },
            },
        ),
        MechanismMix(
            "straw_rings",
            "Straw-purchase rings: diverters pass most diverted guns (90%) through a tight "
            "ring of 2-4 straw purchasers who buy in reportable multiple sales again and "
            "again, and almost none of the traced guns is recovered from its purchaser "
            "(1%), so repeat purchaser keys and purchaser-not-possessor traces are the "
            "trail.",
            calibrated=True,
            overrides={
                "traces": {"possessor_is_purchaser_diverted": 0.01},
                "multiple_sales": {
                    "straw_share_of_diverted": 0.9,
                    "straw_firearms_per_report_mean": 3.5,
                    "straw_purchasers_min": 2,
                    "straw_purchasers_max": 4,
                },
            },
        ),
        MechanismMix(
            "careless_records",
            "Careless record-keeping dominates: twice as many careless licensees (24%), "
            "their findings more severe, more losses and thefts (x4) and more firearms "
            "missing at inspection; half the diverters. Seen through inspections and "
            "theft/loss reports more than through traces.",
            calibrated=True,
            overrides={
                "behaviour": {
                    "careless_share": 0.24,
                    "diverter_share_by_type": {"01": 0.011, "02": 0.018, "07": 0.004,
                                               "08": 0.002},
                },
                "theft_loss": {"careless_rate_ratio": 4.0},
                "inspections": {
                    "careless_severity": 2.6,
                    "missing_firearms_careless_mean": 5.0,
                },
            },
        ),
        MechanismMix(
            "hidden_licensee_effect",
            "A licensee effect nobody observes: the unobserved factor on inspection "
            "outcomes doubles (sd 1.4 on the logit scale) and the unobserved crime-gun "
            "factor widens (log-sd 1.3). No table shows either, so the truth ceiling "
            "moves away from anything a model can reach.",
            calibrated=True,
            overrides={
                "behaviour": {
                    "unobserved_severity_sigma": 1.4,
                    "unobserved_trace_sigma": 1.3,
                },
            },
        ),
        MechanismMix(
            "risk_regulator",
            "A regulator that inspects risky-looking licensees more often: the risk rule "
            "weighs short time-to-crime traces, theft/loss and multiple-sale reports more "
            "and picks at random half as often, so the labels lean harder towards what "
            "the rule already sees (stronger selection bias).",
            calibrated=True,
            overrides={
                "inspections": {
                    "risk_intercept": -5.8,
                    "risk_short_ttc_coefficient": 1.3,
                    "risk_theft_loss_coefficient": 1.5,
                    "risk_multiple_sale_coefficient": 0.6,
                    "random_monthly_probability": 0.001,
                },
            },
        ),
    )
}


class UnknownMechanism(ValueError):
    """A mechanism mix name that :data:`MIXES` does not know."""


def mix_overrides(names: list[str] | tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """The overrides of ``names``, merged in order (a later mix wins a shared parameter)."""
    merged: dict[str, dict[str, Any]] = {}
    for name in names:
        if name not in MIXES:
            raise UnknownMechanism(
                f"unknown mechanism mix {name!r}; known: {', '.join(sorted(MIXES))}")
        for section, values in MIXES[name].overrides.items():
            merged.setdefault(section, {}).update(values)
    return merged


def parse_mechanisms(text: str | None) -> tuple[str, ...]:
    """``"a,b"`` -> ``("a", "b")``, each name checked; ``None`` or ``""`` -> ``()``."""
    if not text:
        return ()
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    mix_overrides(names)  # raises on an unknown name
    return names


def mixes_markdown() -> str:
    """A Markdown table of the mixes: name, calibrated, what it changes."""
    lines = ["| mix | calibrated | what it does | overrides |", "|---|---|---|---|"]
    for mix in MIXES.values():
        changed = "; ".join(f"{section}.{key} = {value}"
                            for section, values in mix.overrides.items()
                            for key, value in values.items()) or "none"
        lines.append(f"| `{mix.name}` | {'yes' if mix.calibrated else 'no'} | "
                     f"{mix.description} | {changed} |")
    return "\n".join(lines)
