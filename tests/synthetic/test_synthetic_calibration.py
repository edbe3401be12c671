"""Calibration figures that are stable on a small generated world, and the report itself.

Figures about the heavy tail (concentration of traces, Demand Letter 2) need 50,000
licensees or more; ``docs/calibration.md`` holds those, from an 80,000-licensee world.
"""

from __future__ import annotations

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from synthetic import (
    Figure,
    GeneratorConfig,
    World,
    calibration_markdown,
    generate_world,
    world_calibration,
)

STABLE_ON_A_SMALL_WORLD = (
    "active licensees of type",
    "licensees by state",
    "firearm sales by state and year",
    "2020 surge",
    "crime-gun traces per licensee-year",
    "time-to-crime under 1 year",
    "time-to-crime 3 years or less",
    "3310.4 reports per retail licensee-year",
    "3310.12 reports outside",
    "compliance inspections per licensee-year",
    "serious outcomes",
    "violation codes",
    "Mexico recoveries",
    "rifle share of Mexico recoveries",
)


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(GeneratorConfig(), seed=21, dealers=6_000)


@pytest.fixture(scope="module")
def figures(world: World) -> dict[str, Figure]:
    return {figure.figure: figure for figure in world_calibration(world)}


def test_stable_figures_are_in_range_on_a_small_world(figures: dict[str, Figure]) -> None:
    checked = [
        figure
        for name, figure in figures.items()
        if name.startswith(STABLE_ON_A_SMALL_WORLD) and figure.in_range is not None
    ]
    assert len(checked) >= 18
    failing = [f"{f.figure}: {f.generated} (needs {f.required})" for f in checked if not f.in_range]
    assert not failing, failing


def test_time_to_crime_shares_near_the_public_values(figures: dict[str, Figure]) -> None:
    under_one = figures["time-to-crime under 1 year (share of traces)"].value
    within_three = figures["time-to-crime 3 years or less (share of traces)"].value
    assert under_one == pytest.approx(0.25, abs=0.04)
    assert within_three == pytest.approx(0.48, abs=0.05)


def test_inspection_rate_and_serious_share(figures: dict[str, Figure]) -> None:
    assert figures["compliance inspections per licensee-year"].value == pytest.approx(
        0.12, abs=0.015
    )
    serious = figures["serious outcomes (warning conference or revocation) share of inspections"]
    assert serious.value == pytest.approx(0.045, abs=0.012)


def test_type_shares_follow_the_real_counts(figures: dict[str, Figure]) -> None:
    real = {"01": 0.640, "02": 0.082, "07": 0.255, "08": 0.023}
    for code, share in real.items():
        figure = figures[f"active licensees of type {code} (share of 01/02/07/08)"]
        assert figure.value == pytest.approx(share, abs=0.02)


def test_report_table_lists_every_figure(figures: dict[str, Figure]) -> None:
    table = calibration_markdown(list(figures.values()))
    lines = table.splitlines()
    assert lines[0].startswith("| figure | public value | generated | required range | in range |")
    assert len(lines) == len(figures) + 2
    for name in ("Demand Letter 2", "top 1.2%", "no trace", "Mexico"):
        assert name in table


def test_sales_follow_the_checks_through_2020(world: World) -> None:
    national = (
        world.sales.assign(year=world.sales["month"].str[:4]).groupby("year")["firearms_sold"].sum()
    )
    assert national["2020"] > 1.3 * national["2019"]
    assert national["2021"] > national["2019"]
    assert isinstance(world.sales, pd.DataFrame)


def test_cli_writes_files_and_prints_the_report(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from cli import generate_commands

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test app."""

    generate_commands.register(app)
    out = tmp_path / "world"
    result = CliRunner().invoke(
        app, ["generate", str(out), "--dealers", "800", "--seed", "2", "--calibration-report"]
    )
    assert result.exit_code == 0, result.output
    assert {p.name for p in out.iterdir()} == {
        "dealers.csv",
        "traces.csv",
        "multiple_sales.csv",
        "inspections.csv",
        "theft_loss.csv",
    }
    assert (tmp_path / "world.truth.csv").exists()
    assert "| figure | public value | generated | required range | in range |" in result.output
    assert "seed 2, 800 licensees" in result.output
