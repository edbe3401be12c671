"""Every parameter of the synthetic world, with its default and what it means.

The defaults are calibrated so that a world of 50,000 licensees or more reproduces the
public figures of ``shared/calibration.md`` (see ``docs/calibration.md``). A TOML or YAML
file given to ``dealer-risk generate --config FILE`` overrides any subset of them, e.g.::

    [behaviour]
    careless_share = 0.2

    [inspections]
    capacity_per_licensee_year = 0.10

Rates are per licensee, per firearm sold or per month as their names say; dates are ISO
dates. ``docs/synthetic.md`` lists every parameter (it is rendered from this module by
:func:`parameter_reference`).
"""

from __future__ import annotations

import datetime as dt
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from synthetic.mechanisms import MIXES, mix_overrides


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PopulationConfig(_Section):
    """Who the licensees are and where."""

    other_type_shares: dict[str, float] = Field(
        default={"06": 0.006, "09": 0.001, "10": 0.002, "11": 0.001},
        description="Share of licensees of types outside the 2023 counts (06 ammunition, "
        "09-11 destructive devices); the rest follow the real 01/02/07/08 counts. "
        "Collectors (03) are not generated: they are not ranked.",
    )
    entrant_share: float = Field(
        default=0.15,
        description="Share of licensees whose license is issued inside the window "
        "(uniformly); the others hold a license from before it.",
    )
    incumbent_age_mean_years: float = Field(
        default=11.0,
        description="Mean age (years, exponential) at the window start of licenses issued "
        "before it.",
    )
    incumbent_age_max_years: float = Field(
        default=45.0, description="Oldest license at the window start, in years."
    )
    urban_min_ffl_per_100_sq_mi: float = Field(
        default=12.0,
        description="Counties with at least this many licensees per 100 square miles "
        "(2023) are urban.",
    )
    rural_max_ffl_per_100_sq_mi: float = Field(
        default=3.0,
        description="Counties with fewer licensees per 100 square miles than this are "
        "rural; between the two thresholds, suburban.",
    )


class SalesConfig(_Section):
    """How many firearms each licensee sells, month by month."""

    history_start: dt.date = Field(
        default=dt.date(1975, 1, 1),
        description="First month of simulated sales. Crime guns traced in the window were "
        "sold years, sometimes decades, earlier (average time-to-crime is about 6 years), "
        "so sales are simulated from here; before NICS (November 1998) each state sells "
        "at its 1999 level.",
    )
    firearms_per_check: float = Field(
        default=1.0,
        description="Firearms sold per NICS check, counted as handgun + long gun + other "
        "+ 2 x multiple (the usual estimate from the checks).",
    )
    size_sigma: float = Field(
        default=2.3,
        description="Log-standard deviation of a licensee's relative size (lognormal, "
        "mean 1). Gives the California finding that about 12% of retailers make over "
        "80% of sales.",
    )
    size_cap: float = Field(
        default=100.0,
        description="Largest relative size (multiples of the mean; about 25,000 firearms a year).",
    )
    type_sales_factor: dict[str, float] = Field(
        default={
            "01": 1.0,
            "02": 0.9,
            "07": 0.1,
            "08": 0.05,
            "06": 0.0,
            "09": 0.02,
            "10": 0.02,
            "11": 0.02,
        },
        description="Retail sales of a licensee type relative to a dealer (01). "
        "Manufacturers and importers sell little at retail; ammunition makers none.",
    )
    urbanicity_size_factor: dict[str, float] = Field(
        default={"urban": 1.5, "suburban": 1.0, "rural": 0.6},
        description="Relative size by place type (busier shops where people live).",
    )


