"""Benchmark ``api``: the ranked list and an explanation beside a bare FastAPI endpoint.

``python -m benchmarks api [--dealers=N] [--requests=N] [--seconds=S] [--concurrency=8,2]
[--rounds=R] [--home=DIR]`` (``--home`` reuses a home built before and skips step 1)

1. Builds a home the way a user does, through the command line: ``generate`` a synthetic
   world (20,000 licensees by default), ``ingest``, ``train`` (a lighter experiment, since
   the model's size does not enter a request), ``promote``, ``score``, ``users add``.
2. Starts ``dealer-risk serve`` (one worker) and, beside it, a bare FastAPI app under the
   same uvicorn whose endpoints return prebuilt bytes of the same size as the real
   answers: a 100-item page and an explanation, captured from the real API in this run.
3. From a second process, a bounded load (a request count and a time limit, whichever
   ends first) over keep-alive connections on 127.0.0.1: requests per second and p50/p99,
   at two load levels (8 connections: saturation, where p99 is mostly queueing; 2
   connections: moderate load, where it is mostly service time). Each level runs R rounds
   (11 by default) of the endpoints in turn; the verdicts use the median round, since a
   virtual machine's speed drifts by tens of percent from minute to minute. Beside each
   result: the server's CPU time per request (from /proc).

The API keeps a rendered page of the list for the state it came from once the page has
been asked for twice, so the list is measured twice: cycling through the first ten pages
(kept since the warm-up: what inspectors paging through their list get), and with every
request a page starting at another rank, 3,000 of them in random order (each rendered
anew and never kept). The target's verdict is on the first; the second is beside it.

Targets: the list at >= 50% of the bare endpoint's throughput, and the explanation's p99
at most the bare endpoint's p99 + 5 ms. Results go to docs/benchmarks.md ("API").
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.harness import DEALER_RISK, ROOT, benchmark, markdown_table, record, run_cli

AS_OF = "2024-01-01"
LIST_TARGET_SHARE = 0.5
EXPLANATION_P99_SLACK_MS = 5.0
#: Distinct pages the "every page new" list load cycles through: more than the API
#: remembers having seen (serving.memo.PAGE_MEMO_ENTRIES), so none is ever kept.
FRESH_PAGES = 3000


# --- the bare app: FastAPI returning bytes it already holds -----------------------------


def bare_app() -> Any:
    """A FastAPI app whose endpoints return the payload files named in the environment."""
    from fastapi import FastAPI, Response

    # OpenTelemetry hooks off, as the service runs by default: the cheapest FastAPI answer.
    app = FastAPI(telemetry={"tracing": False, "metrics": False, "logs": False})
    list_payload = Path(os.environ["BENCH_LIST_PAYLOAD"]).read_bytes()
    explanation_payload = Path(os.environ["BENCH_EXPLANATION_PAYLOAD"]).read_bytes()

    @app.get("/bare/list")
    async def bare_list() -> Response:
        return Response(list_payload, media_type="application/json")

    @app.get("/bare/explanation")
    async def bare_explanation() -> Response:
        return Response(explanation_payload, media_type="application/json")

    return app


# --- the load generator (runs in its own process) ----------------------------------------


async def _connection(host: str, port: int, requests: list[bytes], counter: list[int],
                      limit: int, deadline: float, latencies: list[float],
                      errors: list[int]) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while counter[0] < limit and time.perf_counter() < deadline:
            index = counter[0]
            counter[0] += 1
            started = time.perf_counter()
            writer.write(requests[index % len(requests)])
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)
    finally:
        writer.close()


async def _load(url_host: str, port: int, paths: list[str], token: str | None, limit: int,
                seconds: float, concurrency: int) -> dict[str, Any]:
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    requests = [(f"GET {path} HTTP/1.1\r\nHost: {url_host}:{port}\r\n{auth}"
                 "Accept: application/json\r\n\r\n").encode() for path in paths]
    latencies: list[float] = []
    errors: list[int] = []
    counter = [0]
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(
        _connection(url_host, port, requests, counter, limit, deadline, latencies, errors)
        for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    array = np.asarray(latencies or [float("nan")]) * 1000
    return {
        "requests": len(latencies), "seconds": elapsed, "rps": len(latencies) / elapsed,
        "p50_ms": float(np.percentile(array, 50)), "p99_ms": float(np.percentile(array, 99)),
        "errors": len(errors),
    }


def load_main(argv: list[str]) -> None:
    """``python -m benchmarks.bench_api --load PORT PATHS_FILE TOKEN N SECONDS C WARMUP``."""
    port, paths_file, token, limit, seconds, concurrency, warmup = argv
    paths = json.loads(Path(paths_file).read_text())
    bearer = token if token != "-" else None
    if int(warmup) > 0:
        asyncio.run(_load("127.0.0.1", int(port), paths, bearer, int(warmup), 30.0,
                          int(concurrency)))
    result = asyncio.run(_load("127.0.0.1", int(port), paths, bearer, int(limit),
                               float(seconds), int(concurrency)))
    print(json.dumps(result))


# --- orchestration -----------------------------------------------------------------------


def _option(options: list[str], name: str, default: str) -> str:
    for option in options:
        if option.startswith(f"--{name}="):
            return option.split("=", 1)[1]
    return default


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _wait(url: str, process: subprocess.Popen[bytes], timeout: float = 600.0) -> float:
    import httpx

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} not ready after {timeout} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _measure(server: subprocess.Popen[bytes], port: int, paths: list[str], token: str | None,
             folder: Path, name: str, limit: int, seconds: float,
             concurrency: int) -> dict[str, Any]:
    paths_file = folder / f"{name}.paths.json"
    paths_file.write_text(json.dumps(paths))
    # The warm-up runs in the load process before it reports, so the CPU reading taken
    # here includes it: count it in the requests the CPU time is divided by.
    warmup = min(limit // 10, 500)
    cpu_before = _cpu_seconds(server.pid)
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_api", "--load", str(port), str(paths_file),
         token or "-", str(limit), str(seconds), str(concurrency), str(warmup)],
        cwd=ROOT, capture_output=True, text=True, check=True)
    cpu = _cpu_seconds(server.pid) - cpu_before
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    result["cpu_us"] = cpu / (result["requests"] + warmup) * 1e6
    print(name, json.dumps(result), flush=True)
    return result


def _build_home(folder: Path, dealers: int, seed: int, env: dict[str, str]) -> dict[str, Any]:
    world = folder / "world"
    timings: dict[str, Any] = {}
    started = time.perf_counter()
    run_cli(env, "generate", str(world), "--dealers", str(dealers), "--seed", str(seed),
         "--format", "parquet")
    timings["generate_s"] = time.perf_counter() - started
    started = time.perf_counter()
    run_cli(env, "ingest", str(world))
    timings["ingest_s"] = time.perf_counter() - started
    experiment = folder / "bench.toml"
    experiment.write_text('name = "bench-api"\nseed = 1\n[model]\nnum_boost_round = 150\n')
    started = time.perf_counter()
    version = run_cli(env, "train", "--as-of", AS_OF, "--experiment", str(experiment))
    timings["train_s"] = time.perf_counter() - started
    run_cli(env, "promote", version.strip().splitlines()[-1])
    started = time.perf_counter()
    run_cli(env, "score", "--as-of", AS_OF, "--out", str(folder / "scores.csv"))
    timings["score_s"] = time.perf_counter() - started
    timings["token"] = run_cli(env, "users", "add", "bench", "--role", "supervisor"
                            ).strip().splitlines()[-1]
    return timings


@benchmark("api")
def run(options: list[str]) -> None:
    """Build the home, start both servers, load each endpoint, record the results."""
    import httpx

    dealers = int(_option(options, "dealers", "20000"))
    seed = int(_option(options, "seed", "4242"))
    limit = int(_option(options, "requests", "4000"))
    seconds = float(_option(options, "seconds", "20"))
    levels = [int(c) for c in _option(options, "concurrency", "8,2").split(",")]
    rounds = int(_option(options, "rounds", "11"))
    reuse = _option(options, "home", "")
    with tempfile.TemporaryDirectory(prefix="bench-api-") as directory:
        folder = Path(directory)
        env = {k: v for k, v in os.environ.items()
               if k not in ("DEALER_RISK_DATABASE_URL", "MLFLOW_TRACKING_URI")}
        env.update(DEALER_RISK_HOME=reuse or str(folder / "home"),
                   MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR="false")
        if reuse:
            # A home an earlier run (or the demo) built: measure the API only.
            setup = {"reused_home": reuse}
            token = run_cli(env, "users", "add", f"bench-{os.getpid()}-{time.time_ns()}",
                         "--role", "supervisor").strip().splitlines()[-1]
        else:
            setup = _build_home(folder, dealers, seed, env)
            token = setup.pop("token")
        print("setup", json.dumps(setup), flush=True)

        api_port = _free_port()
        api = subprocess.Popen(
            [str(DEALER_RISK), "serve", "--port", str(api_port), "--log-level", "warning"],
            env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=(folder / "api.log").open("wb"))
        bare = None
        try:
            ready_s = _wait(f"http://127.0.0.1:{api_port}/readyz", api)
            headers = {"Authorization": f"Bearer {token}"}
            base = f"http://127.0.0.1:{api_port}"
            first = httpx.get(f"{base}/api/v1/dealers/ranked", params={"limit": 100},
                              headers=headers, timeout=30)
            numbers = [item["license_number"] for item in first.json()["items"]]
            # Ten pages deep, so the list load is not one cached page.
            cursors: list[str | None] = [None]
            page = first.json()
            while len(cursors) < 10 and page["next_cursor"]:
                cursors.append(page["next_cursor"])
                page = httpx.get(f"{base}/api/v1/dealers/ranked",
                                 params={"limit": 100, "cursor": page["next_cursor"]},
                                 headers=headers, timeout=30).json()
                numbers += [item["license_number"] for item in page["items"]]
            explanation = httpx.get(f"{base}/api/v1/dealers/{numbers[0]}/explanation",
                                    headers=headers, timeout=30)
            (folder / "list.json").write_bytes(first.content)
            (folder / "explanation.json").write_bytes(explanation.content)

            bare_port = _free_port()
            bare = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "benchmarks.bench_api:bare_app", "--factory",
                 "--port", str(bare_port), "--log-level", "warning", "--no-access-log"],
                env={**env, "BENCH_LIST_PAYLOAD": str(folder / "list.json"),
                     "BENCH_EXPLANATION_PAYLOAD": str(folder / "explanation.json")},
                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _wait(f"http://127.0.0.1:{bare_port}/bare/list", bare)

            list_paths = ["/api/v1/dealers/ranked?limit=100" + (f"&cursor={c}" if c else "")
                          for c in cursors]
            # Pages starting after FRESH_PAGES distinct ranks, in random order.
            list_token = str(cursors[1]).split("-")[0]
            ranks = np.random.default_rng(seed).choice(
                np.arange(1, first.json()["total"]), size=FRESH_PAGES, replace=False)
            fresh_paths = [f"/api/v1/dealers/ranked?limit=100&cursor={list_token}-{rank}"
                           for rank in ranks.tolist()]
            explanation_paths = [f"/api/v1/dealers/{n}/explanation" for n in numbers]
            # Interleaved per level, so a burst of load from elsewhere on the machine
            # hits both sides of a comparison alike.
            results: dict[int, list[dict[str, dict[str, Any]]]] = {}
            for concurrency in levels:
                load = (limit, seconds, concurrency)
                results[concurrency] = [{
                    "bare_list": _measure(bare, bare_port, ["/bare/list"], None, folder,
                                          f"bare_list@{concurrency}", *load),
                    "list": _measure(api, api_port, list_paths, token, folder,
                                     f"list@{concurrency}", *load),
                    "list_fresh": _measure(api, api_port, fresh_paths, token, folder,
                                           f"list_fresh@{concurrency}", *load),
                    "bare_explanation": _measure(bare, bare_port, ["/bare/explanation"], None,
                                                 folder, f"bare_explanation@{concurrency}",
                                                 *load),
                    "explanation": _measure(api, api_port, explanation_paths, token, folder,
                                            f"explanation@{concurrency}", *load),
                } for _ in range(rounds)]
            sizes = {"list": len(first.content), "explanation": len(explanation.content)}
        finally:
            _stop(api)
            if bare is not None:
                _stop(bare)
    _report(dealers, seed, limit, seconds, rounds, setup, ready_s, sizes, results)


def _median_round(rounds: list[dict[str, dict[str, Any]]], value: Any) -> dict[str, Any]:
    """The round whose ``value(round)`` is the median (the lower one of an even count)."""
    ordered = sorted(rounds, key=value)
    return ordered[(len(ordered) - 1) // 2]


def _report(dealers: int, seed: int, limit: int, seconds: float, rounds: int,
            setup: dict[str, Any], ready_s: float, sizes: dict[str, int],
            results: dict[int, list[dict[str, dict[str, Any]]]]) -> None:
    rows = []
    verdicts = []

    def share(measured: dict[str, dict[str, Any]], key: str = "list") -> float:
        return float(measured[key]["rps"] / measured["bare_list"]["rps"])

    def fresh_share(measured: dict[str, dict[str, Any]]) -> float:
        return share(measured, "list_fresh")

    def gap(measured: dict[str, dict[str, Any]]) -> float:
        return float(measured["explanation"]["p99_ms"] - measured["bare_explanation"]["p99_ms"])

    for concurrency, measured_rounds in results.items():
        for label, kind, key in (
            ("bare FastAPI, list-size payload", "list", "bare_list"),
            ("GET /api/v1/dealers/ranked?limit=100 (first ten pages, kept)", "list", "list"),
            ("GET /api/v1/dealers/ranked?limit=100 (every page new)", "list", "list_fresh"),
            ("bare FastAPI, explanation-size payload", "explanation", "bare_explanation"),
            ("GET /api/v1/dealers/{n}/explanation", "explanation", "explanation"),
        ):
            for number, measured in enumerate(measured_rounds, start=1):
                result = measured[key]
                rows.append({"connections": concurrency, "round": number, "endpoint": label,
                             "bytes": sizes[kind], "requests": result["requests"],
                             "errors": result["errors"], "rps": result["rps"],
                             "p50 ms": result["p50_ms"], "p99 ms": result["p99_ms"],
                             "server CPU us/request": result["cpu_us"]})
        shares = sorted(share(measured) for measured in measured_rounds)
        gaps = sorted(gap(measured) for measured in measured_rounds)
        middle = _median_round(measured_rounds, share)
        list_share = share(middle)
        cpu_ratio = middle["list"]["cpu_us"] / middle["bare_list"]["cpu_us"]
        explanation_gap = gap(_median_round(measured_rounds, gap))
        fresh = _median_round(measured_rounds, fresh_share)
        fresh_shares = sorted(fresh_share(measured) for measured in measured_rounds)
        verdicts.append(
            f"- {concurrency} connection(s), median of {len(measured_rounds)} rounds: ranked "
            f"list at {list_share:.0%} of the bare endpoint's throughput (rounds "
            f"{', '.join(f'{value:.0%}' for value in shares)}; target >= "
            f"{LIST_TARGET_SHARE:.0%}: {'met' if list_share >= LIST_TARGET_SHARE else 'NOT met'}"
            f"; CPU per request {cpu_ratio:.2f}x the bare endpoint's); with every page new, "
            f"{fresh_share(fresh):.0%} (rounds "
            f"{', '.join(f'{value:.0%}' for value in fresh_shares)}; CPU per request "
            f"{fresh['list_fresh']['cpu_us'] / fresh['bare_list']['cpu_us']:.2f}x); "
            "explanation p99 "
            f"{explanation_gap:+.2f} ms against the bare endpoint's (rounds "
            f"{', '.join(f'{value:+.2f}' for value in gaps)}; target <= "
            f"+{EXPLANATION_P99_SLACK_MS:g} ms: "
            f"{'met' if explanation_gap <= EXPLANATION_P99_SLACK_MS else 'NOT met'})."
        )
    setup_line = (
        f"Setup: generate {setup['generate_s']:.0f} s, ingest {setup['ingest_s']:.0f} s, "
        f"train {setup['train_s']:.0f} s, score {setup['score_s']:.0f} s. "
        if "generate_s" in setup else "Setup: a home built by an earlier run. ")
    body = "\n".join([
        f"`python -m benchmarks api` on a generated world of {dealers:,} licensees (seed "
        f"{seed}), scored as of {AS_OF}; one uvicorn worker for the API (`dealer-risk serve`) "
        "and one for the bare app. Load from a second process on 127.0.0.1 over keep-alive "
        f"connections, closed loop, at most {limit:,} requests or {seconds:g} s per endpoint, "
        f"load level and round after a warm-up; {rounds} rounds of the five loads in "
        "turn per level. API requests carry a supervisor's token and each "
        "writes its audit row (SQLite store) before it is answered. The list is loaded twice: "
        "cycling through the first ten pages (which the API keeps once asked for twice, as "
        "when inspectors page through their list), and with every request a page starting "
        f"at another rank ({FRESH_PAGES:,} of them in random order, each rendered anew and "
        "never kept); explanations cycle through the first thousand licensees. "
        "The bare endpoints return the same bytes, prebuilt, from an `async def` handler: "
        "the cheapest way FastAPI can answer, so the ratios are the strictest reading.",
        "",
        markdown_table(rows),
        "",
        *verdicts,
        "",
        setup_line + f"The API was ready {ready_s:.1f} s after start (the stored list and "
        "its model loaded).",
    ])
    record("API", body)
    print(body)


if __name__ == "__main__" and sys.argv[1:2] == ["--load"]:
    load_main(sys.argv[2:])
