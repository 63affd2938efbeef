"""CPU per request of the orchestrator's HTTP serving, one worker class against another, on a cheap GET.

    python bench/server_cpu.py [--seconds 8] [--rounds 2] [--connections 16] [--path /health]
        [--classes threads,gthread]

Starts `python -m orchestrator serve --worker-class CLASS` (SQLite in a temporary folder, 1 worker), warms it
up, then runs wrk (keep-alive connections) for `--seconds` and divides the CPU the orchestrator's process
tree used (/proc, user + system) by the requests answered. The classes alternate for `--rounds` rounds;
medians are printed. The tree's idle CPU (outbox polling) is measured for 2 s before and subtracted.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from checkout import cpu_seconds
from simulator import ROOT, wrk

from sandbox.supervisor import spawn_ready


def measure(worker_class: str, path: str, seconds: int, connections: int) -> dict[str, float]:
    """One run: requests/s, CPU ms per request (idle-corrected) and idle CPU ms/s of the server tree."""
    db = Path(tempfile.mkdtemp(prefix="server-cpu-")) / "orchestrator.db"
    child = spawn_ready(f"orchestrator-{worker_class}", [
        "-m", "orchestrator", "serve", "--port", "0", "--database-url", f"sqlite:///{db}",
        "--worker-class", worker_class, "--threads", "16", "--log-level", "WARNING"], cwd=ROOT)
    try:
        url = child.url + path
        wrk(url, connections, 1)  # warm up: imports, first connections, SQLite pages
        time.sleep(2)  # the second after a burst costs more than an idle one (both classes alike)
        idle_start, idle0 = time.monotonic(), cpu_seconds(child.pid)
        time.sleep(2)
        idle_rate = (cpu_seconds(child.pid) - idle0) / (time.monotonic() - idle_start)
        start, cpu0 = time.monotonic(), cpu_seconds(child.pid)
        result = wrk(url, connections, seconds)
        elapsed, cpu = time.monotonic() - start, cpu_seconds(child.pid) - cpu0
        assert result["requests"] > 0, result
        return {"rps": result["rps"], "non2xx": result["non2xx"], "cpu_ms": (cpu - idle_rate * elapsed) / result["requests"] * 1000,
                "idle_ms_per_s": idle_rate * 1000}
    finally:
        child.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--path", default="/health", help="e.g. /no-such-route: Flask's 404, no database")
    parser.add_argument("--classes", default="threads,gthread")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/server_cpu.py needs wrk: apt-get install wrk")
    classes = args.classes.split(",")
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in classes}
    for _ in range(args.rounds):
        for worker_class in classes:
            runs[worker_class].append(measure(worker_class, args.path, args.seconds, args.connections))
    print(f"GET {args.path}, wrk -t2 -c{args.connections} -d{args.seconds}s, medians of {args.rounds} run(s)\n")
    print("| worker class | requests/s | CPU per request | each run (ms) | idle CPU | non-2xx answers |")
    print("|---|---|---|---|---|---|")
    for worker_class, results in runs.items():
        each = ", ".join(f"{r['cpu_ms']:.3f}" for r in results)
        print(f"| {worker_class} | {statistics.median(r['rps'] for r in results):.0f} | "
              f"{statistics.median(r['cpu_ms'] for r in results):.3f} ms | "
              f"{each} | "
              f"{statistics.median(r['idle_ms_per_s'] for r in results):.1f} ms/s | "
              f"{sum(r['non2xx'] for r in results):.0f} |")


if __name__ == "__main__":
    main()
