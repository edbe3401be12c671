"""Benchmark ``ingest``: 80,000 licensees and about 5,000,000 traces into SQLite and PostgreSQL.

``python -m benchmarks ingest [--traces=N] [--dealers=N] [--backends=sqlite,postgres]``
builds (once, deterministically, with the throwaway writer below) an input directory
under ``benchmarks/.data/``, then measures, each step in a fresh process so that peak
memory is the step's own:

- ``dealer-risk ingest``'s library call into an empty store;
- the same call again (nothing changes: the upsert path);
- the plain bulk-load limit in the same run: the same rows, already typed, into the
  same tables in one transaction, with ``executemany`` of a plain ``INSERT`` on SQLite
  (on a connection set up as ingestion's is, and once more with SQLite's default page
  cache for reference) and ``COPY`` of the files on PostgreSQL.

Targets (issue 2): ingestion within 2x of the limit, under 4 GiB peak RSS. PostgreSQL
runs in a fresh schema of the database ``test`` at 127.0.0.1:5432, dropped afterwards;
the server's own memory is not in the figures.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from benchmarks.harness import (
    ROOT,
    benchmark,
    markdown_table,
    option,
    peak_rss_mib,
    record,
    run_isolated,
)

TARGET_RATIO = 2.0
TARGET_PEAK_MIB = 4 * 1024.0
DATA_DIR = ROOT / "benchmarks" / ".data"
POSTGRES_URL = os.environ.get(
    "DEALER_RISK_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_BATCH_ROWS = 200_000
_SEED = 20261127






# --- the throwaway writer ----------------------------------------------------------------


def _write_csv(path: Path, columns: dict[str, np.ndarray]) -> None:
    table = pa.table({name: pa.array(values, pa.string()) for name, values in columns.items()})
    pa_csv.write_csv(table, path)


def _dates(days: np.ndarray) -> np.ndarray:
    return (np.datetime64("2008-01-01") + days).astype(str).astype(object)


def build_directory(out: Path, dealers: int, traces: int) -> dict[str, int]:
    """Write a valid input directory of ``dealers`` licensees and ``traces`` traces.

    Deterministic (fixed seed); other tables are modest: a multiple-sale report per 25
    traces, an inspection per two licensees and a theft/loss report per eight.
    """
    rng = np.random.default_rng(_SEED)
    out.mkdir(parents=True, exist_ok=True)
    sequence = np.arange(dealers)
    license_numbers = np.array(
        [
            f"{1 + i % 9}-{10 + i % 90:02d}-{100 + i % 900:03d}-01-9Z-{i % 100000:05d}"
            for i in sequence
        ],
        dtype=object,
    )
    if len(set(license_numbers.tolist())) != dealers:
        raise ValueError("the throwaway writer makes at most 100,000 unique licensees")
    pick = np.array
    _write_csv(
        out / "dealers.csv",
        {
            "license_number": license_numbers,
            "license_type": pick(["01", "02", "07"], dtype=object)[sequence % 3],
            "business_name": pick([f"Synthetic Arms {i}" for i in sequence], dtype=object),
            "premise_city": pick(["Austin", "Reno", ""], dtype=object)[sequence % 3],
            "premise_state": pick(["TX", "NV", "CA", "AZ"], dtype=object)[sequence % 4],
            "premise_zip": pick([f"{i % 100000:05d}" for i in sequence], dtype=object),
            "county_fips": pick([f"{(i * 7) % 100000:05d}" for i in sequence], dtype=object),
            "license_issue_date": _dates(rng.integers(0, 3000, dealers)),
            "annual_firearm_sales": rng.integers(0, 5000, dealers).astype(str).astype(object),
            "field_division": pick(["Houston", "Phoenix", "Seattle"], dtype=object)[sequence % 3],
            "urbanicity": pick(["urban", "suburban", "rural"], dtype=object)[sequence % 3],
        },
    )
    trace_columns = [
        "trace_id", "license_number", "firearm_type", "caliber", "purchase_date",
        "recovery_date", "trace_date", "recovery_country", "recovery_state",
        "purchaser_is_possessor", "serial_obliterated",
    ]  # fmt: skip
    schema = pa.schema([(name, pa.string()) for name in trace_columns])
    with pa_csv.CSVWriter(out / "traces.csv", schema) as writer:
        for start in range(0, traces, 1_000_000):
            size = min(1_000_000, traces - start)
            purchase = rng.integers(0, 5000, size)
            recovery = purchase + rng.integers(0, 3000, size)
            trace = recovery + rng.integers(0, 60, size)
            columns = {
                "trace_id": np.char.add("T", np.arange(start, start + size).astype(str)),
                "license_number": license_numbers[rng.integers(0, dealers, size)],
                "firearm_type": pick(["pistol", "revolver", "rifle", "shotgun"], dtype=object)[
                    rng.integers(0, 4, size)
                ],
                "caliber": pick(["9mm", ".40 S&W", ".45 ACP", "7.62x39", ""], dtype=object)[
                    rng.integers(0, 5, size)
                ],
                "purchase_date": _dates(purchase),
                "recovery_date": _dates(recovery),
                "trace_date": _dates(trace),
                "recovery_country": pick(["US", "US", "US", "MX"], dtype=object)[
                    rng.integers(0, 4, size)
                ],
                "recovery_state": pick(["TX", "CA", "IL", ""], dtype=object)[
                    rng.integers(0, 4, size)
                ],
                "purchaser_is_possessor": pick(["true", "false", ""], dtype=object)[
                    rng.integers(0, 3, size)
                ],
                "serial_obliterated": pick(["true", "false"], dtype=object)[
                    rng.integers(0, 2, size)
                ],
            }
            writer.write_table(
                pa.table({name: pa.array(columns[name], pa.string()) for name in trace_columns})
            )
    sales = max(traces // 25, 1)
    _write_csv(
        out / "multiple_sales.csv",
        {
            "report_id": np.char.add("M", np.arange(sales).astype(str)),
            "license_number": license_numbers[rng.integers(0, dealers, sales)],
            "report_date": _dates(rng.integers(0, 6000, sales)),
            "form": pick(["3310.4", "3310.12"], dtype=object)[rng.integers(0, 2, sales)],
            "firearm_count": rng.integers(2, 9, sales).astype(str).astype(object),
            "purchaser_key": np.char.add("P", rng.integers(0, 10**6, sales).astype(str)),
        },
    )
    inspections = dealers // 2
    _write_csv(
        out / "inspections.csv",
        {
            "inspection_id": np.char.add("I", np.arange(inspections).astype(str)),
            "license_number": license_numbers[rng.integers(0, dealers, inspections)],
            "inspection_date": _dates(rng.integers(0, 6000, inspections)),
            "inspection_type": pick(["compliance", "qualification"], dtype=object)[
                rng.integers(0, 2, inspections)
            ],
            "outcome": pick(
                ["no_violations", "violations_cited", "warning_letter", "warning_conference"],
                dtype=object,
            )[rng.integers(0, 4, inspections)],
            "violation_count": rng.integers(0, 6, inspections).astype(str).astype(object),
            "missing_firearms": pick(["", "0", "3"], dtype=object)[rng.integers(0, 3, inspections)],
            "violation_codes": pick(["", "478.124(c)(1);478.125(e)"], dtype=object)[
                rng.integers(0, 2, inspections)
            ],
        },
    )
    thefts = dealers // 8
    _write_csv(
        out / "theft_loss.csv",
        {
            "report_id": np.char.add("L", np.arange(thefts).astype(str)),
            "license_number": license_numbers[rng.integers(0, dealers, thefts)],
            "report_date": _dates(rng.integers(0, 6000, thefts)),
            "kind": pick(["theft", "loss"], dtype=object)[rng.integers(0, 2, thefts)],
            "firearm_count": rng.integers(1, 5, thefts).astype(str).astype(object),
        },
    )
    return {
        "dealers": dealers,
        "traces": traces,
        "multiple_sales": sales,
        "inspections": inspections,
        "theft_loss": thefts,
    }


def _directory(dealers: int, traces: int) -> tuple[Path, dict[str, int]]:
    """The benchmark's input directory, built once per size and reused."""
    out = DATA_DIR / f"ingest-{dealers}-{traces}"
    done = out / ".rows.json"
    if done.exists():
        rows: dict[str, int] = json.loads(done.read_text())
        return out, rows
    print(f"writing {out} ...", flush=True)
    rows = build_directory(out, dealers, traces)
    done.write_text(json.dumps(rows))
    return out, rows


