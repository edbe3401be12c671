"""What a user's mistakes look like: one line on stderr, a non-zero exit, no traceback.

Each runs the real ``dealer-risk`` command in its own process, as a user types it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pydantic
import pytest

from cli.main import COMMAND_MODULES, app
from cli.options import validation_problem
from tests.cli.test_model_cli import loaded_home as loaded_home  # a fixture

DEALER_RISK = Path(sys.executable).with_name("dealer-risk")


def _environment(home: Path | None, env: dict[str, str]) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items()
            if k not in ("DEALER_RISK_HOME", "DEALER_RISK_DATABASE_URL", "MLFLOW_TRACKING_URI")}
    if home is not None:
        base["DEALER_RISK_HOME"] = str(home)
    return {**base, **env}


def run(home: Path | None, *args: str, cwd: Path | None = None,
        **env: str) -> subprocess.CompletedProcess[str]:
    """``dealer-risk ARGS`` in a fresh process with ``home`` as DEALER_RISK_HOME."""
    return subprocess.run([str(DEALER_RISK), *args], capture_output=True, text=True,
                          env=_environment(home, env), cwd=cwd, timeout=120, check=False)


def run_together(home: Path | None, *commands: list[str],
                 **env: str) -> list[subprocess.CompletedProcess[str]]:
    """Commands that do not depend on each other, each in its own process, all at once
    (each process spends seconds importing; side by side they share the machine's cores)."""
    processes = [(command, subprocess.Popen(
        [str(DEALER_RISK), *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=_environment(home, env))) for command in commands]
    results = []
    for command, process in processes:
        stdout, stderr = process.communicate(timeout=120)
        results.append(subprocess.CompletedProcess([str(DEALER_RISK), *command],
                                                   process.returncode, stdout, stderr))
    return results


def assert_one_line_error(result: subprocess.CompletedProcess[str], code: int,
                          *words: str) -> str:
    """The command failed with ``code`` and one ``error:`` line naming ``words``."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.stderr
    for word in words:
        assert word in errors[0]
    return errors[0]


@pytest.fixture
def listening_port() -> Iterator[int]:
    """A port something already listens on."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def test_no_command_module_imports_a_model_library_until_it_is_used() -> None:
    # `dealer-risk --help` imports every command's module, and a usage error (a bad date)
    # is raised once its command's module is imported: LightGBM, scikit-learn, matplotlib
    # and MLflow are imported where they are used, so both answer in about a second.
    script = ("import importlib, json, sys\n"
              "from cli.main import COMMAND_MODULES\n"
              "for module in dict.fromkeys(COMMAND_MODULES.values()):\n"
              "    importlib.import_module(module)\n"
              "print(json.dumps(sorted(name for name in sys.modules)))\n")
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], capture_output=True,
                                       text=True, check=True, timeout=120).stdout)
    assert "cli.model_commands" in loaded and "training.pipeline" in loaded
    heavy = {"lightgbm", "sklearn", "matplotlib", "mlflow", "shap", "optuna"}
    assert not heavy & {name.split(".")[0] for name in loaded}


def test_every_bad_setting_is_worded_alike() -> None:
    class Limits(pydantic.BaseModel):
        lock: pydantic.PositiveFloat
        audit: pydantic.PositiveFloat

        @pydantic.model_validator(mode="after")
        def lock_below_audit(self) -> Limits:
            if self.lock >= self.audit:
                raise ValueError("the lock wait must be shorter than the audit wait")
            return self

    with pytest.raises(pydantic.ValidationError) as two:
        Limits(lock=-1, audit="x")
    assert validation_problem(two.value, Path("exp.toml")) == (
        "exp.toml: lock: Input should be greater than 0 (and 1 more)")
    with pytest.raises(pydantic.ValidationError) as whole:
        Limits(lock=5, audit=2)
    # A rule of the whole (no field): the reason alone, without pydantic's prefix.
    assert validation_problem(whole.value) == "the lock wait must be shorter than the audit wait"


def test_promoting_a_version_that_does_not_exist_is_a_usage_error(tmp_path: Path) -> None:
    assert_one_line_error(run(tmp_path / "home", "promote", "99"), 2, "no version '99'")


