"""Reconciliation: our orders vs the payment provider's settlement report vs the legacy backend's orders."""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict
from typing import Any

import sqlalchemy as sa

from ..errors import ProblemError, ProviderError
from ..services import Services

STUCK_AFTER_S = 300.0


def _day(value: str | None, default: dt.date) -> dt.date:
    """A date query parameter."""
    if not value:
        return default
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise ProblemError(400, "Bad date", f"'{value}' is not YYYY-MM-DD", type_="/problems/validation") from exc


def reconcile(svc: Services, *, date: str | None = None, date_from: str | None = None,
              date_to: str | None = None) -> dict[str, Any]:
    """getReconciliation: every mismatch between the three ledgers for a range of UTC days."""
    today = dt.datetime.now(dt.UTC).date()
    start = _day(date or date_from, today)
    end = _day(date or date_to, start)
    if end < start or (end - start).days > 30:
        raise ProblemError(400, "Bad date range", "from must be <= to and at most 31 days apart",
                           type_="/problems/validation")
    lo = dt.datetime.combine(start, dt.time(), dt.UTC).timestamp()
    hi = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC).timestamp()
    t = svc.store.t["orders"]
    ours = svc.store.all(sa.select(t).where(t.c.created_at >= lo, t.c.created_at < hi))
    known = {o["id"] for o in svc.store.all(sa.select(t.c.id).where(t.c.created_at >= lo - 86400))}
    report = svc.payment.settlements(date_from=start.isoformat(), date_to=end.isoformat())
    captured: dict[str, int] = defaultdict(int)
    refunded: dict[str, int] = defaultdict(int)
    for entry in report.get("entries") or []:
        bucket = captured if entry.get("type") == "capture" else refunded
        bucket[entry.get("reference", "")] += int(entry.get("amount") or 0)
    legacy: dict[str, dict[str, Any]] = {}
    legacy_error = None
    try:
        legacy = {o["id"]: o for o in svc.legacy.iter_orders()}
    except ProviderError as exc:
        legacy_error = str(exc)
    mismatches: list[dict[str, Any]] = []

    def add(kind: str, order_id: str | None, **details: Any) -> None:
        mismatches.append({"kind": kind, "order_id": order_id, **details})

    now = time.time()
    for o in ours:
        oid = o["id"]
        got_c, got_r = captured.get(oid, 0), refunded.get(oid, 0)
        if o["status"] == "failed" and got_c - got_r > 0:
            add("charged_but_failed", oid, settled=got_c - got_r)
        elif got_c != (o["captured_minor"] or 0):
            add("capture_mismatch", oid, expected=o["captured_minor"] or 0, settled=got_c)
        if got_r != (o["refunded_minor"] or 0):
            add("refund_mismatch", oid, expected=o["refunded_minor"] or 0, settled=got_r)
        if o["status"] == "pending" and now - o["created_at"] > STUCK_AFTER_S:
            add("stuck_order", oid, step=o["step"])
        if o["status"] == "failed" and o["payment_status"] in {"authorized", "partially_captured"}:
            add("authorization_left_open", oid, payment_id=o["payment_id"])
        if legacy_error is None and o["legacy_order_id"]:
            lo_ = legacy.get(o["legacy_order_id"])
            if lo_ is None:
                add("missing_in_legacy", oid, legacy_order_id=o["legacy_order_id"])
            elif (lo_.get("status") == "cancelled") != (o["status"] in {"cancelled", "failed"}):
                add("legacy_status_mismatch", oid, legacy_status=lo_.get("status"), status=o["status"])
        elif legacy_error is None and o["status"] in {"confirmed", "completed"} and not o["legacy_order_id"]:
            add("missing_in_legacy", oid, legacy_order_id=None)
    for ref in set(captured) | set(refunded):
        if ref not in known:
            add("settlement_without_order", ref, settled=captured.get(ref, 0) - refunded.get(ref, 0))
    return {"from": start.isoformat(), "to": end.isoformat(), "orders_checked": len(ours),
            "settlement_entries": len(report.get("entries") or []), "legacy_orders": len(legacy),
            "legacy_error": legacy_error, "clean": not mismatches and legacy_error is None,
            "mismatches": mismatches}