# --- the measured steps, each run in a fresh process --------------------------------------


def _child_ingest(directory: Path, url: str, repeat: bool) -> dict[str, Any]:
    from data.ingest import ingest_directory
    from data.store import open_store

    engine = open_store(url)
    report = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench-ingest-{uuid.uuid4().hex}.txt"
    if repeat:
        first = ingest_directory(engine, directory, report_path=report)
        if not first.accepted:
            raise RuntimeError(f"first ingest rejected; see {report}")
    started = time.perf_counter()
    result = ingest_directory(engine, directory, report_path=report)
    seconds = time.perf_counter() - started
    if not result.accepted:
        raise RuntimeError(f"ingest rejected; see {report}")
    engine.dispose()
    return {
        "seconds": seconds,
        "rows": sum(table.rows_valid for table in result.tables),
        "changed": sum(table.rows_changed for table in result.tables),
        "peak_rss_mib": peak_rss_mib(),
    }


def _typed_batches(path: Path, table_name: str) -> Any:
    """The file's rows as tuples in the store's form, batch by batch (not timed)."""
    import pandas as pd

    from data.contract import TABLES_BY_NAME, Kind
    from data.store.write import _python_values

    table = TABLES_BY_NAME[table_name]
    for frame in pd.read_csv(
        path, dtype=str, keep_default_na=False, chunksize=_BATCH_ROWS, na_filter=False
    ):
        columns = list(frame.columns)
        values = []
        for name in columns:
            text = frame[name]
            kind = table.column(name).kind
            if kind is Kind.INTEGER:
                typed = pd.to_numeric(text.where(text != "")).astype("Int64")
            elif kind is Kind.BOOLEAN:
                typed = pd.Series(text == "true", dtype="boolean").where(text != "")
            else:
                typed = text.where(text != "")
            values.append(_python_values(typed))
        yield columns, list(zip(*values, strict=True))


