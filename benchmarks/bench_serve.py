"""Benchmark ``serve``: from ``dealer-risk serve`` starting to ``/readyz`` answering 200.

``python -m benchmarks serve [--dealers=N] [--seed=S] [--rounds=R] [--home=DIR]``
(``--home`` reuses a home built before and skips step 1)

1. Builds a home the way a user does, through the command line, on a national world
   (80,000 licensees by default): ``generate``, ``ingest``, ``train --as-of 2024-01-01``
   (the default experiment), ``promote``, ``score``.
2. R times (5 by default), as a whole process: starts ``dealer-risk serve`` (one worker)
   and polls ``/readyz`` every 50 ms from this process, noting when the port first
   answers (503 with ``Retry-After`` while the state loads, as docs/pages.md promises)
   and when ``/readyz`` first answers 200; then stops the server.

Target: ``/readyz`` 200 within 10 s of the start (median round), with the port answering
503 + ``Retry-After`` while loading. Results go to docs/benchmarks.md ("Serve start-up").
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.harness import DEALER_RISK, ROOT, benchmark, markdown_table, option, record, run_cli

AS_OF = "2024-01-01"
TARGET_SECONDS = 10.0
POLL_SECONDS = 0.05


def _build_home(folder: Path, dealers: int, seed: int, env: dict[str, str]) -> dict[str, float]:
    world = folder / "world"
    timings: dict[str, float] = {}
    for name, args in [
        ("generate", ["generate", str(world), "--dealers", str(dealers), "--seed", str(seed)]),
        ("ingest", ["ingest", str(world)]),
        ("train", ["train", "--as-of", AS_OF]),
    ]:
        started = time.perf_counter()
        output = run_cli(env, *args)
        timings[f"{name}_s"] = time.perf_counter() - started
    run_cli(env, "promote", output.strip().splitlines()[-1])
    started = time.perf_counter()
    run_cli(env, "score", "--as-of", AS_OF, "--out", str(folder / "scores.csv"))
    timings["score_s"] = time.perf_counter() - started
    return timings


def _one_start(env: dict[str, str], port: int, log: Path) -> dict[str, Any]:
    """Start the server, time its first answer and its first 200 on /readyz, stop it."""
    import httpx

    url = f"http://127.0.0.1:{port}/readyz"
    first_answer: float | None = None
    loading_answers: list[tuple[int, str | None]] = []
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(DEALER_RISK), "serve", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        while time.perf_counter() - started < 600:
            if process.poll() is not None:
                raise RuntimeError(f"server exited with {process.returncode}: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            try:
                answer = httpx.get(url, timeout=2)
            except httpx.HTTPError:
                time.sleep(POLL_SECONDS)
                continue
            now = time.perf_counter() - started
            if first_answer is None:
                first_answer = now
            if answer.status_code == 200:
                return {"port_open_s": first_answer, "ready_s": now,
                        "answers_while_loading": len(loading_answers),
                        "loading_statuses": sorted({status for status, _ in loading_answers}),
                        "retry_after_every_time": all(retry for _, retry in loading_answers)}
            loading_answers.append((answer.status_code, answer.headers.get("retry-after")))
            time.sleep(POLL_SECONDS)
        raise RuntimeError("/readyz not 200 after 600 s")
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@benchmark("serve")
def run(options: list[str]) -> None:
    """Build (or reuse) the home, then start the server R times."""
    from benchmarks.bench_api import _free_port

    dealers = int(option(options, "dealers", "80000"))
    seed = int(option(options, "seed", "7"))
    rounds = int(option(options, "rounds", "5"))
    reuse = option(options, "home", "")
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as directory:
        folder = Path(directory)
        env = {k: v for k, v in os.environ.items()
               if k not in ("DEALER_RISK_DATABASE_URL", "MLFLOW_TRACKING_URI")}
        env.update(DEALER_RISK_HOME=reuse or str(folder / "home"),
                   MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
        setup: dict[str, Any] = ({"reused_home": reuse} if reuse
                                 else _build_home(folder, dealers, seed, env))
        print("setup", json.dumps(setup), flush=True)
        listed = json.loads(run_cli(env, "status"))
        results = []
        for number in range(1, rounds + 1):
            result = _one_start(env, _free_port(), folder / f"serve-{number}.log")
            print("round", number, json.dumps(result), flush=True)
            results.append(result)
    _report(dealers, seed, setup, listed, results)


def _report(dealers: int, seed: int, setup: dict[str, Any], status: dict[str, Any],
            results: list[dict[str, Any]]) -> None:
    rows = [{"round": number, "port answers, s": result["port_open_s"],
             "/readyz 200, s": result["ready_s"],
             "answers while loading": result["answers_while_loading"],
             "their statuses": ", ".join(str(s) for s in result["loading_statuses"]) or "-",
             "all with Retry-After": "yes" if result["retry_after_every_time"] else "NO"}
            for number, result in enumerate(results, start=1)]
    ready = [result["ready_s"] for result in results]
    opened = [result["port_open_s"] for result in results]
    median = statistics.median(ready)
    loading_ok = all(result["retry_after_every_time"]
                     and set(result["loading_statuses"]) <= {503} for result in results)
    counts = status.get("tables", status)
    licensees = counts.get("dealers") if isinstance(counts, dict) else None
    setup_line = (
        f"Setup: generate {setup['generate_s']:.0f} s, ingest {setup['ingest_s']:.0f} s, "
        f"train {setup['train_s']:.0f} s, score {setup['score_s']:.0f} s."
        if "generate_s" in setup else "Setup: a home built by an earlier run.")
    body = "\n".join([
        f"`python -m benchmarks serve` on a generated world of {dealers:,} licensees (seed "
        f"{seed}{f'; {licensees:,} in the store' if isinstance(licensees, int) else ''}), "
        f"trained with the default experiment and scored as of {AS_OF} through the CLI; "
        "SQLite store. Each round starts `dealer-risk serve` (one worker) as a fresh process "
        f"and polls `/readyz` every {POLL_SECONDS * 1000:.0f} ms from the benchmark's "
        "process: when the port first answers, and when `/readyz` first answers 200.",
        "",
        markdown_table(rows),
        "",
        f"- `/readyz` 200 after {median:.1f} s, median of {len(results)} rounds (rounds "
        f"{', '.join(f'{value:.1f}' for value in sorted(ready))}; target <= "
        f"{TARGET_SECONDS:g} s: {'met' if median <= TARGET_SECONDS else 'NOT met'}); the "
        f"port answered after {statistics.median(opened):.1f} s (median), with 503 and "
        f"`Retry-After` until then: {'yes' if loading_ok else 'NO'}.",
        "",
        setup_line,
    ])
    record("Serve start-up", body)
    print(body)
