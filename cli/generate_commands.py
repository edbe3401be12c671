"""``dealer-risk generate``: write a synthetic national dataset in the contract's layout."""

from __future__ import annotations

import datetime as dt
import sys
import tomllib
from pathlib import Path
from typing import Annotated, Literal

import typer
from pydantic import ValidationError

from cli.options import validation_problem
from synthetic import (
    DEFAULT_DEALERS,
    DEFAULT_END,
    DEFAULT_START,
    MIXES,
    STAGES,
    UnknownMechanism,
    all_in_range,
    calibration_markdown,
    default_truth_path,
    generate_world,
    load_config,
    parse_mechanisms,
    world_calibration,
    write_world,
)


def _config_problem(path: Path | None, error: Exception) -> str:
    """One line naming the config file and the first bad field."""
    if isinstance(error, ValidationError):
        return validation_problem(error, path)
    return f"{path}: {error}"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as error:
        raise typer.BadParameter(f"{text!r} is not a date (YYYY-MM-DD)") from error


def generate(
    out_dir: Annotated[Path, typer.Argument(help="Directory to write the five tables into.")],
    dealers: Annotated[int, typer.Option(min=1, help="Number of licensees.")] = DEFAULT_DEALERS,
    seed: Annotated[int, typer.Option(min=0, help="Random seed; same seed, same files.")] = 0,
    start: Annotated[
        str, typer.Option(help="First day of the window (YYYY-MM-DD).")
    ] = DEFAULT_START.isoformat(),
    end: Annotated[
        str, typer.Option(help="Last day of the window (YYYY-MM-DD).")
    ] = DEFAULT_END.isoformat(),
    config: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="TOML or YAML file overriding parameters."),
    ] = None,
    truth: Annotated[
        Path | None,
        typer.Option(help="Licensee truth file (default OUT_DIR.truth.csv, outside OUT_DIR)."),
    ] = None,
    mechanisms: Annotated[
        str | None,
        typer.Option(help="Mechanism mixes, comma-separated, applied before --config "
                          f"(docs/synthetic.md): {', '.join(MIXES)}."),
    ] = None,
    file_format: Annotated[
        Literal["csv", "parquet"], typer.Option("--format", help="Table file format.")
    ] = "csv",
    calibration_report: Annotated[
        bool,
        typer.Option(
            "--calibration-report",
            help="Print every calibration figure: public value, generated value, in range.",
        ),
    ] = False,
) -> None:
    """Write a synthetic national world and, outside OUT_DIR, the hidden truth behind it.

    The five tables of the data contract: dealers, traces, multiple sales, inspections
    and theft/loss.
    """
    first, last = _date(start), _date(end)
    if last <= first:
        raise typer.BadParameter("--end must be after --start")
    try:
        names = parse_mechanisms(mechanisms)
    except UnknownMechanism as error:
        raise typer.BadParameter(str(error), param_hint="--mechanisms") from error
    try:
        parameters = load_config(config, names)
    except (ValueError, tomllib.TOMLDecodeError) as error:  # ValidationError is a ValueError
        raise typer.BadParameter(_config_problem(config, error), param_hint="--config") from error
    interactive = sys.stderr.isatty()
    bar = None
    if interactive:
        from tqdm import tqdm

        bar = tqdm(total=len(STAGES) + 1, desc="generate", unit="stage", file=sys.stderr)

    def progress(stage: str) -> None:
        if bar is not None:
            bar.set_postfix_str(stage)
            bar.update(0 if stage == STAGES[0] else 1)

    world = generate_world(
        parameters, seed, dealers=dealers, start=first, end=last, progress=progress
    )
    progress("writing")
    truth_path = truth or default_truth_path(out_dir)
    write_world(world, out_dir, file_format=file_format, truth_path=truth_path)
    if bar is not None:
        bar.update(1)
        bar.close()
        counts = ", ".join(f"{len(frame):,} {name}" for name, frame in world.tables().items())
        typer.echo(f"wrote {counts} to {out_dir}; truth in {truth_path}", err=True)
    if calibration_report:
        figures = world_calibration(world)
        typer.echo(f"Calibration of seed {seed}, {dealers:,} licensees, {first} to {last}:\n")
        typer.echo(calibration_markdown(figures))
        verdict = "yes" if all_in_range(figures) else "NO"
        typer.echo(f"\nEvery checked figure in its required range: {verdict}")


def register(app: typer.Typer) -> None:
    """Add ``generate`` to ``app``."""
    app.command(name="generate")(generate)
