"""Generate a whole synthetic world: the five contract tables and the hidden truth."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from synthetic.config import GeneratorConfig
from synthetic.inspections import (
    INSPECTION_TYPES,
    OUTCOMES,
    SELECTION_REASONS,
    WARNING_CONFERENCE,
    InspectionHistory,
    Inspections,
    simulate_inspections,
    true_serious_probability,
)
from synthetic.population import NO_DAY, URBANICITY_LEVELS, Licensees, generate_licensees
from synthetic.reference import ReferenceData, load_reference
from synthetic.reports import (
    FORMS,
    MultipleSales,
    TheftLoss,
    generate_multiple_sales,
    generate_theft_loss,
)
from synthetic.sales import SalesModel, build_sales
from synthetic.timeline import MonthGrid, day_number, month_of_days
from synthetic.traces import FIREARM_TYPES, Traces, generate_traces, short_ttc_counts

DEFAULT_START = dt.date(2014, 1, 1)
DEFAULT_END = dt.date(2023, 12, 31)
DEFAULT_DEALERS = 80_000
SHORT_TTC_DAYS = 3 * 365.25
STAGES = ("licensees", "sales", "traces", "reports", "inspections", "tables")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class World:
    """A generated world: the contract tables, and what is hidden from them.

    The five tables follow ``shared/data-contract.md`` (dates as ``datetime64[us]``,
    booleans as pandas' nullable ``boolean``). ``truth`` holds one row per licensee with
    its hidden behaviour, the terms of its outcome model (see
    :func:`~synthetic.inspections.true_serious_probability` for any date) and
    ``true_serious_probability`` for an inspection opened the day after the window
    (NaN once revoked); ``inspection_truth`` one row per inspection with how it was
    selected (reason, propensity) and its true chance of ending serious when it opened;
    ``sales`` firearms sold per state and month inside the window.
    """

    dealers: pd.DataFrame
    traces: pd.DataFrame
    multiple_sales: pd.DataFrame
    inspections: pd.DataFrame
    theft_loss: pd.DataFrame
    truth: pd.DataFrame
    inspection_truth: pd.DataFrame
    sales: pd.DataFrame
    seed: int
    start: dt.date
    end: dt.date
    config: GeneratorConfig = field(default_factory=GeneratorConfig)

    def tables(self) -> dict[str, pd.DataFrame]:
        """The contract tables by name, in load order."""
        return {
            "dealers": self.dealers,
            "traces": self.traces,
            "multiple_sales": self.multiple_sales,
            "inspections": self.inspections,
            "theft_loss": self.theft_loss,
        }


def generate_world(
    config: GeneratorConfig | None = None,
    seed: int = 0,
    *,
    dealers: int = DEFAULT_DEALERS,
    start: dt.date = DEFAULT_START,
    end: dt.date = DEFAULT_END,
    reference: ReferenceData | None = None,
    progress: Progress | None = None,
) -> World:
    """Simulate ``dealers`` licensees over ``[start, end]`` and return the world.

    Deterministic: the same config, seed, size and dates give identical tables. Each
    mechanism draws from its own stream of the seed, so changing one mechanism's
    parameters leaves the others' draws alone.
    """
    if end <= start:
        raise ValueError("end must be after start")
    if dealers < 1:
        raise ValueError("dealers must be at least 1")
    config = config or GeneratorConfig()
    reference = reference or load_reference()
    report = progress or (lambda _stage: None)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(8)]
    first, last = day_number(start), day_number(end)

    report("licensees")
    licensees = generate_licensees(streams[0], dealers, first, last, config, reference)
    report("sales")
    sales = build_sales(licensees, first, last, config, reference)
    report("traces")
    traces = generate_traces(streams[1], licensees, sales, first, last, config, reference)
    report("reports")
    multiple = generate_multiple_sales(
        streams[2], seed, licensees, sales, first, last, config, reference
    )
    theft_loss = generate_theft_loss(streams[3], licensees, first, last, config)

    report("inspections")
    window = MonthGrid(first, last)
    inspections, history = simulate_inspections(
        streams[4],
        licensees,
        first,
        last,
        short_ttc_counts(traces, dealers, window.first_month, len(window), SHORT_TTC_DAYS),
        _monthly_counts(theft_loss.licensee, theft_loss.report_day, dealers, window),
        _monthly_counts(multiple.licensee, multiple.report_day, dealers, window),
        config,
        reference,
    )

    report("tables")
    # A revoked licensee stops appearing: nothing becomes known about it afterwards.
    revoked = history.revocation_day
    traces = traces.subset(traces.trace_day <= revoked[traces.licensee])
    multiple = multiple.subset(multiple.report_day <= revoked[multiple.licensee])
    theft_loss = theft_loss.subset(theft_loss.report_day <= revoked[theft_loss.licensee])
    inspections = inspections.subset(inspections.closed <= last)
    inspections = inspections.subset(
        _order(inspections.closed, inspections.licensee, inspections.opened)
    )

    numbers = pa.array(licensees.license_number, pa.string())
    inspections_frame = _inspections_frame(inspections, numbers)
    truth = _truth_frame(licensees, sales, history, last, config)
    # The label's true probability for an inspection opened the day after the window.
    truth["true_serious_probability"] = true_serious_probability(
        truth, inspections_frame, pd.Timestamp(end) + pd.Timedelta(days=1)
    ).to_numpy()
    world = World(
        dealers=_dealers_frame(licensees, sales, history, last),
        traces=_traces_frame(traces, numbers),
        multiple_sales=_multiple_sales_frame(multiple, numbers),
        inspections=inspections_frame,
        theft_loss=_theft_loss_frame(theft_loss, numbers),
        truth=truth,
        inspection_truth=_inspection_truth_frame(inspections, numbers),
        sales=_sales_frame(licensees, sales, history, window, reference),
        seed=seed,
        start=start,
        end=end,
        config=config,
    )
    return world


def _monthly_counts(licensee: np.ndarray, day: np.ndarray, n: int, window: MonthGrid) -> np.ndarray:
    month = month_of_days(day) - window.first_month
    return np.bincount(licensee * len(window) + month, minlength=n * len(window)).reshape(
        n, len(window)
    )


def _dates(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[us]")


def _optional_dates(days: np.ndarray) -> pd.Series:
    valid = days < NO_DAY
    out = np.full(len(days), np.datetime64("NaT"), dtype="datetime64[us]")
    out[valid] = _dates(days[valid])
    return pd.Series(out)


def _ids(prefix: str, count: int, width: int) -> pd.Series:
    """``prefix`` + a zero-padded sequence number, built in Arrow for speed."""
    numbers = pc.cast(pa.array(np.arange(1, count + 1, dtype=np.int64)), pa.string())
    padded = pc.utf8_lpad(numbers, width=width, padding="0")
    return _strings(pc.binary_join_element_wise(prefix, padded, ""))


def _strings(values: pa.Array | pa.ChunkedArray | np.ndarray) -> pd.Series:
    if isinstance(values, np.ndarray):
        values = pa.array(values, pa.string())
    return pd.Series(pd.array(values, dtype=pd.StringDtype("pyarrow", na_value=np.nan)))


def _take(numbers: pa.Array, rows: np.ndarray) -> pd.Series:
    return _strings(numbers.take(pa.array(rows)))


def _booleans(values: np.ndarray) -> pd.Series:
    """Tri-state int8 (-1 unknown, 0, 1) as pandas' nullable boolean."""
    out = pd.array(values == 1, dtype="boolean")
    out[values < 0] = pd.NA
    return pd.Series(out)


def _order(*keys: np.ndarray) -> np.ndarray:
    return np.lexsort(tuple(reversed(keys)))


def _annual_sales(
    licensees: Licensees, sales: SalesModel, history: InspectionHistory, last: int
) -> tuple[np.ndarray, np.ndarray]:
    """Average firearms sold per year while active in the window, and months active."""
    n_months = len(sales.grid)
    begin = np.maximum(sales.first_sale, sales.window_first)
    revoked_month = sales.grid.position(month_of_days(np.minimum(history.revocation_day, last)))
    stop = np.where(history.revocation_day < NO_DAY, revoked_month + 1, n_months)
    stop = np.maximum(stop, begin)
    sold = sales.licensee_sales(licensees, begin, stop)
    months = np.maximum(stop - begin, 0)
    return np.where(months > 0, sold / np.maximum(months, 1) * 12.0, 0.0), months


def _dealers_frame(
    licensees: Licensees, sales: SalesModel, history: InspectionHistory, last: int
) -> pd.DataFrame:
    annual, _ = _annual_sales(licensees, sales, history, last)
    urbanicity = np.array(URBANICITY_LEVELS, dtype=object)[licensees.urbanicity]
    return pd.DataFrame(
        {
            "license_number": _strings(licensees.license_number),
            "license_type": _strings(licensees.license_type),
            "business_name": _strings(licensees.business_name),
            "premise_city": _strings(licensees.premise_city),
            "premise_state": _strings(np.asarray(_state_codes(licensees))),
            "premise_zip": _strings(licensees.premise_zip),
            "county_fips": _strings(licensees.county_fips),
            "license_issue_date": _dates(licensees.issue_day),
            "annual_firearm_sales": np.round(annual).astype(np.int64),
            "field_division": _strings(licensees.field_division),
            "urbanicity": _strings(urbanicity),
        }
    )


def _state_codes(licensees: Licensees) -> np.ndarray:
    codes: np.ndarray = load_reference().state_codes[licensees.state]
    return codes


def _traces_frame(traces: Traces, numbers: pa.Array) -> pd.DataFrame:
    order = _order(traces.trace_day, traces.licensee, traces.purchase_day, traces.recovery_day)
    t = traces.subset(order)
    return pd.DataFrame(
        {
            "trace_id": _ids("T", len(t), 9),
            "license_number": _take(numbers, t.licensee),
            "firearm_type": _strings(np.array(FIREARM_TYPES, dtype=object)[t.firearm_type]),
            "caliber": _strings(t.caliber),
            "purchase_date": _dates(t.purchase_day),
            "recovery_date": _dates(t.recovery_day),
            "trace_date": _dates(t.trace_day),
            "recovery_country": _strings(np.where(t.mexico, "MX", "US").astype(object)),
            "recovery_state": _strings(t.recovery_state),
            "purchaser_is_possessor": _booleans(t.purchaser_is_possessor),
            "serial_obliterated": _booleans(t.serial_obliterated),
        }
    )


def _purchaser_keys(numbers: np.ndarray) -> pd.Series:
    text = pc.cast(pa.array(numbers.astype(np.int64)), pa.string())
    return _strings(pc.binary_join_element_wise("P", pc.utf8_lpad(text, width=15, padding="0"), ""))


def _multiple_sales_frame(multiple: MultipleSales, numbers: pa.Array) -> pd.DataFrame:
    order = _order(multiple.report_day, multiple.licensee, multiple.form, multiple.purchaser)
    m = multiple.subset(order)
    return pd.DataFrame(
        {
            "report_id": _ids("M", len(m), 9),
            "license_number": _take(numbers, m.licensee),
            "report_date": _dates(m.report_day),
            "form": _strings(np.array(FORMS, dtype=object)[m.form]),
            "firearm_count": m.firearm_count.astype(np.int64),
            "purchaser_key": _purchaser_keys(m.purchaser),
        }
    )


def _inspections_frame(inspections: Inspections, numbers: pa.Array) -> pd.DataFrame:
    i = inspections
    codes = i.violation_codes
    counts = np.array([0 if c is None else c.count(";") + 1 for c in codes], dtype=np.int64)
    return pd.DataFrame(
        {
            "inspection_id": _ids("I", len(i), 8),
            "license_number": _take(numbers, i.licensee),
            "inspection_date": _dates(i.closed),
            "inspection_type": _strings(
                np.array(INSPECTION_TYPES, dtype=object)[i.inspection_type]
            ),
            "outcome": _strings(np.array(OUTCOMES, dtype=object)[i.outcome]),
            "violation_count": counts,
            "missing_firearms": i.missing_firearms.astype(np.int64),
            "violation_codes": _strings(codes),
        }
    )


def _theft_loss_frame(theft_loss: TheftLoss, numbers: pa.Array) -> pd.DataFrame:
    order = _order(theft_loss.report_day, theft_loss.licensee)
    t = theft_loss.subset(order)
    return pd.DataFrame(
        {
            "report_id": _ids("L", len(t), 8),
            "license_number": _take(numbers, t.licensee),
            "report_date": _dates(t.report_day),
            "kind": _strings(np.where(t.theft, "theft", "loss").astype(object)),
            "firearm_count": t.firearm_count.astype(np.int64),
        }
    )


def _inspection_truth_frame(inspections: Inspections, numbers: pa.Array) -> pd.DataFrame:
    i = inspections
    return pd.DataFrame(
        {
            "inspection_id": _ids("I", len(i), 8),
            "license_number": _take(numbers, i.licensee),
            "opened_date": _dates(i.opened),
            "inspection_date": _dates(i.closed),
            "inspection_type": _strings(
                np.array(INSPECTION_TYPES, dtype=object)[i.inspection_type]
            ),
            "selection_reason": _strings(np.array(SELECTION_REASONS, dtype=object)[i.reason]),
            "propensity": i.propensity,
            "true_serious_probability": i.serious_probability,
            "careless_active": i.careless_active,
            "diverting_active": i.diverting_active,
            "serious": i.outcome >= WARNING_CONFERENCE,
        }
    )


def _truth_frame(
    licensees: Licensees,
    sales: SalesModel,
    history: InspectionHistory,
    last: int,
    config: GeneratorConfig,
) -> pd.DataFrame:
    cfg = config.inspections
    annual, _ = _annual_sales(licensees, sales, history, last)
    behaviour = np.where(
        licensees.diverter, "diverting", np.where(licensees.careless, "careless", "compliant")
    ).astype(object)
    serious_threshold = cfg.outcome_thresholds[WARNING_CONFERENCE - 1]
    careless_logit = cfg.careless_severity * licensees.careless
    frame = pd.DataFrame(
        {
            "license_number": _strings(licensees.license_number),
            "license_type": _strings(licensees.license_type),
            "premise_state": _strings(np.asarray(_state_codes(licensees))),
            "license_issue_date": _dates(licensees.issue_day),
            "behaviour_class": _strings(behaviour),
            "careless": licensees.careless,
            "diverter": licensees.diverter,
            "diversion_start_date": _optional_dates(licensees.diversion_start_day),
            "diverted_firearms_per_year": np.round(sales.diverted_share * annual, 2),
            "diverted_share_of_sales": np.round(sales.diverted_share, 5),
            "sales_weight": np.round(licensees.sales_weight, 5),
            "annual_firearm_sales": np.round(annual, 1),
            "crime_gun_rate_per_sale": np.round(licensees.crime_gun_rate, 6),
            "unobserved_trace_factor": np.round(licensees.trace_factor, 5),
            "unobserved_severity": np.round(licensees.severity_offset, 5),
            "revocation_date": _optional_dates(history.revocation_day),
            "reform_date": _optional_dates(history.reform_day),
            "severity_logit_base": licensees.severity_offset - serious_threshold,
            "severity_logit_careless": careless_logit,
            "severity_logit_careless_reformed": careless_logit * cfg.reform_factor,
            "severity_logit_diverting": cfg.diverting_severity * licensees.diverter,
            "severity_logit_repeat": np.full(len(licensees), cfg.repeat_severity),
        }
    )
    return frame


def _sales_frame(
    licensees: Licensees,
    sales: SalesModel,
    history: InspectionHistory,
    window: MonthGrid,
    reference: ReferenceData,
) -> pd.DataFrame:
    """Firearms sold per state and window month by the world's active licensees."""
    n_states = len(reference.states)
    n_months = len(sales.grid)
    begin = sales.first_sale
    revoked_month = sales.grid.position(
        month_of_days(np.minimum(history.revocation_day, window.lo[-1]))
    )
    stop = np.where(history.revocation_day < NO_DAY, revoked_month + 1, n_months)
    weight = np.zeros((n_states, n_months + 1))
    np.add.at(weight, (licensees.state, begin), licensees.sales_weight)
    np.add.at(weight, (licensees.state, np.maximum(stop, begin)), -licensees.sales_weight)
    active_weight = np.cumsum(weight, axis=1)[:, :n_months]
    sold = active_weight * sales.intensity
    offset = sales.window_first
    window_sold = sold[:, offset : offset + len(window)]
    months = np.datetime_as_string(window.months.astype("datetime64[M]"), unit="M")
    return pd.DataFrame(
        {
            "state": np.repeat(reference.state_codes, len(window)),
            "month": np.tile(months, n_states),
            "firearms_sold": np.round(window_sold.ravel(), 1),
        }
    )
