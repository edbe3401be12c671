"""Benchmark the plan page against the ranked list page, for the largest division.

``python -m benchmarks pages [--dealers=N] [--seed=S] [--rounds=R] [--requests=K]``

On the cycle benchmark's home (``benchmarks.bench_cycle.build_cycle``: an 80,000-licensee
world built, trained, scored and planned through the CLI, cached), starts ``dealer-risk
serve`` (one worker), signs a supervisor in through ``/login`` as a person would, and in
R interleaved rounds sends K requests in turn to ``/plan?division=D`` (My plan, its first
page) and ``/dealers?division=D`` (the ranked list page), D the division with the most
planned inspections. Each request is answered whole (status 200) before the next.

Target (issue "Inspection plans"): the plan page for the largest division within the list
page's latency: median over rounds of each round's median latency, plan <= list.
Results go to docs/benchmarks.md ("Plan page").
"""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import time
from typing import Any
from urllib.parse import quote

import pandas as pd

from benchmarks.bench_cycle import DATA_DIR, build_cycle
from benchmarks.harness import DEALER_RISK, ROOT, benchmark, markdown_table, option, record, run_cli


def _latencies(client: Any, path: str, count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        answer = client.get(path)
        answer.read()
        seconds.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise RuntimeError(f"{path} answered {answer.status_code}: {answer.text[:300]}")
    return seconds


@benchmark("pages")
def run(options: list[str]) -> None:
    """Build (or reuse) the cycle's home, serve it, and time both pages in turn."""
    import httpx

    from benchmarks.bench_api import _free_port

    dealers = int(option(options, "dealers", "80000"))
    seed = int(option(options, "seed", "4711"))
    rounds = int(option(options, "rounds", "7"))
    count = int(option(options, "requests", "50"))
    folder = DATA_DIR / f"cycle-{dealers}-{seed}"
    env = build_cycle(folder, dealers, seed)
    token = run_cli(env, "users", "add", f"bench-pages-{int(time.time())}", "--role",
                    "supervisor").strip().splitlines()[-1]
    plan = pd.read_csv(folder / "plan.csv", usecols=["field_division"])
    division = str(plan["field_division"].value_counts().index[0])
    planned = int(plan["field_division"].value_counts().iloc[0])
    port = _free_port()
    log = folder / "pages-serve.log"
    server = subprocess.Popen(
        [str(DEALER_RISK), "serve", "--port", str(port), "--log-level", "warning"],
        env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    base = f"http://127.0.0.1:{port}"
    paths = {"plan": f"/plan?division={quote(division)}",
             "list": f"/dealers?division={quote(division)}"}
    results: dict[str, list[float]] = {"plan": [], "list": []}
    sizes: dict[str, int] = {}
    try:
        with httpx.Client(base_url=base, timeout=60) as client:
            deadline = time.monotonic() + 600
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"server not ready: {log.read_text()[-2000:]}")
                time.sleep(0.1)
            form = re.search(r'name="csrf" value="([^"]+)"', client.get("/login").text)
            signed = client.post("/login", data={"token": token, "next": "/",
                                                 "csrf": form.group(1) if form else ""})
            if signed.status_code != 303:
                raise RuntimeError(f"login answered {signed.status_code}")
            for name, path in paths.items():  # warm-up: the first reads fill the caches
                sizes[name] = len(client.get(path).content)
                _latencies(client, path, 5)
            for number in range(rounds):
                order = ("plan", "list") if number % 2 == 0 else ("list", "plan")
                for name in order:
                    results[name].append(statistics.median(
                        _latencies(client, paths[name], count)))
                print("round", number + 1, json.dumps(
                    {k: round(v[-1] * 1000, 2) for k, v in results.items()}), flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)
    _report(dealers, seed, division, planned, rounds, count, results, sizes)


def _report(dealers: int, seed: int, division: str, planned: int, rounds: int, count: int,
            results: dict[str, list[float]], sizes: dict[str, int]) -> None:
    plan_ms = statistics.median(results["plan"]) * 1000
    list_ms = statistics.median(results["list"]) * 1000
    rows = [
        {"page": f"My plan, {division} (first page)", "bytes": sizes["plan"],
         "median ms": plan_ms,
         "rounds ms": ", ".join(f"{v * 1000:.2f}" for v in results["plan"])},
        {"page": f"ranked list, {division}", "bytes": sizes["list"], "median ms": list_ms,
         "rounds ms": ", ".join(f"{v * 1000:.2f}" for v in results["list"])},
    ]
    met = "met" if plan_ms <= list_ms else "NOT met"
    body = "\n".join([
        f"`python -m benchmarks pages` on the cycle benchmark's home ({dealers:,} licensees, "
        f"seed {seed}, planned as of 2024-01-01); one uvicorn worker; a supervisor signed "
        f"in through `/login`; {rounds} interleaved rounds of {count} sequential requests "
        "per page after a warm-up, each round's median latency (request sent to body read, "
        f"loopback). {division} has the most planned inspections ({planned:,}).",
        "",
        markdown_table(rows),
        "",
        f"- My plan's first page {plan_ms:.2f} ms against the ranked list page's "
        f"{list_ms:.2f} ms (median of round medians; target: within the list page's "
        f"latency: {met}).",
    ])
    record("Plan page", body)
