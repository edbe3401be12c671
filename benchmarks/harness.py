"""The benchmark harness: measures a step's time and peak memory, and records results.

Results go to ``docs/benchmarks.md``, one ``## section`` per benchmark, each stamped with
the machine and date, so one benchmark can be rerun without losing the others' figures.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS_FILE = ROOT / "docs" / "benchmarks.md"
HEADER = (
    "# Benchmarks\n\n"
    "Measured by `.venv/bin/python -m benchmarks` (see the README). Each section is "
    "rewritten when its benchmark runs; each names the machine and date it was measured "
    "on.\n"
)


#: The ``dealer-risk`` command of this environment, run as a user runs it.
DEALER_RISK = Path(sys.executable).with_name("dealer-risk")


def run_cli(env: dict[str, str], *args: str) -> str:
    """Run ``dealer-risk ARGS`` in ``env`` from the project root; its stdout (raises on failure)."""
    completed = subprocess.run([str(DEALER_RISK), *args], env=env, cwd=ROOT,
                               capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"dealer-risk {' '.join(args)} failed:\n{completed.stderr}")
    return completed.stdout


def machine_description() -> str:
    """CPU model, cores, memory and Python version of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}, {os.cpu_count()} cores, {memory_gib:.0f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


@dataclass
class Measurement:
    """Wall time and peak resident memory of one measured step."""

    seconds: float = 0.0
    peak_rss_mib: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


@contextmanager
def measure() -> Iterator[Measurement]:
    """Time a block; peak memory is only the block's own when it runs in a fresh process.

    Use :func:`run_isolated` for memory figures: the peak is a high-water mark of the
    whole process.
    """
    result = Measurement()
    start = time.perf_counter()
    yield result
    result.seconds = time.perf_counter() - start
    result.peak_rss_mib = peak_rss_mib()


def run_isolated(module: str, *args: str) -> dict[str, Any]:
    """Run ``python -m module args`` in a fresh process and parse its last JSON line.

    A fresh process makes peak memory the step's own, not the harness's.
    """
    import json

    completed = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"{module} {' '.join(args)} failed:\n{completed.stdout}\n{completed.stderr}"
        )
    last = completed.stdout.strip().splitlines()[-1]
    parsed: dict[str, Any] = json.loads(last)
    return parsed


def option(options: list[str], name: str, default: str) -> str:
    """The value of ``--name=value`` among a benchmark's options, or ``default``."""
    for item in options:
        if item.startswith(f"--{name}="):
            return item.split("=", 1)[1]
    return default


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB.

    Reads ``VmHWM`` from /proc: on Linux ``ru_maxrss`` survives fork and exec, so a
    child started by a large parent would report the parent's peak as its own.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def record(section: str, body: str) -> None:
    """Write (or replace) ``## section`` in docs/benchmarks.md with ``body``."""
    RESULTS_FILE.parent.mkdir(parents=True, exist_ok=True)
    text = RESULTS_FILE.read_text() if RESULTS_FILE.exists() else HEADER
    stamp = (
        f"Measured {dt.datetime.now(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')} on "
        f"{machine_description()}.\n\n"
    )
    block = f"## {section}\n\n{stamp}{body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(section)}\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _match: block + "\n", text).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + block
    RESULTS_FILE.write_text(text)


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A Markdown table from dictionaries that share their keys."""
    if not rows:
        return ""
    keys = list(rows[0])
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    for row in rows:
        lines.append("| " + " | ".join(_format(row[key]) for key in keys) + " |")
    return "\n".join(lines)


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


#: Benchmarks by name; each module adds itself with :func:`benchmark`.
REGISTRY: dict[str, Callable[[list[str]], None]] = {}


def benchmark(name: str) -> Callable[[Callable[[list[str]], None]], Callable[[list[str]], None]]:
    """Register a benchmark function taking the remaining command-line arguments."""

    def decorator(function: Callable[[list[str]], None]) -> Callable[[list[str]], None]:
        REGISTRY[name] = function
        return function

    return decorator