class BehaviourConfig(_Section):
    """The hidden behaviour that drives traces and inspection outcomes."""

    careless_share: float = Field(
        default=0.12,
        description="Share of licensees keeping careless records (shows in inspection "
        "findings, missing firearms, thefts and losses).",
    )
    diverter_share_by_type: dict[str, float] = Field(
        default={"01": 0.022, "02": 0.035, "07": 0.008, "08": 0.004},
        description="Share of licensees of each type that divert firearms to straw "
        "purchasers and traffickers at some point (before urbanicity adjustment).",
    )
    diverter_urbanicity_factor: dict[str, float] = Field(
        default={"urban": 1.5, "suburban": 1.0, "rural": 0.6},
        description="Relative odds of diverting by place type.",
    )
    diversion_start_earliest: dt.date = Field(
        default=dt.date(2008, 1, 1),
        description="Diversion starts uniformly between this date (or the license issue "
        "date, if later) and the window end.",
    )
    diverted_guns_per_year_median: float = Field(
        default=30.0,
        description="Median firearms a diverter passes to straw purchasers per year (lognormal).",
    )
    diverted_guns_per_year_sigma: float = Field(
        default=0.9, description="Log-standard deviation of firearms diverted per year."
    )
    max_diverted_share_of_sales: float = Field(
        default=0.6, description="A diverter diverts at most this share of its sales."
    )
    unobserved_trace_sigma: float = Field(
        default=1.0,
        description="Log-standard deviation of an unobserved licensee factor on the "
        "crime-gun rate per sale (clientele, location) that no table shows.",
    )
    unobserved_severity_sigma: float = Field(
        default=0.7,
        description="Standard deviation (logit scale) of an unobserved licensee factor on "
        "inspection outcomes, so nothing predicts a label perfectly.",
    )
    unobserved_trace_cap: float = Field(
        default=8.0,
        description="Largest unobserved crime-gun factor (the busiest crime-gun sources "
        "have hundreds of traces a year, not tens of thousands).",
    )
    unobserved_correlation: float = Field(
        default=0.3,
        description="Correlation between the two unobserved factors.",
    )


class TraceConfig(_Section):
    """Crime guns: which sales end up traced, and when."""

    crime_gun_probability_per_sale: float = Field(
        default=0.03,
        description="Chance that a firearm sold by a typical compliant dealer is one day "
        "recovered by police and traced (before the factors below).",
    )
    pawnbroker_rate_ratio: float = Field(
        default=1.26, description="Crime-gun rate per sale of pawnbrokers (Wintemute 2005)."
    )
    careless_rate_ratio: float = Field(
        default=1.3, description="Crime-gun rate per sale of careless licensees."
    )
    urbanicity_rate_factor: dict[str, float] = Field(
        default={"urban": 1.3, "suburban": 1.0, "rural": 0.75},
        description="Crime-gun rate per sale by place type.",
    )
    diverted_crime_probability: float = Field(
        default=0.4,
        description="Chance that a diverted firearm is recovered and traced.",
    )
    ttc_fast_share: float = Field(
        default=0.17,
        description="Share of ordinary crime guns recovered quickly (exponential "
        "time-to-crime with the mean below); the rest follow a lognormal.",
    )
    ttc_fast_mean_years: float = Field(
        default=0.7, description="Mean time-to-crime of quickly recovered ordinary guns."
    )
    ttc_slow_median_years: float = Field(
        default=8.5, description="Median time-to-crime of the other ordinary crime guns."
    )
    ttc_slow_sigma: float = Field(
        default=0.85, description="Log-standard deviation of that lognormal."
    )
    diverted_ttc_mean_years: float = Field(
        default=0.7,
        description="Mean (exponential) time-to-crime of diverted guns recovered in the "
        "U.S.: trafficked guns reach crime quickly.",
    )
    mexico_ttc_mean_years: float = Field(
        default=1.6,
        description="Mean (exponential) time-to-crime of guns recovered in Mexico.",
    )
    trace_delay_median_days: float = Field(
        default=6.0, description="Median days from a U.S. recovery to its trace result."
    )
    trace_delay_sigma: float = Field(
        default=1.0, description="Log-standard deviation of the trace delay."
    )
    mexico_trace_delay_median_days: float = Field(
        default=100.0, description="Median days from a recovery in Mexico to its trace."
    )
    border_states: tuple[str, ...] = Field(
        default=("AZ", "CA", "NM", "TX"), description="States on the Mexican border."
    )
    mexico_share_diverted_border: float = Field(
        default=0.5,
        description="Share of a border-state diverter's recovered guns recovered in Mexico.",
    )
    mexico_share_diverted_other: float = Field(
        default=0.04,
        description="Share of other diverters' recovered guns recovered in Mexico.",
    )
    mexico_share_ordinary_border: float = Field(
        default=0.005,
        description="Share of border-state licensees' ordinary crime guns recovered in Mexico.",
    )
    mexico_share_ordinary_other: float = Field(
        default=0.0005, description="The same for licensees elsewhere."
    )
    in_state_recovery_share: float = Field(
        default=0.75,
        description="Share of ordinary U.S. recoveries in the selling licensee's state.",
    )
    diverted_in_state_recovery_share: float = Field(
        default=0.45,
        description="The same for diverted guns (trafficking crosses state lines).",
    )
    crime_handgun_odds_ratio: float = Field(
        default=3.0,
        description="Odds of a crime gun being a handgun relative to the state's "
        "handgun:long-gun sales ratio.",
    )
    diverted_handgun_odds_ratio: float = Field(
        default=2.0,
        description="Further odds ratio for a handgun among diverted guns recovered in the U.S.",
    )
    mexico_firearm_mix: dict[str, float] = Field(
        default={"rifle": 0.52, "pistol": 0.36, "revolver": 0.05, "shotgun": 0.05, "other": 0.02},
        description="Firearm types of guns recovered in Mexico (about half long guns, GAO-16-223).",
    )
    possessor_is_purchaser_ordinary: float = Field(
        default=0.15,
        description="Chance that an ordinary crime gun is recovered from its purchaser, "
        "plus the term below that fades with time-to-crime.",
    )
    possessor_is_purchaser_fresh: float = Field(
        default=0.45,
        description="Extra chance for a fresh gun, decaying with time-to-crime "
        "(e-folding 2 years).",
    )
    possessor_is_purchaser_diverted: float = Field(
        default=0.05, description="The same for a diverted gun (the buyer was a straw)."
    )
    serial_obliterated_ordinary: float = Field(
        default=0.015, description="Chance an ordinary crime gun's serial is obliterated."
    )
    serial_obliterated_diverted: float = Field(
        default=0.10, description="The same for a diverted gun."
    )
    serial_obliterated_mexico: float = Field(
        default=0.15, description="The same for a gun recovered in Mexico."
    )
    unknown_field_share: float = Field(
        default=0.06,
        description="Share of traces whose possessor and serial fields are left unknown.",
    )


