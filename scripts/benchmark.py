"""Times full `conformance run`s against the embedded reference server (speed is measured here, never in a test)."""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(workers: str) -> tuple[float, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "conformance", "run", "--report-dir", tmp, "--workers", workers],
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
        if proc.returncode != 0:
            sys.exit(f"run failed ({proc.returncode}):\n{proc.stdout[-2000:]}{proc.stderr}")
        report = json.loads((Path(tmp) / "report.json").read_text())
    return elapsed, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--workers", nargs="+", default=["0", "2"])
    args = parser.parse_args()
    for workers in args.workers:
        times = []
        for _ in range(args.repeat):
            elapsed, report = one_run(workers)
            times.append(elapsed)
        usage = report["usage"]
        print(
            f"workers={workers:>4}: median {statistics.median(times):6.2f} s wall "
            f"(min {min(times):.2f}, max {max(times):.2f}) · {report['totals']['total']} verdicts · "
            f"{usage['requests']} requests · {usage['prompt_tokens']}+{usage['completion_tokens']} tokens"
        )


if __name__ == "__main__":
    main()
