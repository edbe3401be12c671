"""Benchmark ``store``: reading the event tables, and ``dealer-risk features`` as a process.

``python -m benchmarks store [--dealers=N] [--seed=S] [--rounds=R]
[--backends=sqlite,postgres]`` builds once (cached under ``benchmarks/.data/``) a world
with ``dealer-risk generate`` and ingests it with ``dealer-risk ingest`` into a SQLite
store and into a PostgreSQL store (a schema of the database ``test`` at 127.0.0.1:5432,
kept for the next run). Then, for each store:

1. **Reads.** In a fresh process, ``data.store.read.read_tables(engine,
   known_before=as_of)`` (the project's read path: typed pandas frames) against the
   plain columnar read of the same tables and rows: the same SELECTs over one ADBC
   connection, ``cursor.fetch_arrow_table()``, untyped. Rounds interleave the two (their
   order alternates), and the ratio is of the medians.
2. **The command.** ``dealer-risk features --as-of DATE --out FILE.parquet`` as a whole
   process (interpreter start-up, imports, read, features, write), several rounds; the
   median wall time and the peak RSS (``wait4``'s ``ru_maxrss`` of the child). The
   start-up of ``dealer-risk --help`` is measured beside it for reference.

Targets (issue 12): reads at most 2x the plain columnar read on either backend; the
command at most 15 s.

ADBC's SQLite driver bundles its own SQLite, so the parent process never opens the store
itself while a child reads it: ingestion and each measurement are separate processes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    ROOT,
    benchmark,
    markdown_table,
    option,
    peak_rss_mib,
    record,
    run_isolated,
)

TARGET_READ_RATIO = 2.0
TARGET_FEATURES_SECONDS = 15.0
AS_OF = dt.date(2024, 1, 1)
DATA_DIR = ROOT / "benchmarks" / ".data"
POSTGRES_URL = os.environ.get(
    "DEALER_RISK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
#: ``dealer-risk`` as its console script runs it (``from cli.main import main``), started
#: in the project folder so that it imports this working tree's packages.
_DEALER_RISK = [sys.executable, "-c", "import sys; from cli.main import main; sys.exit(main())"]


# --- the cached world and stores ----------------------------------------------------------


def _run(command: list[str], env: dict[str, str] | None = None) -> None:
    completed = subprocess.run(command, cwd=ROOT, env={**os.environ, **(env or {})},
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{completed.stdout}\n"
                           f"{completed.stderr}")


def _world(dealers: int, seed: int) -> Path:
    """The generated contract directory, written once per size and seed."""
    folder = DATA_DIR / f"store-{dealers}-{seed}"
    world = folder / "world"
    if not (folder / ".generated").exists():
        print(f"  generating {world} ...", flush=True)
        folder.mkdir(parents=True, exist_ok=True)
        _run([*_DEALER_RISK, "generate", str(world), "--dealers", str(dealers),
              "--seed", str(seed)])
        (folder / ".generated").write_text("")
    return world


def _env(folder: Path, url: str) -> dict[str, str]:
    return {"DEALER_RISK_HOME": str(folder / "home"), "DEALER_RISK_DATABASE_URL": url}


def _sqlite_store(world: Path) -> str:
    folder = world.parent
    url = f"sqlite:///{folder / 'store.db'}"
    if not (folder / ".ingested-sqlite").exists():
        print(f"  ingesting into {url} ...", flush=True)
        (folder / "store.db").unlink(missing_ok=True)
        _run([*_DEALER_RISK, "ingest", str(world)], _env(folder, url))
        (folder / ".ingested-sqlite").write_text("")
    return url


def _postgres_store(world: Path, dealers: int, seed: int) -> str:
    from sqlalchemy import create_engine, text

    folder = world.parent
    schema = f"bench_store_{dealers}_{seed}"
    url = f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    marker = folder / ".ingested-postgres"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            exists = connection.execute(
                text("SELECT 1 FROM information_schema.schemata WHERE schema_name = :name"),
                {"name": schema}).first() is not None
            if not (exists and marker.exists()):
                print(f"  ingesting into PostgreSQL schema {schema} ...", flush=True)
                marker.unlink(missing_ok=True)
                connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
                connection.execute(text(f'CREATE SCHEMA "{schema}"'))
                _run([*_DEALER_RISK, "ingest", str(world)], _env(folder, url))
                marker.write_text("")
    finally:
        admin.dispose()
    return url


# --- step 1: the reads, in a fresh process per store ------------------------------------


def _child_reads(url: str, rounds: int) -> dict[str, Any]:
    from data.contract import TABLES_BY_NAME
    from data.store import open_store
    from data.store.read import EVENT_TABLE_NAMES, arrow_connection, read_tables, table_query

    engine = open_store(url)
    queries = [table_query(TABLES_BY_NAME[name], AS_OF) for name in EVENT_TABLE_NAMES]

    def plain() -> dict[str, int]:
        # The same SELECTs over one connection, Arrow out, nothing converted.
        with arrow_connection(engine) as connection:
            cursor = connection.cursor()
            try:
                rows = {}
                for name, sql in zip(EVENT_TABLE_NAMES, queries, strict=True):
                    cursor.execute(sql)
                    rows[name] = cursor.fetch_arrow_table().num_rows
            finally:
                cursor.close()
        return rows

    def typed() -> dict[str, int]:
        frames = read_tables(engine, known_before=AS_OF)
        return {name: len(frame) for name, frame in frames.items()}

    # One untimed read of each warms the page cache (and the server's buffers) alike.
    plain_rows, typed_rows = plain(), typed()
    if plain_rows != typed_rows:
        raise RuntimeError(f"the reads differ: plain {plain_rows}, typed {typed_rows}")
    seconds: dict[str, list[float]] = {"typed": [], "plain": []}
    cpu: dict[str, list[float]] = {"typed": [], "plain": []}
    for number in range(rounds):
        order = (("typed", typed), ("plain", plain))
        for name, read in order if number % 2 == 0 else order[::-1]:
            started, started_cpu = time.perf_counter(), time.process_time()
            read()
            seconds[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - started_cpu)
    engine.dispose()
    return {"seconds": seconds, "cpu_seconds": cpu, "rows": typed_rows,
            "peak_rss_mib": peak_rss_mib()}


# --- step 2: the command as a whole process ------------------------------------------------


def _timed_process(command: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and peak RSS (MiB) of one child process (which must succeed).

    ``wait4`` gives the child's own resource usage; its output goes to a file, so a chatty
    child can never block on a full pipe while it is waited for.
    """
    with tempfile.TemporaryFile() as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **env},
                                   stdout=output, stderr=subprocess.STDOUT)
        _pid, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        if process.returncode != 0:
            output.seek(0)
            raise RuntimeError(f"{' '.join(command)} failed:\n{output.read().decode()}")
    return seconds, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def _features_process(folder: Path, url: str, rounds: int) -> dict[str, Any]:
    out = folder / "features-out.parquet"
    env = _env(folder, url)
    command = [*_DEALER_RISK, "features", "--as-of", AS_OF.isoformat(), "--out", str(out)]
    startup = [*_DEALER_RISK, "--help"]
    walls, cpus, peaks, startups = [], [], [], []
    for _ in range(rounds):
        seconds, cpu, peak = _timed_process(command, env)
        walls.append(seconds)
        cpus.append(cpu)
        peaks.append(peak)
        startups.append(_timed_process(startup, env)[0])
    import pyarrow.parquet as pq

    rows = pq.read_metadata(out).num_rows
    out.unlink()
    return {"seconds": walls, "cpu_seconds": cpus, "peak_rss_mib": peaks,
            "startup_seconds": startups, "rows": rows}


