"""SLO gates for load runs: read the gates (YAML, file:line errors), judge Locust's stats CSV and the SUT's
reconciliation against them, and print the verdict as a table."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .load_yaml import LoadFileError, MarkedDict, line, plain, read_marked

JOURNEY = "JOURNEY"  # the request type of whole-journey events fired by loadtests/loadlib.py
LOST = {"missing_in_legacy", "stuck_order", "settlement_without_order"}
GATES = ("checkout_success_rate", "error_rate", "latency", "lost_orders", "double_charges",
         "reconciliation_mismatches", "achieved_rate", "min_requests")
BOUNDS = {"checkout_success_rate": "min", "error_rate": "max", "lost_orders": "max", "double_charges": "max",
          "reconciliation_mismatches": "max", "achieved_rate": "min", "min_requests": "min"}
PERCENTILES = {"p50_ms": "50%", "p90_ms": "90%", "p95_ms": "95%", "p99_ms": "99%"}


@dataclass
class SloFile:
    """Validated gates: simple bounds plus latency limits per journey or request name."""

    path: str
    bounds: dict[str, tuple[str, float]] = field(default_factory=dict)
    latency: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def needs_reconciliation(self) -> bool:
        """Whether the run must ask the SUT for its reconciliation at the end."""
        return any(k in self.bounds for k in ("lost_orders", "double_charges", "reconciliation_mismatches"))


@dataclass
class GateResult:
    """One gate's verdict."""

    gate: str
    objective: str
    measured: str
    ok: bool


def load_slo(path: str | Path) -> SloFile:
    """Read and check an SLO file: `gates:` with known names and numeric bounds."""
    path = str(path)
    doc = read_marked(path, "SLO")
    if not isinstance(doc, MarkedDict) or not isinstance(doc.get("gates"), dict) or not doc["gates"]:
        raise LoadFileError(f"{path}:{line(doc, 'gates')}: gates: an SLO file is a mapping with a non-empty "
                            f"`gates:` mapping ({', '.join(GATES)})")
    for key in doc:
        if key not in ("name", "description", "gates"):
            raise LoadFileError(f"{path}:{line(doc, key)}: {key}: unknown key; valid: name, description, gates")
    gates, slo = doc["gates"], SloFile(path)
    for name, spec in gates.items():
        where = f"{path}:{line(gates, name)}: gates.{name}"
        if name not in GATES:
            from simulators.core.errors import did_you_mean

            raise LoadFileError(f"{where}: unknown gate.{did_you_mean(str(name), GATES)} Valid: {', '.join(GATES)}")
        if name == "latency":
            slo.latency = _latency(path, spec, where)
            continue
        bound = BOUNDS[name]
        if not isinstance(spec, dict) or set(spec) != {bound} or not _number(spec[bound]):
            raise LoadFileError(f"{where}: must be {{{bound}: NUMBER}}, got {plain(spec)!r}")
        slo.bounds[name] = (bound, float(spec[bound]))
    return slo


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value >= 0


