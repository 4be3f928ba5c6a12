#!/usr/bin/env python3
"""Benchmark the suite against a local server with injected latency, a rate limit and faults.

Scenarios (each a real `conformance run` in its own process against the reference server behind
conformance/server/chaos.py, bound to 127.0.0.1):

* ``paced``  — the server adds --latency to every answer and enforces --rpm (sliding minute) and
  --concurrency; the run is told the same limits. Reports the run time ÷ the floor
  max(Σ latency ÷ concurrency, requests ÷ RPM), the 429s the server sent and the report counted,
  and the ``error`` verdicts.
* ``slow``   — the same limits, with answers as slow as a real model's (--slow-latency, 1.5 s): the
  run keeps up to --concurrency requests in flight (the cases run ahead in threads in each worker),
  so that it is still bound by the requests per minute, not by the workers.
* ``faults`` — the same as ``paced``, with --fault-rate of the answers replaced by a 500, a 503 or a connection
  dropped after the headers: the verdicts must equal the ``paced`` run's.
* ``down``   — the server is stopped after --kill-after requests: the seconds from its death to the
  run's exit (exit code 2, one line).
* ``embedded`` — a plain `conformance run` against the embedded reference server (no latency, no
  limits): the wall time of the main job (not in the defaults).

    python scripts/benchmark.py                          # paced, slow, faults, down; every endpoint but batches
    python scripts/benchmark.py --scenario paced --endpoint chat --latency 0.2 --rpm 300

Writes reports/benchmark/benchmark.json (and each run's report under reports/benchmark/<scenario>/).
Done-when of issue 12: ratio ≤ 1.25 (paced and slow), 0 × 429, 0 error; faults: the same verdicts; down: ≤ 10 s.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from conformance.server import ServerThread, create_app  # noqa: E402
from conformance.server.chaos import Chaos  # noqa: E402

KEY = "sk-benchmark"
DEFAULT_ENDPOINTS = ("models", "chat", "responses", "embeddings", "rerank", "transcriptions")


class Counting:
    """Counts requests (and can stop its server after some)."""

    def __init__(self, app) -> None:
        self.app = app
        self.count = 0
        self.reached = threading.Event()
        self.kill_after: int | None = None

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            self.count += 1
            if self.kill_after is not None and self.count >= self.kill_after:
                self.reached.set()
        await self.app(scope, receive, send)


def run(out: Path, base_url: str, args: argparse.Namespace, extra: list[str]) -> tuple[int, float, dict | None, str]:
    out.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable, "-m", "conformance", "run", "--base-url", base_url, "--report-dir", str(out),
        "--rpm", str(args.rpm), "--concurrency", str(args.concurrency), "--tpm", "0", "--property", args.property,
        *[f"--endpoint={e}" for e in args.endpoint or DEFAULT_ENDPOINTS], *extra,
    ]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    env = {**os.environ, "OPENAI_API_KEY": KEY}
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    elapsed = time.monotonic() - started
    path = out / "report.json"
    return proc.returncode, elapsed, json.loads(path.read_text()) if path.exists() else None, proc.stderr


def verdicts(report: dict) -> dict[str, str]:
    return {f"{r['check']} | {r['case']} | {r['transport']}": r["status"] for r in report["results"]}


def paced(args, out: Path, fault_rate: float = 0.0, name: str = "paced", latency: float | None = None) -> dict:
    latency = args.latency if latency is None else latency
    chaos = Chaos(create_app([KEY]), latency=latency, rpm=args.rpm, concurrency=args.concurrency, fault_rate=fault_rate, seed=args.seed)
    with ServerThread(chaos) as server:
        code, elapsed, report, stderr = run(out / name, server.base_url, args, [])
    if report is None:
        return {"scenario": name, "exit": code, "error": stderr[-500:]}
    requests = chaos.stats["requests"]  # answered by the app (429s excluded)
    floor = max(requests * latency / args.concurrency, requests / args.rpm * 60)
    return {
        "scenario": name,
        "exit": code,
        "seconds": round(elapsed, 1),
        "requests": requests,
        "report_requests": report["usage"]["requests"],
        "floor_s": round(floor, 1),
        "ratio": round(elapsed / floor, 2) if floor else None,
        "429_sent": chaos.stats["429 rate"] + chaos.stats["429 concurrency"],
        "429_counted": report["usage"].get("rate_limited", 0),
        "peak_in_flight": chaos.peak_in_flight,
        "in_flight": report["target"]["limits"].get("in_flight"),
        "latency_s": latency,
        "faults": {k: chaos.stats[k] for k in ("500", "503", "drop")},
        "retries": report["usage"].get("retries", 0),
        "errors": report["totals"]["error"],
        "fails": report["totals"]["fail"],
        "verdicts": verdicts(report),
    }


def embedded(args, out: Path) -> dict:
    command = [sys.executable, "-m", "conformance", "run", "--report-dir", str(out / "embedded"), "--property", args.property]
    if args.workers is not None:
        command += ["--workers", str(args.workers)]
    started = time.monotonic()
    proc = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    elapsed = time.monotonic() - started
    path = out / "embedded" / "report.json"
    report = json.loads(path.read_text()) if path.exists() else {"totals": {}, "usage": {}}
    return {"scenario": "embedded", "exit": proc.returncode, "seconds": round(elapsed, 1), "verdicts_total": report["totals"].get("total"), "requests": report["usage"].get("requests")}


def down(args, out: Path) -> dict:
    counting = Counting(create_app([KEY]))
    counting.kill_after = args.kill_after
    server = ServerThread(counting).start()
    died: list[float] = []

    def kill() -> None:
        counting.reached.wait()
        server.stop(timeout=5)
        died.append(time.monotonic())

    killer = threading.Thread(target=kill, daemon=True)
    killer.start()
    try:
        code, _, report, stderr = run(out / "down", server.base_url, args, [])
    finally:
        server.stop()
    ended = time.monotonic()
    lines = [line for line in stderr.splitlines() if line.startswith("conformance: ")]
    return {
        "scenario": "down",
        "exit": code,
        "seconds_after_death": round(ended - died[0], 1) if died else None,
        "lines": lines,
        "stopped": (report or {}).get("stopped"),
    }


def main() -> int:
    # the injected dropped connections are logged by the server as tracebacks: not news here
    # (a filter: uvicorn.Config sets its loggers' level again)
    for name in ("uvicorn.error", "conformance.server"):
        logging.getLogger(name).addFilter(lambda record: False)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", action="append", choices=("paced", "slow", "faults", "down", "embedded"), help="repeatable (default: paced, slow, faults, down)")
    parser.add_argument("--endpoint", action="append", help=f"repeatable (default: {', '.join(DEFAULT_ENDPOINTS)})")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds added to every answer (default 0.2)")
    parser.add_argument("--slow-latency", type=float, default=1.5, help="seconds added to every answer in the slow scenario (default 1.5)")
    parser.add_argument("--rpm", type=float, default=300, help="requests per minute the server allows (default 300, Scaleway's)")
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight the server allows (default 50, Scaleway's)")
    parser.add_argument("--fault-rate", type=float, default=0.25, help="share of answers replaced by a fault in the faults scenario (default 0.25)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--kill-after", type=int, default=60, help="requests before the server dies in the down scenario (default 60)")
    parser.add_argument("--workers", help="passed to conformance run (default: its own)")
    parser.add_argument("--property", default="off", help="property-based runs (default off)")
    parser.add_argument("--out", type=Path, default=ROOT / "reports" / "benchmark")
    args = parser.parse_args()
    scenarios = args.scenario or ["paced", "slow", "faults", "down"]
    results = []
    for scenario in scenarios:
        if scenario == "paced":
            results.append(paced(args, args.out))
        elif scenario == "slow":
            results.append(paced(args, args.out, name="slow", latency=args.slow_latency))
        elif scenario == "faults":
            results.append(paced(args, args.out, fault_rate=args.fault_rate, name="faults"))
        elif scenario == "embedded":
            results.append(embedded(args, args.out))
        else:
            results.append(down(args, args.out))
        shown = {k: v for k, v in results[-1].items() if k != "verdicts"}
        print(json.dumps(shown), flush=True)
    by_name = {r["scenario"]: r for r in results}
    if "paced" in by_name and "faults" in by_name and "verdicts" in by_name["faults"]:
        clean, faulty = by_name["paced"]["verdicts"], by_name["faults"]["verdicts"]
        changed = {k: [v, faulty.get(k)] for k, v in clean.items() if faulty.get(k) != v}
        by_name["faults"]["changed_verdicts"] = changed
        print(f"faults: {len(changed)} verdicts differ from the clean run" + (f": {list(changed.items())[:5]}" if changed else ""))
    args.out.mkdir(parents=True, exist_ok=True)
    summary = {"settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}, "results": results}
    (args.out / "benchmark.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"benchmark: {args.out / 'benchmark.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