class MultipleSaleConfig(_Section):
    """Multiple-sale reports (3310.4 everywhere, 3310.12 in border states)."""

    handgun_report_rate: float = Field(
        default=0.02,
        description="3310.4 reports per handgun sold (two or more handguns to one buyer "
        "within five business days).",
    )
    rifle_report_rate: float = Field(
        default=0.0025,
        description="3310.12 reports per long gun sold in the border states.",
    )
    rifle_form_states: tuple[str, ...] = Field(
        default=("AZ", "CA", "NM", "TX"), description="States where 3310.12 applies."
    )
    rifle_form_effective: dt.date = Field(
        default=dt.date(2011, 8, 14), description="First day 3310.12 reports exist."
    )
    extra_firearms_mean: float = Field(
        default=0.45,
        description="Mean firearms beyond two per ordinary report (geometric).",
    )
    customer_pool_per_report: float = Field(
        default=12.0,
        description="Distinct ordinary customers per expected report: the smaller, the "
        "more often an ordinary buyer appears twice.",
    )
    straw_share_of_diverted: float = Field(
        default=0.5,
        description="Share of diverted firearms bought in reportable multiple sales.",
    )
    straw_firearms_per_report_mean: float = Field(
        default=3.0, description="Mean firearms per straw multiple-sale report."
    )
    straw_purchasers_min: int = Field(
        default=2, description="Fewest straw purchasers working with one diverter."
    )
    straw_purchasers_max: int = Field(
        default=8, description="Most straw purchasers working with one diverter."
    )