def _latency(path: str, spec: Any, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(spec, dict) or not spec:
        raise LoadFileError(f"{where}: must map a journey or request name to {{p95_ms: N, p99_ms: N}}")
    out: dict[str, dict[str, float]] = {}
    for name, limits in spec.items():
        at = f"{path}:{line(spec, name)}: gates.latency.{name}"
        if not isinstance(limits, dict) or not limits:
            raise LoadFileError(f"{at}: must be a mapping of {', '.join(PERCENTILES)} to milliseconds")
        for key, value in limits.items():
            if key not in PERCENTILES:
                raise LoadFileError(f"{at}.{key}: unknown percentile; valid: {', '.join(PERCENTILES)}")
            if not _number(value):
                raise LoadFileError(f"{at}.{key}: must be a number of milliseconds, got {value!r}")
        out[str(name)] = {k: float(v) for k, v in limits.items()}
    return out


def read_stats(path: str | Path) -> list[dict[str, str]]:
    """The rows of Locust's PREFIX_stats.csv."""
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _int(row: dict[str, str], key: str) -> int:
    try:
        return int(float(row.get(key) or 0))
    except ValueError:
        return 0


def _float(row: dict[str, str], key: str) -> float | None:
    try:
        return float(row[key])
    except (KeyError, ValueError):
        return None


def http_rows(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Rows of real requests (not journeys, not the Aggregated line)."""
    return [r for r in rows if r.get("Type") not in (JOURNEY, "") and r.get("Name") != "Aggregated"]


def summarize(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Requests, failures, requests/s of HTTP rows; count and failures of checkout journeys."""
    http = http_rows(rows)
    checkouts = [r for r in rows if r.get("Type") == JOURNEY and "checkout" in r.get("Name", "")]
    return {"requests": sum(_int(r, "Request Count") for r in http),
            "failures": sum(_int(r, "Failure Count") for r in http),
            "rps": sum(_float(r, "Requests/s") or 0.0 for r in http),
            "checkouts": sum(_int(r, "Request Count") for r in checkouts),
            "checkout_failures": sum(_int(r, "Failure Count") for r in checkouts)}


def classify(recon: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Reconciliation mismatches as lost orders, double charges and the rest."""
    out: dict[str, list[dict[str, Any]]] = {"lost": [], "double": [], "other": []}
    for m in recon.get("mismatches") or []:
        kind = m.get("kind")
        if kind in LOST:
            out["lost"].append(m)
        elif kind == "charged_but_failed" or (kind == "capture_mismatch" and
                                             (m.get("settled") or 0) > (m.get("expected") or 0)):
            out["double"].append(m)
        else:
            out["other"].append(m)
    return out


def _check(gate: str, bound: str, limit: float, value: float | None, fmt: str, shown: str | None = None) -> GateResult:
    objective = f"{'≥' if bound == 'min' else '≤'} {format(limit, fmt)}" + (" ms" if fmt == ".0f" else "")
    if value is None:
        return GateResult(gate, objective, shown or "not measured", False)
    ok = value >= limit if bound == "min" else value <= limit
    return GateResult(gate, objective, shown or format(value, fmt), ok)


def evaluate(slo: SloFile, rows: list[dict[str, str]], recon: dict[str, Any] | None = None,
             recon_error: str | None = None, target_rate: float | None = None) -> list[GateResult]:
    """Every gate's verdict; a gate that cannot be measured fails."""
    s, results = summarize(rows), []
    for gate, (bound, limit) in slo.bounds.items():
        if gate == "checkout_success_rate":
            value = 1 - s["checkout_failures"] / s["checkouts"] if s["checkouts"] else None
            shown = f"{value:.2%} of {s['checkouts']}" if value is not None else "no checkout ran"
            results.append(_check(gate, bound, limit, value, ".2%", shown))
        elif gate == "error_rate":
            value = s["failures"] / s["requests"] if s["requests"] else None
            text = f"{value:.2%} ({s['failures']}/{s['requests']})" if value is not None else None
            results.append(_check(gate, bound, limit, value, ".2%", text))
        elif gate == "min_requests":
            results.append(_check(gate, bound, limit, float(s["requests"]), "g"))
        elif gate == "achieved_rate":
            value = s["rps"] / target_rate if target_rate else None
            shown = f"{s['rps']:.1f}/{target_rate:g} req/s = {value:.0%}" if value is not None else "no --rate given"
            results.append(_check(gate, bound, limit, value, ".0%", shown))
        else:
            if recon is None:
                results.append(GateResult(gate, f"≤ {limit:g}", f"no reconciliation: {recon_error}", False))
                continue
            kinds = classify(recon)
            found = {"lost_orders": kinds["lost"], "double_charges": kinds["double"],
                     "reconciliation_mismatches": [*kinds["lost"], *kinds["double"], *kinds["other"]]}[gate]
            ids = ", ".join(str(m.get("order_id")) for m in found[:3]) + (" …" if len(found) > 3 else "")
            shown = f"{len(found)} of {recon.get('orders_checked', '?')} orders" + (f" ({ids})" if found else "")
            if gate == "lost_orders" and recon.get("legacy_error"):
                results.append(GateResult(gate, f"≤ {limit:g}", f"legacy unreadable: {recon['legacy_error']}", False))
                continue
            results.append(_check(gate, bound, limit, float(len(found)), "g", shown))
    by_name: dict[str, list[dict[str, str]]] = {}
    for r in rows:
        by_name.setdefault(r.get("Name", ""), []).append(r)
    for name, limits in slo.latency.items():
        candidates = sorted(by_name.get(name, []), key=lambda r: r.get("Type") != JOURNEY)
        row = candidates[0] if candidates and _int(candidates[0], "Request Count") else None
        for key, limit in limits.items():
            gate = f"{name} {key[:-3]}"
            value = _float(row, PERCENTILES[key]) if row else None
            missing = None if value is not None else f"no '{name}' in the run"
            results.append(_check(gate, "max", limit, value, ".0f", missing))
    return results


def print_table(results: list[GateResult], console: Any, title: str = "SLO gates") -> None:
    """A rich table of verdicts, breaches in red."""
    from rich.table import Table

    table = Table(title=title)
    for column in ("gate", "objective", "measured", "verdict"):
        table.add_column(column)
    for r in results:
        verdict = "[green]pass[/]" if r.ok else "[bold red]BREACH[/]"
        table.add_row(r.gate, r.objective, r.measured, verdict)
    console.print(table)
