"""Simulator vs bare Flask on the same server (gunicorn, gevent workers) and worker count, in one run.

    python bench/simulator.py [--duration 10] [--quick]

Needs wrk (`apt-get install wrk`); prints requests/s, p50/p99 and the ratio for: validated POST and GET
at 32 connections (1 and 2 workers), a 50 ms delay rule on every request at 128 connections, startup to
first answer, RSS after the runs. Nothing here is asserted: these are measurements.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sandbox.supervisor import ChildProcess, spawn_ready  # noqa: E402

POST_LUA = """wrk.method = "POST"
wrk.body = '{"text": "a note of moderate length, as a storefront would send it"}'
wrk.headers["Content-Type"] = "application/json"
"""


def start(which: str, workers: int) -> tuple[ChildProcess, float]:
    started = time.monotonic()
    child = spawn_ready(f"bench-{which}", [str(ROOT / "bench" / "apps.py"), which, "--workers", str(workers)],
                        cwd=ROOT)
    while True:
        try:
            requests.get(f"{child.url}/orders/ord_1", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.01)
    return child, time.monotonic() - started


def wrk(url: str, connections: int, seconds: int, lua: str | None = None) -> dict[str, float]:
    args = ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        if lua:
            f.write(lua)
    if lua:
        args += ["-s", f.name]
    out = subprocess.run([*args, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def pct(p: str) -> float:
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)", out, re.M)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    count = re.search(r"(\d+) requests in", out)
    return {"rps": rps, "p50": pct("50"), "p99": pct("99"), "non2xx": float(errors.group(1)) if errors else 0.0,
            "requests": float(count.group(1)) if count else 0.0}


def rss_mib(child: ChildProcess) -> float:
    """Resident memory of the server's processes (master + workers), MiB."""
    pids = [child.pid, *(int(p) for p in subprocess.run(["pgrep", "-P", str(child.pid)], capture_output=True,
                                                         text=True).stdout.split())]
    total = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        total += int(re.search(r"VmRSS:\s+(\d+)", status).group(1))  # type: ignore[union-attr]
    return total / 1024


def paired(sim_url: str, bare_url: str, connections: int, seconds: int, rounds: int,
           lua: str | None) -> tuple[dict[str, float], dict[str, float]]:
    """Alternate simulator and bare Flask runs; the median of each (the machine's load hits both alike)."""
    runs: dict[str, list[dict[str, float]]] = {"sim": [], "bare": []}
    for _ in range(rounds):
        runs["sim"].append(wrk(sim_url, connections, seconds, lua))
        runs["bare"].append(wrk(bare_url, connections, seconds, lua))

    def median(results: list[dict[str, float]]) -> dict[str, float]:
        return {key: statistics.median(r[key] for r in results) for key in results[0]}

    return median(runs["sim"]), median(runs["bare"])


def row(label: str, sim: dict[str, float], bare: dict[str, float] | None) -> str:
    ratio = f"{sim['rps'] / bare['rps']:.2f}" if bare else "-"
    b = f"{bare['rps']:>8.0f} {bare['p50']:>6.2f} {bare['p99']:>7.2f}" if bare else f"{'-':>8} {'-':>6} {'-':>7}"
    return f"| {label:<42} | {sim['rps']:>8.0f} {sim['p50']:>6.2f} {sim['p99']:>7.2f} | {b} | {ratio:>5} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="3-second runs")
    parser.add_argument("--write", action="store_true", help="also write the table into docs/performance.md")
    parser.add_argument("--soak", type=int, default=0, metavar="N",
                        help="only: serve N requests (POST and GET) to one simulator, then report its RSS")
    parser.add_argument("--rounds", type=int, default=3, help="alternating runs per case; medians are printed")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("bench/simulator.py needs wrk: apt-get install wrk")
    seconds = 3 if args.quick else args.duration
    if args.soak:
        soak(args.soak)
        return
    lines: list[str] = []

    def say(text: str = "") -> None:
        """Print a line and keep it for --write."""
        lines.append(text)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()

    say(f"| case (median of {args.rounds} alternating {seconds}s runs) | simulator req/s p50 p99 (ms) | bare Flask req/s p50 p99 (ms) | ratio |")
    say("|---|---|---|---|")
    rss = {}
    for workers in (1, 2):
        sim, sim_start = start("simulator", workers)
        bare, bare_start = start("bare", workers)
        try:
            for label, path, lua in (("validated POST /notes", "/notes", POST_LUA),
                                     ("validated GET /orders/{id}", "/orders/ord_1", None)):
                s, b = paired(sim.url + path, bare.url + path, 32, seconds, args.rounds, lua)
                say(row(f"{label}, 32 conns, {workers} worker(s)", s, b))
                requests.delete(f"{sim.url}/__sandbox/journal", timeout=10)
            if workers == 1:
                say(f"| startup to first answer (s) | {sim_start:.2f} | {bare_start:.2f} | |")
                requests.post(f"{sim.url}/__sandbox/faults", timeout=10, json={
                    "match": {"operation": "getOrder"},
                    "effects": [{"type": "delay", "distribution": {"type": "fixed", "ms": 50}}]})
                s = wrk(sim.url + "/orders/ord_1", 128, seconds)
                say(row("GET with a 50 ms delay rule, 128 conns, 1 worker", s, None))
                rss["simulator"], rss["bare"] = rss_mib(sim), rss_mib(bare)
        finally:
            sim.stop()
            bare.stop()
    say(f"\nRSS after the 1-worker runs (journal capacity 10,000): simulator {rss['simulator']:.0f} MiB, "
          f"bare Flask {rss['bare']:.0f} MiB")
    if args.write:
        write_section(lines, seconds, args.rounds)


def soak(total: int) -> None:
    """RSS of a 1-worker simulator after `total` requests: the journal is a ring buffer, so it must level off."""
    sim, _ = start("simulator", 1)
    try:
        served, checkpoints = 0, []
        while served < total:
            for path, lua in (("/notes", POST_LUA), ("/orders/ord_1", None)):
                served += int(wrk(sim.url + path, 32, 20, lua)["requests"])
            checkpoints.append((served, rss_mib(sim)))
            sys.stdout.write(f"{served:>9,} requests: RSS {checkpoints[-1][1]:.0f} MiB\n")
            sys.stdout.flush()
    finally:
        sim.stop()


def write_section(lines: list[str], seconds: int, rounds: int) -> None:
    """Replace this benchmark's section of docs/performance.md (between its markers) with this run."""
    path = ROOT / "docs" / "performance.md"
    begin, end = "<!-- bench/simulator.py:begin -->", "<!-- bench/simulator.py:end -->"
    cpu = os.cpu_count()
    body = "\n".join([
        begin, "## Simulator vs bare Flask (bench/simulator.py)", "",
        f"Same server (gunicorn, gevent workers), same handler, same worker count, wrk on the same {cpu}-CPU "
        f"machine; each case alternates the two apps {rounds} times for {seconds} s and prints the medians. "
        "Reproduce: `make bench` (or `.venv/bin/python bench/simulator.py --write`).", "", *lines, end])
    text = path.read_text() if path.exists() else "# Performance\n"
    if begin in text and end in text:
        text = text[: text.index(begin)] + body + text[text.index(end) + len(end):]
    else:
        text = text.rstrip("\n") + "\n\n" + body + "\n"
    path.write_text(text)


if __name__ == "__main__":
    main()
