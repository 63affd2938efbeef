"""The `then` block: journal, resource and reconciliation expectations, polled for a bounded time."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from typing import Any

from .catalog import SUT
from .http import Session, StepFailure
from .loader import Document
from .values import extract, match

Parts = tuple[str | int, ...]
THEN_TIMEOUT_S = 10.0


def _ts(entry: dict[str, Any]) -> float:
    raw = str(entry.get("real_time") or entry.get("time") or "")
    try:
        return dt.datetime.fromisoformat(raw.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return float(entry.get("ts") or 0)


class ThenChecker:
    """Evaluates `then`; each check is retried until it holds or THEN_TIMEOUT_S passes (async workers)."""

    def __init__(self, session: Session, timeout: float = THEN_TIMEOUT_S) -> None:
        self.session, self.timeout = session, timeout

    def run(self, doc: Document, parts: Parts, then: dict[str, Any]) -> None:
        """Every check in order."""
        for i, check in enumerate(then.get("journal") or []):
            self._poll(doc, (*parts, "journal", i), lambda c=check: self.journal(c))
        for i, check in enumerate(then.get("resources") or []):
            self._poll(doc, (*parts, "resources", i), lambda c=check: self.resources(c))
        if then.get("reconciliation") is not None:
            spec = then["reconciliation"]
            self._poll(doc, (*parts, "reconciliation"), lambda: self.reconciliation(spec))

    def _poll(self, doc: Document, parts: Parts, check: Any) -> None:
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                reason = check()
            except StepFailure as exc:
                reason = str(exc)
            if reason is None:
                return
            if time.monotonic() >= deadline:
                raise StepFailure(reason, doc=doc, parts=parts)
            time.sleep(0.25)

    def _render(self, data: Any) -> Any:
        return self.session.render.render(data)

    def journal(self, check: dict[str, Any]) -> str | None:
        """None when the simulator's journal shows what the check says; else why not."""
        sim = check["sim"]
        entries = self.session.journal(sim, operation=check.get("operation"), kind=check.get("kind"))
        if check.get("kind") != "webhook":
            entries = [e for e in entries if e.get("kind", "request") == "request"]
        where = self._render(check.get("where") or {})
        entries = [e for e in entries if all(match(v, extract(e, k))[0] for k, v in where.items())]
        label = f"{sim} journal {check.get('operation') or check.get('kind') or 'entries'}" + (
            f" where {where}" if where else "")
        listing = "; ".join(f"#{e.get('seq')} {e.get('status')} key={e.get('idempotency_key')}" for e in entries[-10:])
        if "times" in check:
            ok, reason = match(self._render(check["times"]), len(entries))
            if not ok:
                return f"{label}: called {len(entries)} times, {reason} [{listing}]"
        if "statuses" in check:
            got = [e.get("status") for e in entries]
            if got != check["statuses"]:
                return f"{label}: statuses {got}, expected {check['statuses']}"
        if check.get("same_idempotency_key"):
            keys = {e.get("idempotency_key") for e in entries}
            if not entries or len(keys) != 1 or None in keys:
                return f"{label}: expected one Idempotency-Key on every call, got {sorted(map(str, keys))}"
        for key, expected in self._render(check.get("each") or {}).items():
            for e in entries:
                ok, reason = match(expected, extract(e, key))
                if not ok:
                    return f"{label}: entry #{e.get('seq')} {key}: {reason}"
        if "gap_s" in check:
            times = sorted(_ts(e) for e in entries)
            if len(times) < 2:
                return f"{label}: needs at least 2 calls to measure a gap, got {len(times)}"
            for a, b in itertools.pairwise(times):
                ok, reason = match(check["gap_s"], round(b - a, 3))
                if not ok:
                    return f"{label}: gap between calls {reason}"
        return None

    def resources(self, check: dict[str, Any]) -> str | None:
        """None when the simulator's state of `kind` holds what the check says."""
        body = self.session.control(check["sim"], "GET", f"/resources/{check['kind']}")
        items = body.get("items", []) if isinstance(body, dict) else body or []
        where = self._render(check.get("where") or {})
        items = [i for i in items if all(match(v, extract(i, k))[0] for k, v in where.items())]
        label = f"{check['sim']} resources {check['kind']}" + (f" where {where}" if where else "")
        if "count" in check:
            ok, reason = match(self._render(check["count"]), len(items))
            if not ok:
                return f"{label}: {len(items)} found, {reason}"
        for key, expected in self._render(check.get("each") or {}).items():
            for item in items:
                ok, reason = match(expected, extract(item, key))
                if not ok:
                    return f"{label}: {item.get('id', '?')} {key}: {reason}"
        return None

    def reconciliation(self, spec: Any) -> str | None:
        """None when the SUT's getReconciliation says what the spec says (clean by default)."""
        ex = self.session.call(SUT, "getReconciliation")
        violations = self.session.contract_violations(ex)
        if violations:
            return "getReconciliation breaks storefront.openapi.yaml: " + "; ".join(violations)
        if ex.status != 200 or not isinstance(ex.response_body, dict):
            return f"getReconciliation answered {ex.status}: {ex.response_body}"
        body = ex.response_body
        want_clean = spec == "clean" or bool(spec.get("clean", True))
        if body.get("clean") is not want_clean:
            return (f"reconciliation clean={body.get('clean')}, expected {want_clean}: mismatches "
                    f"{body.get('mismatches')} legacy_error={body.get('legacy_error')}")
        for key, expected in self._render(spec.get("body") or {} if isinstance(spec, dict) else {}).items():
            ok, reason = match(expected, extract(body, key))
            if not ok:
                return f"reconciliation {key}: {reason}"
        return None
