"""The synthetic world: deterministic, contract-conforming, visibly synthetic, with the
mechanisms (revocation, 3310.12 rule, planted diversion signal) the issue asks for."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from data.contract import LICENSE_NUMBER_PATTERN, TABLES, Kind
from synthetic import (
    GeneratorConfig,
    World,
    generate_world,
    load_config,
    read_tables,
    true_serious_probability,
    truth_companions,
    write_world,
)
from synthetic.reference import load_reference

REAL_DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "real"
SMALL = 3_000


@pytest.fixture(scope="module")
def world() -> World:
    return generate_world(GeneratorConfig(), seed=3, dealers=SMALL)


@pytest.fixture(scope="module")
def written(world: World, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synthetic") / "world"
    write_world(world, out)
    return out


def _files(out: Path) -> dict[str, bytes]:
    """Every written file's bytes, keyed by its name relative to ``out``."""
    tables = {path.name: path.read_bytes() for path in out.iterdir()}
    truth = truth_companions(out.with_name(out.name + ".truth.csv"))
    return tables | {f"truth:{kind}": path.read_bytes() for kind, path in truth.items()}


def test_same_seed_writes_identical_files(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_world(generate_world(seed=11, dealers=1_200), tmp_path / name)
    first, second = _files(tmp_path / "a"), _files(tmp_path / "b")
    assert sorted(first) == sorted(second)
    assert len(first) == 8  # five tables and three truth files
    for name in first:
        assert first[name] == second[name], name


def test_same_seed_writes_identical_parquet(tmp_path: Path) -> None:
    for name in ("a", "b"):
        write_world(generate_world(seed=11, dealers=800), tmp_path / name, file_format="parquet")
    for path in sorted((tmp_path / "a").iterdir()):
        assert path.suffix == ".parquet"
        assert path.read_bytes() == (tmp_path / "b" / path.name).read_bytes(), path.name


def test_another_seed_gives_another_world() -> None:
    one = generate_world(seed=1, dealers=500)
    two = generate_world(seed=2, dealers=500)
    assert not one.dealers["license_number"].equals(two.dealers["license_number"])


def test_written_files_follow_the_contract(written: Path) -> None:
    """Every column, enum, pattern, date, integer and boolean as the contract says."""
    dealers = pd.read_csv(written / "dealers.csv", dtype=str, keep_default_na=False)
    known = set(dealers["license_number"])
    for table in TABLES:
        frame = pd.read_csv(written / f"{table.name}.csv", dtype=str, keep_default_na=False)
        assert list(frame.columns) == table.column_names, table.name
        assert len(frame) > 0, table.name
        assert frame[table.id_column].is_unique, table.name
        for column in table.columns:
            values = frame[column.name]
            present = values[values != ""]
            if column.required:
                assert len(present) == len(values), f"{table.name}.{column.name} has blanks"
            if column.choices:
                assert set(present) <= set(column.choices), f"{table.name}.{column.name}"
            if column.pattern:
                assert present.str.fullmatch(column.pattern.strip("^$")).all(), column.name
            if column.max_length:
                assert present.str.len().max() <= column.max_length, column.name
            if column.kind == Kind.DATE:
                assert present.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all(), column.name
                pd.to_datetime(present, format="%Y-%m-%d")  # raises on an impossible date
            if column.kind == Kind.INTEGER:
                numbers = present.astype(int)
                assert (numbers >= (column.minimum or 0)).all(), column.name
            if column.kind == Kind.BOOLEAN:
                assert set(present) <= {"true", "false"}, column.name
        if table.references_dealers:
            assert set(frame["license_number"]) <= known, table.name


def test_dates_are_in_order_and_inside_the_window(world: World) -> None:
    traces = world.traces
    assert (traces["recovery_date"] >= traces["purchase_date"]).all()
    assert (traces["trace_date"] >= traces["recovery_date"]).all()
    low, high = pd.Timestamp(world.start), pd.Timestamp(world.end)
    for name, column in (
        ("traces", "trace_date"),
        ("multiple_sales", "report_date"),
        ("inspections", "inspection_date"),
        ("theft_loss", "report_date"),
    ):
        dates = world.tables()[name][column]
        assert dates.between(low, high).all(), name
    issue = world.dealers.set_index("license_number")["license_issue_date"]
    for name, column in (
        ("traces", "purchase_date"),
        ("multiple_sales", "report_date"),
        ("theft_loss", "report_date"),
    ):
        frame = world.tables()[name]
        assert (frame[column] > frame["license_number"].map(issue)).all(), name


def test_reading_back_gives_the_generated_tables(world: World, written: Path) -> None:
    tables = read_tables(written)
    for name, frame in world.tables().items():
        pd.testing.assert_frame_equal(
            tables[name], frame, check_dtype=False, check_exact=False, obj=name
        )


def test_multiple_sale_rifle_form_only_in_border_states_after_the_rule(tmp_path: Path) -> None:
    """A window straddling 2011-08-14: 3310.12 appears only after it, only in AZ/CA/NM/TX."""
    world = generate_world(
        seed=5, dealers=2_500, start=dt.date(2010, 1, 1), end=dt.date(2013, 12, 31)
    )
    reports = world.multiple_sales
    state = reports["license_number"].map(
        world.dealers.set_index("license_number")["premise_state"]
    )
    rifle = reports["form"] == "3310.12"
    assert rifle.sum() > 0
    assert set(state[rifle]) <= {"AZ", "CA", "NM", "TX"}
    assert reports.loc[rifle, "report_date"].min() >= pd.Timestamp("2011-08-14")
    assert (reports["form"] == "3310.4").sum() > rifle.sum()
    assert set(state[reports["form"] == "3310.4"]) - {"AZ", "CA", "NM", "TX"}


def test_revoked_licensees_stop_appearing(world: World) -> None:
    revoked = (
        world.inspections[world.inspections["outcome"] == "revocation"]
        .groupby("license_number")["inspection_date"]
        .min()
    )
    assert len(revoked) > 0
    for name, column in (
        ("traces", "trace_date"),
        ("multiple_sales", "report_date"),
        ("inspections", "inspection_date"),
        ("theft_loss", "report_date"),
    ):
        frame = world.tables()[name]
        limit = frame["license_number"].map(revoked)
        assert not (frame[column] > limit).any(), name
    truth = world.truth.set_index("license_number")["revocation_date"].dropna()
    assert truth.sort_index().equals(revoked.sort_index().rename("revocation_date"))
    # One revocation per licensee, and nothing inspected after it.
    assert (world.inspections["outcome"] == "revocation").sum() == len(revoked)


def test_names_and_numbers_are_visibly_synthetic(world: World) -> None:
    dealers = world.dealers
    assert dealers["business_name"].str.endswith("(synthetic)").all()
    assert dealers["license_number"].str.fullmatch(LICENSE_NUMBER_PATTERN.strip("^$")).all()
    # ZZ is no expiration code ATF issues (a year digit and a month letter A-M).
    assert (dealers["license_number"].str.split("-").str[4] == "ZZ").all()
    assert dealers["license_number"].is_unique
    # The license's type and county parts agree with the licensee's columns.
    parts = dealers["license_number"].str.split("-")
    assert (parts.str[3] == dealers["license_type"]).all()
    assert (parts.str[2] == dealers["county_fips"].str[2:]).all()


@pytest.mark.skipif(not REAL_DATA.exists(), reason="shared real data not present")
def test_no_real_licensee_appears(world: World) -> None:
    real = pd.read_csv(
        REAL_DATA / "atf-ffl-list-2013-06-partial.txt",
        sep="\t",
        dtype=str,
        skiprows=[1],
        encoding="latin-1",
    )
    real.columns = [column.strip() for column in real.columns]
    real_names = set(real["Business Name"].dropna().str.strip().str.upper())
    real_names |= set(real["License Name"].dropna().str.strip().str.upper())
    generated = world.dealers["business_name"].str.upper()
    assert not set(generated) & real_names
    stripped = generated.str.replace(r"\s*\(SYNTHETIC\)$", "", regex=True)
    # A generated name minus its marker may coincide with a real one by chance, but the
    # marker makes every generated name itself distinct from every real name.
    assert generated.ne(stripped).all()


def test_field_division_and_urbanicity_are_filled(world: World) -> None:
    dealers = world.dealers
    assert dealers["field_division"].notna().all()
    assert 20 <= dealers["field_division"].nunique() <= 25
    shares = dealers["urbanicity"].value_counts(normalize=True)
    assert set(shares.index) == {"urban", "suburban", "rural"}
    assert (shares > 0.15).all()
    texas = dealers[dealers["premise_state"] == "TX"]
    assert set(texas["field_division"]) == {"Dallas", "Houston"}
    assert (dealers["annual_firearm_sales"] >= 0).all()


def test_addresses_name_a_town_of_the_county_with_its_zip_code(world: World) -> None:
    """A generated address reads like a real one: a town of the licensee's county (not
    the county's name) with one of that town's ZIP codes; never a county seat's name with
    another state's ZIP code."""
    places = load_reference().places
    dealers = world.dealers
    pairs = set(zip(places["fips"], places["city"], places["zip"], strict=True))
    in_county = pd.Series([(f, c, z) in pairs for f, c, z in zip(
        dealers["county_fips"], dealers["premise_city"], dealers["premise_zip"],
        strict=True)])
    # Counties the ZIP table names no town for draw a town of their state instead.
    towns_by_county = set(places["fips"])
    assert in_county[dealers["county_fips"].isin(towns_by_county).to_numpy()].all()
    state_of_zip = dict(zip(places["zip"], places["fips"].str[:2], strict=True))
    statefp = dealers["county_fips"].str[:2]
    assert (dealers["premise_zip"].map(state_of_zip) == statefp).all()
    counties = load_reference().counties.set_index("fips")["county_name"]
    county_words = dealers["county_fips"].map(counties).str.replace(
        r" (County|Parish|Borough|city|Census Area|Municipality)$", "", regex=True)
    assert (dealers["premise_city"] != county_words).mean() > 0.8
    assert dealers["premise_city"].nunique() > SMALL / 5
    # Towns with more ZIP codes get more licensees, as a county's seat usually does.
    counts = dealers.groupby(["county_fips", "premise_city"]).size()
    assert counts.max() > 1


def _per_licensee(world: World) -> pd.DataFrame:
    traces = world.traces
    days = (traces["recovery_date"] - traces["purchase_date"]).dt.days
    truth = world.truth.set_index("license_number")
    frame = pd.DataFrame(
        {
            "short_ttc": traces[days <= 3 * 365.25]["license_number"].value_counts(),
            "mexico": traces[traces["recovery_country"] == "MX"]["license_number"].value_counts(),
            "traces": traces["license_number"].value_counts(),
        }
    ).reindex(truth.index, fill_value=0)
    frame["sales"] = world.dealers.set_index("license_number")["annual_firearm_sales"]
    frame["behaviour"] = truth["behaviour_class"]
    return frame


def test_diverters_have_more_short_ttc_traces_per_sale(world: World) -> None:
    """The planted signal: a diverter's guns reach crime quickly, per firearm it sells."""
    frame = _per_licensee(world)
    selling = frame[frame["sales"] >= 20]
    per_1k_sales = selling["short_ttc"] / selling["sales"] * 1000
    median = per_1k_sales.groupby(selling["behaviour"]).median()
    mean = per_1k_sales.groupby(selling["behaviour"]).mean()
    assert median["diverting"] > 5 * median["compliant"]
    assert mean["diverting"] > 3 * mean["compliant"]
    assert mean["careless"] > mean["compliant"]


def test_diverters_show_in_mexico_repeat_buyers_and_inspections(world: World) -> None:
    frame = _per_licensee(world)
    diverter = frame["behaviour"] == "diverting"
    share_of_mexico = frame.loc[diverter, "mexico"].sum() / frame["mexico"].sum()
    share_of_traces = frame.loc[diverter, "traces"].sum() / frame["traces"].sum()
    assert share_of_mexico > 3 * share_of_traces
    reports = world.multiple_sales
    repeated = reports.groupby(["license_number", "purchaser_key"]).size()
    repeat_share = (repeated >= 2).groupby(level=0).mean()
    diverters = frame.index[diverter]
    others = repeat_share.drop(diverters, errors="ignore")
    assert repeat_share.reindex(diverters).mean() > 2 * others.mean()
    checks = world.inspection_truth[world.inspection_truth["inspection_type"] == "compliance"]
    serious = checks.groupby("diverting_active")["serious"].mean()
    assert serious[True] > 5 * serious[False]


def test_inspection_truth_records_selection(world: World) -> None:
    truth = world.inspection_truth
    assert truth["inspection_id"].equals(world.inspections["inspection_id"])
    assert set(truth["selection_reason"]) == {"cycle", "random", "risk", "qualification"}
    assert truth["propensity"].between(0, 1, inclusive="right").all()
    assert (truth["opened_date"] <= truth["inspection_date"]).all()
    compliance = truth[truth["inspection_type"] == "compliance"]
    by_reason = compliance.groupby("selection_reason")["serious"].mean()
    # Selection bias: the risk rule finds serious cases more often than the cycle does.
    assert by_reason["risk"] > by_reason["cycle"]


def test_true_serious_probability_matches_the_simulation(world: World) -> None:
    truth = world.inspection_truth
    compliance = truth[truth["inspection_type"] == "compliance"].iloc[::25]
    for row in compliance.itertuples():
        probability = true_serious_probability(world.truth, world.inspections, row.opened_date)
        assert probability[row.license_number] == pytest.approx(
            row.true_serious_probability, abs=1e-12
        )
    at_end = true_serious_probability(
        world.truth, world.inspections, world.end + dt.timedelta(days=1)
    )
    revoked = world.truth.set_index("license_number")["revocation_date"].notna()
    assert at_end[revoked[revoked].index].isna().all()
    assert at_end[~revoked].between(0, 1).all()
    early = true_serious_probability(world.truth, world.inspections, "2014-01-01")
    issued_later = world.truth.set_index("license_number")["license_issue_date"] >= pd.Timestamp(
        "2014-01-01"
    )
    assert early[issued_later[issued_later].index].isna().all()


def test_truth_file_lives_outside_the_output_directory(tmp_path: Path) -> None:
    world = generate_world(seed=1, dealers=300)
    written = write_world(world, tmp_path / "out")
    names = {path.name for path in (tmp_path / "out").iterdir()}
    assert names == {f"{t.name}.csv" for t in TABLES}
    assert (tmp_path / "out.truth.csv") in written
    assert (tmp_path / "out.truth.inspections.csv").exists()
    with pytest.raises(ValueError, match="must not be inside"):
        write_world(world, tmp_path / "out", truth_path=tmp_path / "out" / "truth.csv")


def test_config_files_override_defaults(tmp_path: Path) -> None:
    toml = tmp_path / "world.toml"
    toml.write_text(
        "[behaviour]\ncareless_share = 0.5\n\n[inspections]\ncapacity_per_licensee_year = 0.2\n"
    )
    config = load_config(toml)
    assert config.behaviour.careless_share == 0.5
    assert config.inspections.capacity_per_licensee_year == 0.2
    assert config.traces == GeneratorConfig().traces
    yaml_file = tmp_path / "world.yaml"
    yaml_file.write_text("behaviour:\n  careless_share: 0.25\n")
    assert load_config(yaml_file).behaviour.careless_share == 0.25
    bad = tmp_path / "bad.toml"
    bad.write_text("[behaviour]\ncareles_share = 0.5\n")
    with pytest.raises(ValueError, match="careles_share"):
        load_config(bad)


def test_a_config_change_moves_its_mechanism() -> None:
    careful = generate_world(
        GeneratorConfig.model_validate({"behaviour": {"careless_share": 0.0}}),
        seed=4,
        dealers=1_500,
    )
    careless = generate_world(
        GeneratorConfig.model_validate({"behaviour": {"careless_share": 0.6}}),
        seed=4,
        dealers=1_500,
    )
    assert len(careless.theft_loss) > 1.5 * len(careful.theft_loss)
    assert not careful.truth["careless"].any()


def test_license_pattern_is_the_contracts() -> None:
    assert re.fullmatch(LICENSE_NUMBER_PATTERN.strip("^$"), "1-56-059-01-ZZ-21093")


def test_dealers_with_no_sales_have_no_traces(world: World) -> None:
    dealers = world.dealers.set_index("license_number")
    silent = dealers.index[dealers["license_type"] == "06"]
    assert not world.traces["license_number"].isin(silent).any()
    assert np.all(dealers.loc[silent, "annual_firearm_sales"] == 0)


def test_docs_list_every_parameter() -> None:
    """docs/synthetic.md documents every parameter of the config, with its default."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "synthetic.md").read_text()
    config = GeneratorConfig()
    for section_name in type(config).model_fields:
        section = getattr(config, section_name)
        if section_name == "mechanisms":  # the mixes it was built from, documented apart
            continue
        for name in type(section).model_fields:
            value = str(getattr(section, name)).replace("|", "/")
            assert f"| {section_name} | `{name}` | `{value}` |" in docs, f"{section_name}.{name}"
