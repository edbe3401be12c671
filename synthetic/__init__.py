"""A synthetic national dataset that behaves like the real country.

Dealer-level traces, multiple-sale reports and inspection records are not public, so the
demo, the tests and the benchmarks run on a generated world: a simulation with mechanisms
(sales following NICS checks, hidden behaviour, crime guns from sales, a regulator
choosing whom to inspect) calibrated on public figures. See ``docs/synthetic.md``.

Typical use::

    from synthetic import GeneratorConfig, generate_world, write_world

    world = generate_world(GeneratorConfig(), seed=1, dealers=5_000)
    write_world(world, Path("out/world"))      # + out/world.truth.csv
"""

from data.truth_files import default_truth_path, truth_companions
from synthetic.calibration import (
    Figure,
    all_in_range,
    calibration_figures,
    calibration_markdown,
)
from synthetic.config import GeneratorConfig, config_for, load_config, parameter_reference
from synthetic.files import (
    read_tables,
    write_table,
    write_world,
)
from synthetic.inspections import true_serious_probability
from synthetic.mechanisms import (
    DEFAULT_MIX,
    MIXES,
    MechanismMix,
    UnknownMechanism,
    mixes_markdown,
    parse_mechanisms,
)
from synthetic.world import (
    DEFAULT_DEALERS,
    DEFAULT_END,
    DEFAULT_START,
    STAGES,
    World,
    generate_world,
)


def world_calibration(world: World) -> list[Figure]:
    """The calibration figures of a generated world."""
    return calibration_figures(world.tables(), world.sales, world.start, world.end)


__all__ = [
    "DEFAULT_DEALERS",
    "DEFAULT_END",
    "DEFAULT_MIX",
    "DEFAULT_START",
    "MIXES",
    "STAGES",
    "Figure",
    "GeneratorConfig",
    "MechanismMix",
    "UnknownMechanism",
    "World",
    "all_in_range",
    "calibration_figures",
    "calibration_markdown",
    "config_for",
    "default_truth_path",
    "generate_world",
    "load_config",
    "mixes_markdown",
    "parameter_reference",
    "parse_mechanisms",
    "read_tables",
    "true_serious_probability",
    "truth_companions",
    "world_calibration",
    "write_table",
    "write_world",
]
