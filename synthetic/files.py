"""Writing a generated world to disk in the contract's layout, and reading it back."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from data.contract import TABLES_BY_NAME, Kind
from data.truth_files import default_truth_path, truth_companions
from synthetic.world import World

Format = Literal["csv", "parquet"]
# Every generated text value is free of commas, quotes and line breaks, so fields need
# no quoting; pyarrow refuses to write a value that would need it, so a slip cannot
# produce a malformed file.
_CSV_OPTIONS = pacsv.WriteOptions(quoting_style="none", include_header=False)


def _arrow(frame: pd.DataFrame) -> pa.Table:
    """An Arrow table with datetime columns as dates (``YYYY-MM-DD`` in CSV)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    fields = []
    for field in table.schema:
        if pa.types.is_timestamp(field.type):
            fields.append(pa.field(field.name, pa.date32()))
        elif pa.types.is_large_string(field.type) or pa.types.is_string_view(field.type):
            fields.append(pa.field(field.name, pa.string()))
        else:
            fields.append(field)
    return table.cast(pa.schema(fields))


def write_table(frame: pd.DataFrame, path: Path) -> Path:
    """Write one table as CSV or Parquet by ``path``'s suffix."""
    table = _arrow(frame)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        # pyarrow quotes header names whatever the quoting style; write them plainly.
        with path.open("wb") as handle:
            handle.write((",".join(table.column_names) + "\n").encode())
            pacsv.write_csv(table, handle, write_options=_CSV_OPTIONS)
    return path


def write_world(
    world: World,
    out_dir: Path,
    *,
    file_format: Format = "csv",
    truth_path: Path | None = None,
) -> list[Path]:
    """Write the five contract tables into ``out_dir`` and the truth files next to it.

    The truth files (licensee truth, per-inspection truth, sales per state and month) go
    to ``truth_path`` (default ``OUT_DIR.truth.csv``) and its companions, always CSV and
    never inside ``out_dir``, so ingesting ``out_dir`` can never see them. Returns the
    paths written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    truth_path = truth_path or default_truth_path(out_dir)
    if truth_path.resolve().parent == out_dir.resolve():
        raise ValueError("the truth file must not be inside the output directory")
    written = [
        write_table(frame, out_dir / f"{name}.{file_format}")
        for name, frame in world.tables().items()
    ]
    companions = truth_companions(truth_path)
    truth_path.parent.mkdir(parents=True, exist_ok=True)
    written.append(write_table(world.truth, companions["licensees"]))
    written.append(write_table(world.inspection_truth, companions["inspections"]))
    written.append(write_table(world.sales, companions["sales"]))
    return written


def read_tables(directory: Path) -> dict[str, pd.DataFrame]:
    """The contract tables of ``directory`` (CSV or Parquet), typed as the generator's.

    Dates become ``datetime64[us]``, booleans pandas' nullable ``boolean``, integers
    nullable ``Int64`` where the contract allows nulls.
    """
    tables: dict[str, pd.DataFrame] = {}
    for name, spec in TABLES_BY_NAME.items():
        parquet, csv = directory / f"{name}.parquet", directory / f"{name}.csv"
        if parquet.exists():
            frame = pd.read_parquet(parquet)
        elif csv.exists():
            text_columns = {c.name: "str" for c in spec.columns if c.kind == Kind.TEXT}
            frame = pd.read_csv(csv, dtype=text_columns, keep_default_na=False, na_values=[""])
        else:
            continue
        for column in spec.columns:
            if column.name not in frame:
                continue
            if column.kind == Kind.DATE:
                frame[column.name] = pd.to_datetime(frame[column.name]).astype("datetime64[us]")
            elif column.kind == Kind.BOOLEAN:
                values = frame[column.name]
                if values.dtype != "boolean":
                    values = values.map({"true": True, "false": False, True: True, False: False})
                frame[column.name] = values.astype("boolean")
        tables[name] = frame
    return tables
