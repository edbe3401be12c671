"""Benchmark ``generate``: a national world of 80,000 licensees over ten years, to files.

``python -m benchmarks generate [--dealers=N] [--seed=S] [--format=csv|parquet]`` runs
``generate_world`` and ``write_world`` in a fresh process (so peak memory is the
generator's own, see ``harness.run_isolated``) into ``benchmarks/.data/``, and records
wall time and peak RSS against the issue's targets: under 2 minutes and under 4 GiB,
files included.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from benchmarks.harness import (
    ROOT,
    benchmark,
    markdown_table,
    option,
    peak_rss_mib,
    record,
    run_isolated,
)

TARGET_SECONDS = 120.0
TARGET_PEAK_MIB = 4 * 1024.0
DATA_DIR = ROOT / "benchmarks" / ".data"




def _child(dealers: int, seed: int, file_format: str, out: Path) -> None:
    """Generate and write one world; print the measurements as the last JSON line."""
    started = time.perf_counter()
    from synthetic import generate_world, write_world

    stages: dict[str, float] = {}
    last = [time.perf_counter()]
    last_stage = ["setup"]

    def progress(stage: str) -> None:
        now = time.perf_counter()
        stages[last_stage[0]] = now - last[0]
        last[0], last_stage[0] = now, stage

    world = generate_world(seed=seed, dealers=dealers, progress=progress)
    progress("write")
    generated = time.perf_counter()
    paths = write_world(world, out, file_format=file_format)  # type: ignore[arg-type]
    finished = time.perf_counter()
    stages["write"] = finished - generated
    result = {
        "seconds": finished - started,
        "generate_seconds": generated - started,
        "write_seconds": finished - generated,
        "peak_rss_mib": peak_rss_mib(),
        "stages": stages,
        "rows": {name: len(frame) for name, frame in world.tables().items()},
        "megabytes": sum(path.stat().st_size for path in paths) / 2**20,
    }
    print(json.dumps(result))


@benchmark("generate")
def run(options: list[str]) -> None:
    """Time ``dealer-risk generate``'s work at national size and record the result."""
    dealers = int(option(options, "dealers", "80000"))
    seed = int(option(options, "seed", "1"))
    file_format = option(options, "format", "csv")
    out = DATA_DIR / f"generate-{dealers}-{seed}"
    shutil.rmtree(out, ignore_errors=True)
    result = run_isolated(
        "benchmarks.bench_generate", "--child", str(dealers), str(seed), file_format, str(out)
    )
    rows = result["rows"]
    table = markdown_table(
        [
            {
                "licensees": dealers,
                "format": file_format,
                "seconds": result["seconds"],
                "target s": TARGET_SECONDS,
                "meets time": "yes" if result["seconds"] < TARGET_SECONDS else "no",
                "peak RSS MiB": result["peak_rss_mib"],
                "target MiB": TARGET_PEAK_MIB,
                "meets memory": "yes" if result["peak_rss_mib"] < TARGET_PEAK_MIB else "no",
            }
        ]
    )
    stages = " · ".join(f"{name} {seconds:.1f} s" for name, seconds in result["stages"].items())
    counts = ", ".join(f"{name} {count:,}" for name, count in rows.items())
    body = (
        f"`python -m benchmarks generate` (seed {seed}): `generate_world` then `write_world` "
        f"({file_format}, truth files included) in a fresh process, over 2014-01-01 to "
        f"2023-12-31. Rows: {counts}; {result['megabytes']:,.0f} MB written.\n\n"
        f"{table}\n\nStages: {stages}."
    )
    record("Generation", body)
    print(body)
    # The files are only the measurement's by-product; do not leave hundreds of MB behind.
    shutil.rmtree(out, ignore_errors=True)
    for truth_file in out.parent.glob(out.name + ".truth*"):
        truth_file.unlink()


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        _child(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], Path(sys.argv[5]))
    else:
        sys.exit("usage: python -m benchmarks generate [--dealers=N] [--seed=S] [--format=F]")