def _child_sqlite_limit(directory: Path, url: str, ingestion_cache: bool) -> dict[str, Any]:
    from data.contract import TABLES
    from data.store import open_store
    from data.store.write import SQLiteBulkUpsert

    engine = open_store(url)
    connection = engine.raw_connection()
    driver = connection.driver_connection
    assert driver is not None
    if ingestion_cache:
        driver.execute(f"PRAGMA cache_size = -{SQLiteBulkUpsert.CACHE_KIB}")
    seconds = 0.0
    rows = 0
    for table in TABLES:
        path = directory / f"{table.name}.csv"
        if not path.exists():
            continue
        for columns, batch in _typed_batches(path, table.name):
            statement = (
                f"INSERT INTO {table.name} ({', '.join(columns)}) "
                f"VALUES ({', '.join('?' for _ in columns)})"
            )
            started = time.perf_counter()
            driver.executemany(statement, batch)
            seconds += time.perf_counter() - started
            rows += len(batch)
    started = time.perf_counter()
    driver.commit()
    seconds += time.perf_counter() - started
    connection.close()
    engine.dispose()
    return {"seconds": seconds, "rows": rows, "peak_rss_mib": peak_rss_mib()}


def _child_postgres_limit(directory: Path, url: str) -> dict[str, Any]:
    from data.contract import TABLES
    from data.store import open_store

    engine = open_store(url)
    connection = engine.raw_connection()
    driver = connection.driver_connection
    assert driver is not None
    rows = 0
    started = time.perf_counter()
    with driver.cursor() as cursor:
        for table in TABLES:
            path = directory / f"{table.name}.csv"
            if not path.exists():
                continue
            with path.open("rb") as handle:
                header = handle.readline().decode().strip().replace('"', "").split(",")
                nullable = [name for name in header if not table.column(name).required]
                # FORCE_NULL: the writer quotes every value, "" included, which COPY
                # would otherwise keep as an empty string.
                force_null = f", FORCE_NULL ({', '.join(nullable)})" if nullable else ""
                statement = (
                    f"COPY {table.name} ({', '.join(header)}) FROM STDIN (FORMAT csv{force_null})"
                )
                with cursor.copy(statement) as copy:
                    while block := handle.read(1 << 20):
                        copy.write(block)
            rows += cursor.rowcount
    driver.commit()
    seconds = time.perf_counter() - started
    connection.close()
    engine.dispose()
    return {"seconds": seconds, "rows": rows, "peak_rss_mib": peak_rss_mib()}


def _child(argv: list[str]) -> None:
    step, directory, url = argv[0], Path(argv[1]), argv[2]
    if step == "ingest":
        result = _child_ingest(directory, url, repeat=False)
    elif step == "reingest":
        result = _child_ingest(directory, url, repeat=True)
    elif step == "sqlite-limit":
        result = _child_sqlite_limit(directory, url, ingestion_cache=True)
    elif step == "sqlite-limit-default":
        result = _child_sqlite_limit(directory, url, ingestion_cache=False)
    elif step == "postgres-limit":
        result = _child_postgres_limit(directory, url)
    else:
        raise SystemExit(f"unknown step {step}")
    print(json.dumps(result))


# --- the parent ------------------------------------------------------------------------


class _Stores:
    """Fresh, empty stores for each step; PostgreSQL schemas are dropped at the end."""

    def __init__(self) -> None:
        self.scratch = DATA_DIR / "ingest-stores"
        self.scratch.mkdir(parents=True, exist_ok=True)
        self.schemas: list[str] = []

    def sqlite(self) -> str:
        path = self.scratch / f"{uuid.uuid4().hex}.db"
        return f"sqlite:///{path}"

    def postgres(self) -> str:
        from sqlalchemy import create_engine, text

        schema = f"bench_ingest_{uuid.uuid4().hex[:12]}"
        admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
        admin.dispose()
        self.schemas.append(schema)
        return f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"

    def cleanup(self) -> None:
        from sqlalchemy import create_engine, text

        for path in self.scratch.glob("*.db*"):
            path.unlink()
        if self.schemas:
            admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
            with admin.connect() as connection:
                for schema in self.schemas:
                    connection.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
            admin.dispose()