class TheftLossConfig(_Section):
    """Theft and loss reports."""

    reports_per_licensee_year: float = Field(
        default=0.1,
        description="Reports per year of a compliant licensee of relative size 1 (about "
        "5,000 reports a year nationally).",
    )
    size_elasticity: float = Field(
        default=0.5,
        description="Reports grow with relative size to this power (inventory, not sales).",
    )
    careless_rate_ratio: float = Field(
        default=2.5, description="Report rate of careless licensees relative to compliant."
    )
    diverter_rate_ratio: float = Field(
        default=3.5,
        description="Report rate of a diverter once diverting (losses cover diversion).",
    )
    theft_share_compliant: float = Field(
        default=0.65, description="Share of a compliant licensee's reports that are thefts."
    )
    theft_share_careless: float = Field(
        default=0.4, description="The same for a careless licensee (more losses)."
    )
    theft_share_diverter: float = Field(default=0.3, description="The same for a diverter.")
    theft_firearms_mean: float = Field(
        default=4.0, description="Mean firearms per theft report (1 + geometric)."
    )
    loss_firearms_mean: float = Field(
        default=1.6, description="Mean firearms per loss report (1 + geometric)."
    )


class InspectionConfig(_Section):
    """How the regulator picks licensees to inspect, and how inspections end."""

    capacity_per_licensee_year: float = Field(
        default=0.12,
        description="Compliance inspections a field division can close per active "
        "licensee and year (about 9,700 over 79,000 licensees, FY2024).",
    )
    max_capacity_scale: float = Field(
        default=4.0,
        description="Selection probabilities are scaled to the division's monthly "
        "capacity, by at most this factor upwards.",
    )
    cycle_months_min: int = Field(
        default=36, description="Shortest inspection cycle of a licensee, in months."
    )
    cycle_months_max: int = Field(
        default=96, description="Longest inspection cycle of a licensee, in months."
    )
    cycle_monthly_hazard: float = Field(
        default=0.05,
        description="Monthly chance (before capacity scaling) that a licensee due on its "
        "cycle is picked.",
    )
    new_licensee_first_months: int = Field(
        default=12,
        description="A new licensee is due for its first compliance inspection "
        "after this many months.",
    )
    random_monthly_probability: float = Field(
        default=0.002, description="Monthly chance that any licensee is picked at random."
    )
    risk_intercept: float = Field(
        default=-6.5, description="Risk rule: logit of the monthly pick chance at zero risk."
    )
    risk_short_ttc_coefficient: float = Field(
        default=0.9,
        description="Risk rule: per log(1 + traces with time-to-crime <= 3 years known "
        "over the last 12 months).",
    )
    risk_followup_coefficient: float = Field(
        default=3.8,
        description="Risk rule: a recall inspection 12-36 months after a warning letter or worse.",
    )
    risk_theft_loss_coefficient: float = Field(
        default=1.0,
        description="Risk rule: at least one theft or loss report over the last 12 months.",
    )
    risk_multiple_sale_coefficient: float = Field(
        default=0.3,
        description="Risk rule: per log(1 + multiple-sale reports over the last 12 months).",
    )
    qualification_inspections: bool = Field(
        default=True,
        description="Licensees issued inside the window get a qualification inspection "
        "closing on their issue date.",
    )
    outcome_thresholds: tuple[float, float, float, float] = Field(
        default=(1.1, 2.7, 4.3, 5.2),
        description="Ordered-logit cut points for violations cited, warning letter, "
        "warning conference and revocation.",
    )
    careless_severity: float = Field(
        default=2.2, description="Logit shift of outcomes for careless licensees."
    )
    diverting_severity: float = Field(
        default=3.8, description="Logit shift of outcomes once a licensee diverts."
    )
    repeat_severity: float = Field(
        default=0.9,
        description="Logit shift when the licensee's last compliance inspection cited "
        "violations (repeat violations escalate).",
    )
    reform_probability: float = Field(
        default=0.5,
        description="Chance that a careless licensee reforms after a warning conference.",
    )
    reform_factor: float = Field(
        default=0.3, description="Share of the careless shift left after reforming."
    )
    duration_median_days: tuple[float, float, float, float, float] = Field(
        default=(60.0, 80.0, 105.0, 176.0, 211.0),
        description="Median days from opening to closing by outcome (no violations ... "
        "revocation); warning letter and worse from the 2015-2017 reports.",
    )
    duration_sigma: float = Field(
        default=0.6, description="Log-standard deviation of inspection duration."
    )
    code_rate_by_outcome: tuple[float, float, float, float] = Field(
        default=(0.3, 0.8, 1.2, 1.3),
        description="Multiplier on each code's citing share for violations cited, warning "
        "letter, warning conference and revocation (the real shares are of warning "
        "letters or worse).",
    )
    missing_firearms_careless_mean: float = Field(
        default=3.0, description="Mean firearms missing at a careless licensee's inspection."
    )
    missing_firearms_diverter_mean: float = Field(
        default=8.0, description="Mean firearms missing once a licensee diverts."
    )
    missing_firearms_compliant_share: float = Field(
        default=0.04,
        description="Chance a compliant licensee's inspection finds a firearm or two missing.",
    )