def test_a_missing_champion_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (tmp_path / "empty").mkdir()
    run(home, "ingest", str(tmp_path / "empty"))  # rejected, but the store now exists
    score, plan, report, monitor = run_together(
        home, ["score", "--as-of", "2023-01-01", "--out", str(tmp_path / "s.csv")],
        ["plan", "--as-of", "2023-01-01", "--out", str(tmp_path / "p.csv")],
        ["report", "--as-of", "2023-01-01", "--out", str(tmp_path / "report")],
        ["monitor", "--as-of", "2023-01-01"])
    assert_one_line_error(score, 1, "champion")
    assert_one_line_error(plan, 2, "no champion")
    assert not (tmp_path / "s.csv").exists()
    assert_one_line_error(report, 1, "no licensees yet")
    assert_one_line_error(monitor, 2, "no champion")


def test_a_bad_date_is_a_usage_error_naming_the_option(tmp_path: Path) -> None:
    result, unknown, bogus = run_together(tmp_path / "home", ["train", "--as-of", "2023-13-01"],
                                          ["no-such-command"], ["plan", "--bogus"])
    line = assert_one_line_error(result, 2, "--as-of", "2023-13-01")
    assert result.stderr.strip() == line  # nothing else: no usage box
    assert_one_line_error(unknown, 2, "no-such-command")
    assert_one_line_error(bogus, 2, "--bogus")


def test_a_bad_experiment_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.toml"
    wrong.write_text('name = "x"\n[model]\nnum_boost_round = "many"\n')
    broken = tmp_path / "broken.toml"
    broken.write_text('name = "x\n')
    bad_field, bad_toml = run_together(
        tmp_path / "home", ["train", "--as-of", "2023-01-01", "--experiment", str(wrong)],
        ["train", "--as-of", "2023-01-01", "--experiment", str(broken)])
    assert_one_line_error(bad_field, 2, str(wrong), "model.num_boost_round", "valid integer")
    assert_one_line_error(bad_toml, 2, str(broken), "not valid TOML")


@pytest.mark.postgres
def test_a_store_that_cannot_be_opened_is_named(tmp_path: Path, postgres_url: str) -> None:
    missing = postgres_url.split("?")[0].rsplit("/", 1)[0] + "/no_such_database_here"
    error = assert_one_line_error(
        run(tmp_path / "home", "status", DEALER_RISK_DATABASE_URL=missing), 1,
        "cannot open the store", "no_such_database_here")
    assert "does not exist" in error


def test_a_home_that_cannot_be_created_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    assert_one_line_error(run(blocker / "home", "ingest", str(tmp_path)), 1,
                          "cannot open the store", str(blocker))


def test_a_read_only_command_on_a_missing_store_says_where_it_looked(tmp_path: Path) -> None:
    home = tmp_path / "elsewhere"
    for result in run_together(
            home, ["features", "--as-of", "2023-01-01", "--out", str(tmp_path / "f.csv")],
            ["train", "--as-of", "2023-01-01"]):
        assert_one_line_error(result, 1, "there is no store at", str(home / "store.db"))
    assert not (home / "store.db").exists()


