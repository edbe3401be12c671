"""Where a generated world's hidden truth lives beside its contract directory.

The generator writes the truth (each licensee's true probability of a serious finding,
each inspection's, sales by state and month) next to the output directory, never inside
it, so ingestion can never read it. Training reads it only to report how close a model
comes to the truth; nothing in serving does.
"""

from __future__ import annotations

from pathlib import Path


def default_truth_path(out_dir: Path) -> Path:
    """``OUT_DIR.truth.csv``: next to the output directory, never inside it."""
    return out_dir.with_name(out_dir.name + ".truth.csv")


def truth_companions(truth_path: Path) -> dict[str, Path]:
    """Paths of the truth files: licensees, inspections and sales by state and month."""
    stem = truth_path.name[: -len(".csv")] if truth_path.name.endswith(".csv") else truth_path.name
    return {
        "licensees": truth_path,
        "inspections": truth_path.with_name(stem + ".inspections.csv"),
        "sales": truth_path.with_name(stem + ".sales.csv"),
    }