class GeneratorConfig(_Section):
    """All parameters of the synthetic world, grouped by mechanism.

    ``mechanisms`` records the mechanism mixes (``synthetic.mechanisms``) the parameters
    were built from; build a config with them through :func:`config_for`, which applies
    their overrides.
    """

    mechanisms: tuple[str, ...] = ()
    population: PopulationConfig = PopulationConfig()
    sales: SalesConfig = SalesConfig()
    behaviour: BehaviourConfig = BehaviourConfig()
    traces: TraceConfig = TraceConfig()
    multiple_sales: MultipleSaleConfig = MultipleSaleConfig()
    theft_loss: TheftLossConfig = TheftLossConfig()
    inspections: InspectionConfig = InspectionConfig()


    @field_validator("mechanisms")
    @classmethod
    def _known_mechanisms(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [name for name in names if name not in MIXES]
        if unknown:
            raise ValueError(f"unknown mechanism mix(es) {unknown}; known: {sorted(MIXES)}")
        return names


def config_for(
    mechanisms: tuple[str, ...] | list[str] = (), data: dict[str, Any] | None = None
) -> GeneratorConfig:
    """The defaults, then each mechanism mix's overrides in order, then ``data``'s sections.

    ``data`` is a parsed config file; its own top-level ``mechanisms`` list comes before
    ``mechanisms`` (the command line's). Unknown keys and mixes are errors.
    """
    data = dict(data or {})
    names = tuple(data.pop("mechanisms", ())) + tuple(mechanisms)
    merged: dict[str, Any] = {section: dict(values)
                              for section, values in mix_overrides(names).items()}
    for section, values in data.items():
        if isinstance(values, dict) and isinstance(merged.get(section), dict):
            merged[section].update(values)
        else:
            merged[section] = values
    return GeneratorConfig.model_validate({**merged, "mechanisms": names})


def load_config(path: Path | None, mechanisms: tuple[str, ...] = ()) -> GeneratorConfig:
    """The defaults, overridden by the mixes and the TOML or YAML (``.yaml``/``.yml``) file.

    Unknown keys are errors, so a misspelt parameter never silently keeps its default.
    """
    if path is None:
        return config_for(mechanisms)
    text = path.read_text()
    data: Any
    if path.suffix.lower() == ".toml":
        data = tomllib.loads(text)
    elif path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # only needed for YAML configs

        data = yaml.safe_load(text) or {}
    else:
        raise ValueError(f"{path}: config must be .toml, .yaml or .yml")
    return config_for(mechanisms, data)


def parameter_reference(config: GeneratorConfig | None = None) -> str:
    """A Markdown table of every parameter: section, name, default and meaning."""
    config = config or GeneratorConfig()
    lines = ["| section | parameter | default | meaning |", "|---|---|---|---|"]
    for section_name in type(config).model_fields:
        section = getattr(config, section_name)
        if not isinstance(section, BaseModel):
            continue
        for name, field in type(section).model_fields.items():
            value = getattr(section, name)
            shown = str(value).replace("|", "/")
            lines.append(f"| {section_name} | `{name}` | `{shown}` | {field.description or ''} |")
    return "\n".join(lines)
