"""Mechanism mixes: each moves the mechanism it names, and the calibrated ones stay calibrated."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import typer
from pydantic import ValidationError
from typer.testing import CliRunner

from synthetic import (
    MIXES,
    GeneratorConfig,
    UnknownMechanism,
    World,
    config_for,
    generate_world,
    load_config,
    mixes_markdown,
    parse_mechanisms,
    world_calibration,
)
from tests.synthetic.test_synthetic_calibration import STABLE_ON_A_SMALL_WORLD

#: As small as the calibration figures that are stable on a small world allow.
SMALL = 6_000


@pytest.fixture(scope="module")
def worlds() -> dict[str, World]:
    """The default and every mix alone, on one seed (same licensees, other mechanisms)."""
    return {name: generate_world(config_for((name,)), seed=21, dealers=SMALL)
            for name in MIXES}


def test_default_mix_is_the_default_config() -> None:
    assert config_for(("default",)).model_dump(exclude={"mechanisms"}) == \
        GeneratorConfig().model_dump(exclude={"mechanisms"})
    assert config_for(()) == GeneratorConfig()


def test_mixes_apply_in_order_and_a_file_overrides_them(tmp_path: Path) -> None:
    config = config_for(("straw_rings", "risk_regulator"))
    assert config.mechanisms == ("straw_rings", "risk_regulator")
    assert config.multiple_sales.straw_share_of_diverted == 0.9
    assert config.inspections.risk_intercept == -5.8
    # Parameters no mix names keep their defaults.
    assert config.traces.crime_gun_probability_per_sale == 0.03
    path = tmp_path / "world.toml"
    path.write_text('mechanisms = ["careless_records"]\n[behaviour]\ncareless_share = 0.3\n')
    loaded = load_config(path, ("hidden_licensee_effect",))
    assert loaded.mechanisms == ("careless_records", "hidden_licensee_effect")
    assert loaded.behaviour.careless_share == 0.3  # the file wins over its mix
    assert loaded.behaviour.unobserved_severity_sigma == 1.4
    assert loaded.theft_loss.careless_rate_ratio == 4.0


def test_unknown_mechanism_is_refused_with_the_known_names(tmp_path: Path) -> None:
    with pytest.raises(UnknownMechanism, match=r"unknown mechanism mix 'straws'.*straw_rings"):
        parse_mechanisms("straw_rings,straws")
    path = tmp_path / "world.toml"
    path.write_text('mechanisms = ["nope"]\n')
    with pytest.raises((UnknownMechanism, ValidationError), match="nope"):
        load_config(path)
    assert parse_mechanisms(None) == ()
    assert parse_mechanisms(" straw_rings , risk_regulator ") == ("straw_rings", "risk_regulator")


def test_random_onset_diversion_starts_inside_the_window(worlds: dict[str, World]) -> None:
    default, onset = worlds["default"].truth, worlds["random_onset_diversion"].truth
    window_start = pd.Timestamp(dt.date(2014, 1, 1))
    assert onset["diverter"].sum() > 1.2 * default["diverter"].sum()
    starts = onset.loc[onset["diverter"], "diversion_start_date"]
    assert (starts >= window_start).all()
    assert (default.loc[default["diverter"], "diversion_start_date"] < window_start).any()


def _repeat_key_share(world: World) -> float:
    """Share of a diverter's multiple-sale reports whose purchaser bought there before."""
    diverters = set(world.truth.loc[world.truth["diverter"], "license_number"])
    reports = world.multiple_sales[world.multiple_sales["license_number"].isin(diverters)]
    return float(reports.duplicated(["license_number", "purchaser_key"]).mean())


def test_straw_rings_show_in_repeat_buyers_and_purchaser_not_possessor(
    worlds: dict[str, World],
) -> None:
    default, rings = worlds["default"], worlds["straw_rings"]
    assert _repeat_key_share(rings) > _repeat_key_share(default) + 0.1

    def not_possessor(world: World) -> float:
        diverters = set(world.truth.loc[world.truth["diverter"], "license_number"])
        traces = world.traces[world.traces["license_number"].isin(diverters)]
        return float((traces["purchaser_is_possessor"] == False).mean())  # noqa: E712

    assert not_possessor(rings) > not_possessor(default)


def test_careless_records_show_in_inspections_and_losses(worlds: dict[str, World]) -> None:
    default, careless = worlds["default"], worlds["careless_records"]
    assert careless.truth["careless"].mean() > 1.6 * default.truth["careless"].mean()
    assert len(careless.theft_loss) > 1.3 * len(default.theft_loss)
    assert careless.inspections["missing_firearms"].mean() > \
        default.inspections["missing_firearms"].mean()


def test_hidden_licensee_effect_widens_the_unobserved_factor(worlds: dict[str, World]) -> None:
    default, hidden = worlds["default"].truth, worlds["hidden_licensee_effect"].truth
    assert hidden["unobserved_severity"].std() > 1.7 * default["unobserved_severity"].std()


def test_risk_regulator_picks_more_by_risk(worlds: dict[str, World]) -> None:
    def risk_share(world: World) -> float:
        truth = world.inspection_truth
        compliance = truth[truth["selection_reason"] != "qualification"]
        return float((compliance["selection_reason"] == "risk").mean())

    assert risk_share(worlds["risk_regulator"]) > 1.3 * risk_share(worlds["default"])


@pytest.mark.parametrize("name", [name for name, mix in MIXES.items()
                                  if mix.calibrated and name != "default"])
def test_calibrated_mixes_keep_the_stable_figures_in_range(
    name: str, worlds: dict[str, World]
) -> None:
    world = worlds[name]
    checked = [figure for figure in world_calibration(world)
               if figure.figure.startswith(STABLE_ON_A_SMALL_WORLD)
               and figure.in_range is not None]
    assert len(checked) >= 18
    failing = [f"{f.figure}: {f.generated} (needs {f.required})" for f in checked
               if not f.in_range]
    assert not failing, failing


def test_docs_describe_every_mix() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "synthetic.md").read_text()
    assert mixes_markdown() in docs


def test_cli_generates_a_mix_and_refuses_an_unknown_one(tmp_path: Path) -> None:
    from cli import generate_commands

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Test app."""

    generate_commands.register(app)
    out = tmp_path / "world"
    result = CliRunner().invoke(app, ["generate", str(out), "--dealers", "600", "--seed", "3",
                                      "--mechanisms", "straw_rings,risk_regulator"])
    assert result.exit_code == 0, result.output
    assert (out / "multiple_sales.csv").exists()
    bad = CliRunner().invoke(app, ["generate", str(tmp_path / "x"), "--dealers", "600",
                                   "--mechanisms", "straws"])
    assert bad.exit_code == 2
    assert "unknown mechanism mix 'straws'" in bad.output
    assert not (tmp_path / "x").exists()
    config = tmp_path / "world.toml"
    config.write_text('mechanisms = ["straw_rings"]\n[behaviour]\ncareles_share = 0.2\n')
    misspelt = CliRunner().invoke(app, ["generate", str(tmp_path / "y"), "--dealers", "600",
                                        "--config", str(config)])
    assert misspelt.exit_code == 2
    assert "behaviour.careles_share" in misspelt.output
    assert "Traceback" not in misspelt.output
    assert not (tmp_path / "y").exists()
