"""``python -m benchmarks [NAME ...]``: run the named benchmarks (all by default)."""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path

from benchmarks.harness import REGISTRY


def _load_all() -> None:
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("bench_"):
            importlib.import_module(f"benchmarks.{module.name}")


def main(argv: list[str]) -> None:
    _load_all()
    if "-h" in argv or "--help" in argv:
        # Options are each benchmark's own (--name=value); the docstrings say which.
        print(__doc__.strip())
        for name in sorted(REGISTRY):
            summary = (REGISTRY[name].__doc__ or "").strip().split("\n")[0]
            print(f"  {name:<10} {summary}")
        print("Results and the options of each: docs/benchmarks.md")
        return
    names = [arg for arg in argv if not arg.startswith("-")] or sorted(REGISTRY)
    options = [arg for arg in argv if arg.startswith("-")]
    unknown = [name for name in names if name not in REGISTRY]
    if unknown:
        sys.exit(f"unknown benchmark(s) {unknown}; known: {sorted(REGISTRY)}")
    for name in names:
        print(f"== benchmark {name}", flush=True)
        REGISTRY[name](options)


if __name__ == "__main__":
    main(sys.argv[1:])
