"""The public figures of ``shared/calibration.md``, computed from a generated world.

:func:`calibration_figures` is a pure function of the contract tables (plus the sales per
state and month from the truth side, since sales are not a contract table) and the
reference data; it returns one :class:`Figure` per row with the public value, the
generated value and whether it lies in the required range. Definitions:

* "active": issued on or before the day and not revoked (a revocation is an inspection
  with outcome ``revocation``; the licensee is gone from its closing date).
* licensee-years: each licensee's active days inside the window / 365.25.
* "a year" (concentration, no-trace share, Demand Letter 2): the last full calendar year
  of the window, among licensees active at some point in it.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from synthetic.reference import ReferenceData, load_reference

BORDER_STATES = ("AZ", "CA", "NM", "TX")
RIFLE_FORM_EFFECTIVE = pd.Timestamp("2011-08-14")
SHORT_TTC_DAYS = 3 * 365.25


@dataclass(frozen=True)
class Figure:
    """One calibration figure: public value, generated value, required range, verdict.

    ``in_range`` is None for figures shown for information only.
    """

    figure: str
    public_value: str
    generated: str
    required: str
    in_range: bool | None
    value: float | None = None


def _check(value: float, low: float | None, high: float | None) -> bool:
    if math.isnan(value):
        return False
    return (low is None or value >= low) and (high is None or value <= high)


def _exposure_years(
    dealers: pd.DataFrame, revocation: pd.Series, start: pd.Timestamp, end: pd.Timestamp
) -> pd.Series:
    """Active years inside ``[start, end]`` per licensee, indexed by license number."""
    issue = pd.to_datetime(dealers["license_issue_date"]).fillna(start)
    begin = issue.where(issue > start, start)
    revoked = dealers["license_number"].map(revocation)
    stop = pd.to_datetime(revoked).fillna(end + pd.Timedelta(days=1))
    stop = stop.where(stop <= end + pd.Timedelta(days=1), end + pd.Timedelta(days=1))
    days = (stop - begin).dt.days.clip(lower=0)
    return pd.Series(days.to_numpy() / 365.25, index=dealers["license_number"].to_numpy())


def _revocations(inspections: pd.DataFrame) -> pd.Series:
    revoked = inspections[inspections["outcome"] == "revocation"]
    return revoked.groupby("license_number")["inspection_date"].min()


def _active_between(
    dealers: pd.DataFrame, revocation: pd.Series, low: pd.Timestamp, high: pd.Timestamp
) -> pd.Series:
    """Licensees active at some point in ``[low, high]`` (boolean, by dealers row)."""
    issue = pd.to_datetime(dealers["license_issue_date"])
    revoked = pd.to_datetime(dealers["license_number"].map(revocation))
    return (issue.isna() | (issue <= high)) & (revoked.isna() | (revoked > low))


def _nics_state_year(reference: ReferenceData) -> pd.DataFrame:
    monthly = reference.nics_monthly.assign(year=lambda f: f["month"].str[:4].astype(int))
    columns = ["handgun", "long_gun", "other", "multiple"]
    combined = pd.concat(
        [monthly.groupby(["year", "state"], as_index=False)[columns].sum(), reference.nics_annual]
    )
    combined["checks"] = (
        combined["handgun"] + combined["long_gun"] + combined["other"] + 2 * combined["multiple"]
    )
    return combined[["year", "state", "checks"]]


def calibration_figures(
    tables: Mapping[str, pd.DataFrame],
    sales: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    reference: ReferenceData | None = None,
) -> list[Figure]:
    """Every figure of ``shared/calibration.md`` for a generated world over ``[start, end]``.

    ``tables`` maps contract table names to DataFrames; ``sales`` has ``state``,
    ``month`` (``YYYY-MM``) and ``firearms_sold``.
    """
    reference = reference or load_reference()
    dealers = tables["dealers"]
    traces = tables["traces"]
    multiple = tables["multiple_sales"]
    inspections = tables["inspections"]
    window_start, window_end = pd.Timestamp(start), pd.Timestamp(end)
    revocation = _revocations(inspections)
    exposure = _exposure_years(dealers, revocation, window_start, window_end)
    license_type = dealers.set_index("license_number")["license_type"]
    state_of = dealers.set_index("license_number")["premise_state"]
    retail = license_type.isin(["01", "02"])
    figures: list[Figure] = []

    # Licensees by type and state, active at the end of the window.
    active_end = _active_between(dealers, revocation, window_end, window_end)
    active = dealers[active_end.to_numpy()]
    main = active[active["license_type"].isin(["01", "02", "07", "08"])]
    real_types = reference.license_types.set_index("license_type")["count_2023"]
    real_type_share = real_types / real_types.sum()
    generated_type_share = main["license_type"].value_counts(normalize=True)
    for code in real_type_share.index.astype(str):
        share = float(real_type_share[code])
        value = float(generated_type_share.get(code, 0.0))
        figures.append(
            Figure(
                f"active licensees of type {code} (share of 01/02/07/08)",
                f"{share:.1%} ({int(real_types[code]):,} of {int(real_types.sum()):,})",
                f"{value:.1%}",
                "within ±3 points",
                abs(value - share) <= 0.03,
                value,
            )
        )
    real_states = reference.states.set_index("state")["ffl_count_2023"]
    generated_states = (
        active["premise_state"].value_counts().reindex(real_states.index, fill_value=0)
    )
    r_states = float(
        np.corrcoef(real_states / real_states.sum(), generated_states / max(len(active), 1))[0, 1]
    )
    figures.append(
        Figure(
            "licensees by state: Pearson r of state shares",
            "TX 8,382 · FL 4,301 · PA 3,242 · NC 3,004 · OH 2,860 …",
            f"{r_states:.3f}",
            "r ≥ 0.95",
            _check(r_states, 0.95, None),
            r_states,
        )
    )

    # Sales by state and year follow the checks; the 2020 surge shows.
    monthly = sales.assign(year=sales["month"].str[:4].astype(int))
    month_count = monthly.groupby("year")["month"].nunique()
    full_years = month_count[month_count == 12].index
    yearly = (
        monthly[monthly["year"].isin(full_years)]
        .groupby(["year", "state"])["firearms_sold"]
        .sum()
        .reset_index()
    )
    joined = yearly.merge(_nics_state_year(reference), on=["year", "state"], how="inner")
    r_sales = (
        float(np.corrcoef(joined["firearms_sold"], joined["checks"])[0, 1])
        if len(joined) > 2
        else float("nan")
    )
    national = yearly.groupby("year")["firearms_sold"].sum()
    surge = (
        float(national.get(2020, np.nan) / national.get(2019, np.nan))
        if {2019, 2020} <= set(national.index)
        else float("nan")
    )
    figures.append(
        Figure(
            "firearm sales by state and year vs NICS checks: Pearson r",
            "background checks by state and month",
            f"{r_sales:.3f} over {len(joined)} state-years",
            "r ≥ 0.8",
            _check(r_sales, 0.8, None),
            r_sales,
        )
    )
    figures.append(
        Figure(
            "2020 surge: national sales 2020 / 2019",
            "checks rose about 40% in 2020",
            "n/a" if math.isnan(surge) else f"{surge:.2f}",
            "≥ 1.2 (surge visible)",
            None if math.isnan(surge) else _check(surge, 1.2, None),
            surge,
        )
    )

    # Traces per retail licensee-year.
    trace_type = traces["license_number"].map(license_type)
    retail_years = float(exposure[retail.reindex(exposure.index).to_numpy()].sum())
    per_year = (
        float((trace_type.isin(["01", "02"])).sum() / retail_years)
        if retail_years
        else float("nan")
    )
    figures.append(
        Figure(
            "crime-gun traces per licensee-year (types 01/02)",
            "about 400,000 a year (2022) over the country's licensees",
            f"{per_year:.2f}",
            "3-6",
            _check(per_year, 3.0, 6.0),
            per_year,
        )
    )

    ttc_days = (
        pd.to_datetime(traces["recovery_date"]) - pd.to_datetime(traces["purchase_date"])
    ).dt.days
    under_one = float((ttc_days < 365.25).mean())
    within_three = float((ttc_days <= SHORT_TTC_DAYS).mean())
    mean_years = float(ttc_days.mean() / 365.25)
    figures.append(
        Figure(
            "time-to-crime under 1 year (share of traces)",
            "about 25%",
            f"{under_one:.1%}",
            "0.18-0.32",
            _check(under_one, 0.18, 0.32),
            under_one,
        )
    )
    figures.append(
        Figure(
            "time-to-crime 3 years or less (share of traces)",
            "46-54% (2017-2022)",
            f"{within_three:.1%}",
            "0.40-0.60",
            _check(within_three, 0.40, 0.60),
            within_three,
        )
    )
    figures.append(
        Figure(
            "average time-to-crime (years)",
            "6.3 (2022)",
            f"{mean_years:.1f}",
            "(information)",
            None,
            mean_years,
        )
    )

    # One recent year: concentration, licensees without traces, Demand Letter 2.
    year = (
        window_end.year if window_end.month == 12 and window_end.day == 31 else window_end.year - 1
    )
    year_low, year_high = pd.Timestamp(year, 1, 1), pd.Timestamp(year, 12, 31)
    trace_date = pd.to_datetime(traces["trace_date"])
    in_year = traces[(trace_date >= year_low) & (trace_date <= year_high)]
    active_year = dealers.loc[
        _active_between(dealers, revocation, year_low, year_high).to_numpy(), "license_number"
    ]
    counts = in_year["license_number"].value_counts().reindex(active_year, fill_value=0)
    top_n = max(1, math.ceil(0.012 * len(counts)))
    top_share = float(np.sort(counts.to_numpy())[::-1][:top_n].sum() / max(counts.sum(), 1))
    no_trace = float((counts == 0).mean()) if len(counts) else float("nan")
    year_ttc = (
        pd.to_datetime(in_year["recovery_date"]) - pd.to_datetime(in_year["purchase_date"])
    ).dt.days
    short_counts = in_year[year_ttc <= SHORT_TTC_DAYS]["license_number"].value_counts()
    threshold = 25 if year >= 2018 else 10
    dl2 = (
        float((short_counts.reindex(active_year, fill_value=0) >= threshold).mean())
        if len(counts)
        else float("nan")
    )
    figures.append(
        Figure(
            f"top 1.2% of licensees' share of {year}'s traces",
            "57% (1998); 1% → 50% (Pennsylvania 2014-20)",
            f"{top_share:.1%}",
            "0.40-0.70",
            _check(top_share, 0.40, 0.70),
            top_share,
        )
    )
    figures.append(
        Figure(
            f"licensees with no trace in {year}",
            "about 85%",
            f"{no_trace:.1%}",
            "0.60-0.92",
            _check(no_trace, 0.60, 0.92),
            no_trace,
        )
    )
    figures.append(
        Figure(
            f"Demand Letter 2: licensees with ≥ {threshold} traces of TTC ≤ 3 years in {year}",
            "about 1,200 dealers in 2022 (~2%)",
            f"{dl2:.2%} ({round(dl2 * len(counts))})",
            "0.5-4%",
            _check(dl2, 0.005, 0.04),
            dl2,
        )
    )

    # Multiple-sale reports.
    form = multiple["form"]
    ms_type = multiple["license_number"].map(license_type)
    reports_4 = (
        float(((form == "3310.4") & ms_type.isin(["01", "02"])).sum() / retail_years)
        if retail_years
        else float("nan")
    )
    figures.append(
        Figure(
            "3310.4 reports per retail licensee-year (01/02)",
            "about 140,000 a year",
            f"{reports_4:.2f}",
            "1-4",
            _check(reports_4, 1.0, 4.0),
            reports_4,
        )
    )
    rifle = multiple[form == "3310.12"]
    misplaced = int(
        (
            ~rifle["license_number"].map(state_of).isin(BORDER_STATES)
            | (pd.to_datetime(rifle["report_date"]) < RIFLE_FORM_EFFECTIVE)
        ).sum()
    )
    figures.append(
        Figure(
            "3310.12 reports outside AZ/CA/NM/TX or before 2011-08-14",
            "3310.12 only in AZ, CA, NM, TX since 2011-08-14",
            f"{misplaced} of {len(rifle):,}",
            "0",
            misplaced == 0,
            float(misplaced),
        )
    )

    # Inspections.
    compliance = inspections[inspections["inspection_type"] == "compliance"]
    all_years = float(exposure.sum())
    per_licensee = float(len(compliance) / all_years) if all_years else float("nan")
    figures.append(
        Figure(
            "compliance inspections per licensee-year",
            "9,696 (FY2024) over about 79,000 licensees (~12%)",
            f"{per_licensee:.3f}",
            "0.08-0.16",
            _check(per_licensee, 0.08, 0.16),
            per_licensee,
        )
    )
    outcome_share = compliance["outcome"].value_counts(normalize=True)
    serious = float(outcome_share.reindex(["warning_conference", "revocation"], fill_value=0).sum())
    figures.append(
        Figure(
            "serious outcomes (warning conference or revocation) share of inspections",
            "4.2% (2.2% + 2.0%, FY2024)",
            f"{serious:.1%}",
            "0.03-0.08",
            _check(serious, 0.03, 0.08),
            serious,
        )
    )
    mix = " · ".join(
        f"{name} {outcome_share.get(name, 0.0):.1%}"
        for name in (
            "no_violations",
            "violations_cited",
            "warning_letter",
            "warning_conference",
            "revocation",
        )
    )
    figures.append(
        Figure(
            "inspection outcome mix",
            "53.7% · 17.4% · 7.4% · 2.2% · 2.0% (+15.3% surrendered)",
            mix,
            "(information)",
            None,
            None,
        )
    )
    figures.extend(_never_inspected(dealers, compliance, revocation, window_start, window_end))

    # Violation codes among warning letters or worse, against the 2015-2017 reports.
    severe = compliance[
        compliance["outcome"].isin(["warning_letter", "warning_conference", "revocation"])
    ]
    codes = reference.violation_codes
    cited = severe["violation_codes"].fillna("").str.split(";")
    exploded = cited.explode()
    shares = exploded[exploded != ""].groupby(level=0).unique().explode().value_counts() / max(
        len(severe), 1
    )
    generated_share = shares.reindex(codes["code"], fill_value=0.0).to_numpy(dtype=float)
    real_share = codes["share_of_reports"].to_numpy(dtype=float)
    r_codes = float(np.corrcoef(real_share, generated_share)[0, 1]) if len(severe) else float("nan")
    top = min(7, len(codes))
    worst = (
        float(np.max(np.abs(real_share[:top] - generated_share[:top])))
        if len(severe)
        else float("nan")
    )
    shown = " · ".join(f"{codes['code'][k]} {generated_share[k]:.0%}" for k in range(top))
    figures.append(
        Figure(
            "violation codes (warning letter or worse): r of citing shares",
            "478.124(c)(1) 59% · 478.21(a) 57% · 478.125(e) 52% · …",
            f"{r_codes:.3f}; {shown}",
            "r ≥ 0.9 and top 7 within ±10 points",
            _check(r_codes, 0.9, None) and worst <= 0.10,
            r_codes,
        )
    )

    # Mexico.
    mexico = traces[traces["recovery_country"] == "MX"]
    known_seller = (
        float(mexico["license_number"].isin(dealers["license_number"]).mean())
        if len(mexico)
        else float("nan")
    )
    border = (
        float(mexico["license_number"].map(state_of).isin(BORDER_STATES).mean())
        if len(mexico)
        else float("nan")
    )
    rifles = float((mexico["firearm_type"] == "rifle").mean()) if len(mexico) else float("nan")
    figures.append(
        Figure(
            "Mexico recoveries traced to a generated licensee's sale",
            "70% U.S.-sourced",
            f"{known_seller:.0%} of {len(mexico):,}",
            "100%",
            _check(known_seller, 1.0, None),
            known_seller,
        )
    )
    figures.append(
        Figure(
            "Mexico recoveries sold in border states",
            "most from TX, AZ, CA",
            f"{border:.1%}",
            "≥ 50% (mostly)",
            _check(border, 0.5, None),
            border,
        )
    )
    figures.append(
        Figure(
            "rifle share of Mexico recoveries",
            "about half long guns",
            f"{rifles:.1%}",
            "≥ 35%",
            _check(rifles, 0.35, None),
            rifles,
        )
    )

    # The sales concentration the size distribution was set from (information).
    sales_sorted = np.sort(
        dealers.loc[retail.to_numpy(), "annual_firearm_sales"].to_numpy(dtype=float)
    )[::-1]
    if len(sales_sorted):
        top_retail = sales_sorted[: max(1, math.ceil(0.117 * len(sales_sorted)))].sum() / max(
            sales_sorted.sum(), 1
        )
        figures.append(
            Figure(
                "top 11.7% of retailers' share of sales",
                "81.5% (California, Wintemute 2005)",
                f"{top_retail:.1%}",
                "(information)",
                None,
                float(top_retail),
            )
        )
    return figures


def _never_inspected(
    dealers: pd.DataFrame,
    compliance: pd.DataFrame,
    revocation: pd.Series,
    start: pd.Timestamp,
    end: pd.Timestamp,
) -> list[Figure]:
    """Share of licensees active over the window's first five years never inspected then."""
    horizon = start + pd.DateOffset(years=5)
    if horizon > end:
        return []
    issue = pd.to_datetime(dealers["license_issue_date"])
    revoked = pd.to_datetime(dealers["license_number"].map(revocation))
    whole = dealers.loc[
        ((issue < start) & (revoked.isna() | (revoked >= horizon))).to_numpy(), "license_number"
    ]
    dates = pd.to_datetime(compliance["inspection_date"])
    seen = compliance.loc[(dates >= start) & (dates < horizon), "license_number"].unique()
    share = float((~whole.isin(seen)).mean()) if len(whole) else float("nan")
    return [
        Figure(
            "licensees not inspected within 5 years",
            "58% (DOJ OIG 2013)",
            f"{share:.1%}",
            "(information)",
            None,
            share,
        )
    ]


def all_in_range(figures: list[Figure]) -> bool:
    """True when every checked figure lies in its required range."""
    return all(figure.in_range for figure in figures if figure.in_range is not None)


def calibration_markdown(figures: list[Figure]) -> str:
    """The figures as a Markdown table."""
    lines = [
        "| figure | public value | generated | required range | in range |",
        "|---|---|---|---|---|",
    ]
    for figure in figures:
        verdict = "-" if figure.in_range is None else ("yes" if figure.in_range else "**NO**")
        lines.append(
            f"| {figure.figure} | {figure.public_value} | {figure.generated} | "
            f"{figure.required} | {verdict} |"
        )
    return "\n".join(lines)