def test_status_reads_without_creating_a_store(tmp_path: Path) -> None:
    # Run from a folder with no state and no DEALER_RISK_HOME: the default ./.dealer-risk.
    result = run(None, "status", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["store_exists"] is False
    assert report["home"] == str((tmp_path / ".dealer-risk").resolve())
    assert report["store"].endswith(".dealer-risk/store.db") and report["dealers"] == 0
    assert "does not exist (nothing was created" in result.stderr
    assert not (tmp_path / ".dealer-risk").exists()
    # Once a command that writes has created the store, status says it exists.
    (tmp_path / "empty").mkdir()
    run(None, "ingest", str(tmp_path / "empty"), cwd=tmp_path)  # rejected, store created
    again = run(None, "status", "--quiet", cwd=tmp_path)
    assert json.loads(again.stdout)["store_exists"] is True and again.stderr == ""


@pytest.mark.parametrize("command", [["serve"], ["demo", "--dealers", "500"], ["mlflow-ui"]])
def test_a_port_in_use_fails_at_once(tmp_path: Path, listening_port: int,
                                     command: list[str]) -> None:
    home = tmp_path / "home"
    assert_one_line_error(run(home, *command, "--port", str(listening_port)), 2,
                          f"port {listening_port}", "already in use")
    # The demo fails before it generates anything.
    assert not (home / "demo").exists()


def test_a_bad_serving_setting_is_named_before_anything_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    assert_one_line_error(run(home, "serve", "--port", port, DEALER_RISK_LOCK_WAIT_SECONDS="9"),
                          2, "DEALER_RISK_LOCK_WAIT_SECONDS must be shorter than "
                          "DEALER_RISK_AUDIT_WAIT_SECONDS")
    assert_one_line_error(run(home, "serve", "--port", port, DEALER_RISK_RELOAD_SECONDS="often"),
                          2, "DEALER_RISK_RELOAD_SECONDS", "valid number")
    assert not home.exists()


def _all_commands() -> list[list[str]]:
    names: list[list[str]] = [[]]
    for name in COMMAND_MODULES:
        names.append([name])
    names += [["import", "atf-ffl-list"], ["users", "add"]]
    return names


@pytest.mark.parametrize("command", _all_commands(), ids=lambda c: " ".join(c) or "root")
def test_help_shows_no_flag_as_taking_a_value(command: list[str]) -> None:
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, [*command, "--help"], terminal_width=100)
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.output and "BOOLEAN" not in result.output
    for flag in ("--help", "--no-serve", "--force", "--quiet", "--json"):
        for line in result.output.splitlines():
            if f"{flag} " in line:
                # A flag's row holds its name and its help, never a value's type.
                assert "<" not in line.split(flag, 1)[1].split("  ")[0]



def test_a_champion_from_an_older_feature_catalogue_is_named(loaded_home: Path,
                                                             tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd
    from typer.testing import CliRunner

    from data.settings import get_settings
    from models.bundle import ModelBundle
    from models.calibration import PlattCalibrator
    from models.estimator import RiskModel
    from models.registry import log_training_run, set_champion

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a_feature_no_longer_computed": rng.random(200)})
    y = (rng.random(200) < 0.2).astype(int)
    model = RiskModel(num_boost_round=5).fit(X, y)
    bundle = ModelBundle(model, PlattCalibrator.fit(model.predict_raw(X), y), [], {})
    tracking = get_settings().mlflow_tracking_uri
    logged = log_training_run(tracking, loaded_home / "mlflow-artifacts", bundle, params={},
                              metrics={}, tags={})
    set_champion(tracking, logged.version)
    result = CliRunner().invoke(app, ["score", "--as-of", "2023-01-01", "--out",
                                      str(tmp_path / "s.csv")])
    assert result.exit_code == 1, result.output
    assert "a_feature_no_longer_computed" in result.stderr
    assert "train and promote a new version" in result.stderr
    assert not (tmp_path / "s.csv").exists()



def _help_paths() -> list[list[str]]:
    from typer.main import get_command

    root = get_command(app)
    paths = [[name] for name in root.list_commands(None)]  # type: ignore[attr-defined]
    for group in ("import", "users"):
        sub = root.get_command(None, group)  # type: ignore[attr-defined]
        paths += [[group, name] for name in sub.list_commands(None)]
    return paths


@pytest.mark.parametrize("path", _help_paths(), ids=" ".join)
def test_help_paragraphs_wrap_to_the_terminal_not_to_the_source(path: list[str]) -> None:
    """On a wide terminal each paragraph of a command's help is one line: none breaks where
    its docstring's source line happened to end (``generate --help`` did)."""
    from typer.main import get_command
    from typer.testing import CliRunner

    command = get_command(app)
    for part in path:
        command = command.get_command(None, part)  # type: ignore[attr-defined]
    wide = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "400"})
    assert wide.exit_code == 0, wide.output
    lines = [" ".join(line.split()) for line in wide.output.splitlines()]
    paragraphs = (command.help or "").strip().split("\n\n")
    for paragraph in paragraphs:
        text = " ".join(paragraph.split()).replace("`", "")
        assert any(text in line for line in lines), f"{path}: {text!r} is broken up"
    listing = CliRunner().invoke(app, [*path[:-1], "--help"], env={"COLUMNS": "400"}).output
    first = " ".join(paragraphs[0].split()).replace("`", "")
    assert any(line.strip(" │").startswith(f"{path[-1]} ") and first in " ".join(line.split())
               for line in listing.splitlines()), f"{path}'s summary is broken up"