def _measure(step: str, directory: Path, url: str) -> dict[str, Any]:
    print(f"  {step} ...", flush=True)
    result = run_isolated("benchmarks.bench_ingest", "--child", step, str(directory), url)
    print(f"  {step}: {result}", flush=True)
    return result


def _row(backend: str, step: str, result: dict[str, Any], limit: float | None) -> dict[str, Any]:
    return {
        "backend": backend,
        "step": step,
        "rows": int(result["rows"]),
        "seconds": float(result["seconds"]),
        "rows/s": result["rows"] / result["seconds"],
        "x limit": "-" if limit is None else float(result["seconds"]) / limit,
        "peak RSS MiB": float(result["peak_rss_mib"]),
    }


@benchmark("ingest")
def run(options: list[str]) -> None:
    """Measure ingestion against the bulk-load limit on both backends; record the result."""
    dealers = int(option(options, "dealers", "80000"))
    traces = int(option(options, "traces", "5000000"))
    backends = option(options, "backends", "sqlite,postgres").split(",")
    directory, rows = _directory(dealers, traces)
    stores = _Stores()
    table_rows: list[dict[str, Any]] = []
    verdicts: list[str] = []
    try:
        if "sqlite" in backends:
            limit = _measure("sqlite-limit", directory, stores.sqlite())
            default = _measure("sqlite-limit-default", directory, stores.sqlite())
            ingest = _measure("ingest", directory, stores.sqlite())
            again = _measure("reingest", directory, stores.sqlite())
            table_rows += [
                _row("SQLite", "ingest (empty store)", ingest, limit["seconds"]),
                _row("SQLite", "ingest again (nothing changes)", again, limit["seconds"]),
                _row("SQLite", "limit: executemany, ingestion's page cache", limit, None),
                _row("SQLite", "reference: executemany, default page cache", default, None),
            ]
            verdicts.append(_verdict("SQLite", ingest, limit))
        if "postgres" in backends:
            limit = _measure("postgres-limit", directory, stores.postgres())
            ingest = _measure("ingest", directory, stores.postgres())
            again = _measure("reingest", directory, stores.postgres())
            table_rows += [
                _row("PostgreSQL", "ingest (empty store)", ingest, limit["seconds"]),
                _row("PostgreSQL", "ingest again (nothing changes)", again, limit["seconds"]),
                _row("PostgreSQL", "limit: COPY of the files", limit, None),
            ]
            verdicts.append(_verdict("PostgreSQL", ingest, limit))
    finally:
        stores.cleanup()
    sizes = ", ".join(f"{name} {count:,}" for name, count in rows.items())
    body = (
        f"`python -m benchmarks ingest --dealers={dealers} --traces={traces}`: the input "
        f"directory from the throwaway writer in benchmarks/bench_ingest.py ({sizes} rows, "
        "CSV) loaded by `data.ingest.ingest_directory` (what `dealer-risk ingest` "
        "calls) into an empty store, each step in a fresh process. The limit loads the "
        "same rows into the same tables in one transaction with no validation: on SQLite "
        "`executemany` of a plain INSERT with rows already typed (only the executemany "
        "calls and the commit are timed), on a connection set up as ingestion's (store "
        "pragmas plus the 256 MiB page cache ingestion's writer sets; the default-cache "
        "run is for reference); on PostgreSQL `COPY` of the CSV files. Ingestion into an "
        "empty table inserts (COPYs) plainly; the second ingest exercises the upsert "
        "path. PostgreSQL peak RSS is the client's; the server's is not counted.\n\n"
        + markdown_table(table_rows)
        + "\n\n"
        + "\n".join(f"- {line}" for line in verdicts)
    )
    record("Ingestion", body)
    print(body)


def _verdict(backend: str, ingest: dict[str, Any], limit: dict[str, Any]) -> str:
    ratio = ingest["seconds"] / limit["seconds"]
    fast = ratio <= TARGET_RATIO
    small = ingest["peak_rss_mib"] < TARGET_PEAK_MIB
    return (
        f"{backend}: {ratio:.2f}x the limit (target <= {TARGET_RATIO:.0f}x: "
        f"{'met' if fast else 'NOT met'}), peak {ingest['peak_rss_mib']:,.0f} MiB "
        f"(target < {TARGET_PEAK_MIB:,.0f} MiB: {'met' if small else 'NOT met'})"
    )


if __name__ == "__main__":
    if sys.argv[1:2] == ["--child"]:
        _child(sys.argv[2:])
    else:
        run(sys.argv[1:])