# --- the parent ---------------------------------------------------------------------------


@benchmark("store")
def run(options: list[str]) -> None:
    """Measure the store reads and the ``features`` command on both backends; record them."""
    dealers = int(option(options, "dealers", "80000"))
    seed = int(option(options, "seed", "0"))
    rounds = int(option(options, "rounds", "7"))
    process_rounds = int(option(options, "process-rounds", "5"))
    backends = option(options, "backends", "sqlite,postgres").split(",")
    world = _world(dealers, seed)
    stores = {}
    if "sqlite" in backends:
        stores["SQLite"] = _sqlite_store(world)
    if "postgres" in backends:
        stores["PostgreSQL"] = _postgres_store(world, dealers, seed)

    read_rows: list[dict[str, Any]] = []
    process_rows: list[dict[str, Any]] = []
    verdicts: list[str] = []
    counts: dict[str, int] = {}
    for backend, url in stores.items():
        print(f"  {backend}: reads ...", flush=True)
        reads = run_isolated("benchmarks.bench_store", "--child-reads", url, str(rounds))
        counts = reads["rows"]
        typed = statistics.median(reads["seconds"]["typed"])
        plain = statistics.median(reads["seconds"]["plain"])
        ratio = typed / plain
        rounds_text = ", ".join(f"{t / p:.2f}" for t, p in zip(
            reads["seconds"]["typed"], reads["seconds"]["plain"], strict=True))
        read_rows += [
            {"backend": backend, "read": "read_tables (typed frames)", "median s": typed,
             "min s": min(reads["seconds"]["typed"]), "max s": max(reads["seconds"]["typed"]),
             "x plain": ratio, "median CPU s": statistics.median(reads["cpu_seconds"]["typed"])},
            {"backend": backend, "read": "plain: ADBC fetch_arrow_table", "median s": plain,
             "min s": min(reads["seconds"]["plain"]), "max s": max(reads["seconds"]["plain"]),
             "x plain": 1.0, "median CPU s": statistics.median(reads["cpu_seconds"]["plain"])},
        ]
        verdicts.append(
            f"{backend} reads: {ratio:.2f}x the plain columnar read (rounds {rounds_text}; "
            f"target <= {TARGET_READ_RATIO:.0f}x: "
            f"{'met' if ratio <= TARGET_READ_RATIO else 'NOT met'})")
        print(f"  {backend}: features process ...", flush=True)
        measured = _features_process(world.parent, url, process_rounds)
        wall = statistics.median(measured["seconds"])
        process_rows.append({
            "backend": backend, "rows out": int(measured["rows"]), "median s": wall,
            "min s": min(measured["seconds"]), "max s": max(measured["seconds"]),
            "target s": TARGET_FEATURES_SECONDS,
            "meets target": "yes" if wall <= TARGET_FEATURES_SECONDS else "no",
            "median CPU s": statistics.median(measured["cpu_seconds"]),
            "peak RSS MiB": max(measured["peak_rss_mib"]),
            "`dealer-risk --help` s": statistics.median(measured["startup_seconds"]),
        })
        verdicts.append(
            f"{backend} `dealer-risk features`: {wall:.1f} s median of {process_rounds} "
            f"(rounds {', '.join(f'{s:.1f}' for s in measured['seconds'])}; target <= "
            f"{TARGET_FEATURES_SECONDS:.0f} s: "
            f"{'met' if wall <= TARGET_FEATURES_SECONDS else 'NOT met'})")
    sizes = ", ".join(f"{name} {count:,}" for name, count in counts.items())
    body = "\n".join([
        f"`python -m benchmarks store` on the world from `dealer-risk generate --dealers "
        f"{dealers} --seed {seed}` ({dealers:,} licensees), ingested by `dealer-risk "
        "ingest` into a SQLite file and a PostgreSQL schema (database `test` on 127.0.0.1, "
        "same machine). Rows read as of "
        f"{AS_OF.isoformat()} (events known before it, licensees licensed before it): "
        f"{sizes}.",
        "",
        f"Reads: in one fresh process per store, {rounds} interleaved rounds (order "
        "alternating) after one untimed read of each. `read_tables(engine, "
        "known_before=as_of)` is the project's read path (ADBC to Arrow, then the "
        "contract's pandas types); the plain read runs the same SELECTs over one ADBC "
        "connection and stops at `fetch_arrow_table()`.",
        "",
        markdown_table(read_rows),
        "",
        f"`dealer-risk features --as-of {AS_OF.isoformat()} --out FILE.parquet` as a whole "
        f"process, {process_rounds} rounds: wall time from spawn to exit (start-up, imports, "
        "read, features, Parquet), the child's own CPU time and peak RSS (`wait4`; on "
        "PostgreSQL the server's share of the work is in the wall time, not in the CPU "
        "time). `dealer-risk --help` is the interpreter and CLI start-up alone.",
        "",
        markdown_table(process_rows),
        "",
        *[f"- {line}" for line in verdicts],
    ])
    record("Store reads and the features command", body)
    print(body)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child-reads"]:
        print(json.dumps(_child_reads(sys.argv[2], int(sys.argv[3]))))
    else:
        run(sys.argv[1:])
