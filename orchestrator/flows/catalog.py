"""Catalogue sync from the legacy backend: bulk, then delta since the backend's server time.

Provider fields drift (renamed, dropped, retyped, new enum values); each drift is logged and counted
(`orchestrator_catalog_drift_total`) and the product is kept with what could be read — a drifted field
never stops the sync.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from .. import logs, metrics
from ..errors import ProblemError, ProviderRejected
from ..services import Services

log = logs.get("catalog")
CATEGORIES = frozenset({"phones", "laptops", "tv", "audio", "accessories", "appliances"})
EXPECTED: dict[str, type | tuple[type, ...]] = {
    "sku": str, "name": str, "category": str, "price": dict, "stock": int, "active": bool, "updated_at": str}
SINCE = "catalog.since"


def normalize(raw: Any) -> tuple[dict[str, Any] | None, list[dict[str, str]]]:
    """A product row from a provider record, and the drifts found; None when it has no usable sku."""
    drifts: list[dict[str, str]] = []
    if not isinstance(raw, dict):
        return None, [{"sku": "?", "field": "/", "kind": "retyped"}]
    sku = raw.get("sku") if isinstance(raw.get("sku"), str) else None
    tag = sku or "?"
    for name, typ in EXPECTED.items():
        if name not in raw:
            drifts.append({"sku": tag, "field": name, "kind": "missing"})
        elif not isinstance(raw[name], typ) or (typ is int and isinstance(raw[name], bool)):
            drifts.append({"sku": tag, "field": name, "kind": "retyped"})
    for name in raw:
        if name not in EXPECTED:
            drifts.append({"sku": tag, "field": name, "kind": "unknown_field"})
    category = raw.get("category")
    if isinstance(category, str) and category not in CATEGORIES:
        drifts.append({"sku": tag, "field": "category", "kind": "unknown_enum"})
    if sku is None:
        return None, drifts
    price: dict[str, Any] = raw["price"] if isinstance(raw.get("price"), dict) else {}
    amount = price.get("amount")
    stock = raw.get("stock")
    row = {
        "sku": sku, "name": str(raw.get("name") or sku), "category": category if isinstance(category, str) else None,
        "price_minor": amount if isinstance(amount, int) and not isinstance(amount, bool) else None,
        "currency": price.get("currency") if isinstance(price.get("currency"), str) else None,
        "stock": stock if isinstance(stock, int) and not isinstance(stock, bool) else None,
        "status": "active" if raw.get("active", True) is True else "inactive",
        "data": raw, "updated_at": time.time(),
    }
    return row, drifts


def _record_drifts(drifts: list[dict[str, str]]) -> None:
    """Count and log drifted fields."""
    for d in drifts:
        metrics.CATALOG_DRIFT.labels(d["field"], d["kind"]).inc()
    if drifts:
        log.warning("catalog fields drifted from the contract", extra={"count": len(drifts), "drifts": drifts[:20]})


def _apply(svc: Services, raws: list[Any], mode: str) -> tuple[int, list[dict[str, str]], str | None]:
    """Upsert normalized products; returns (written, drifts, newest updated_at seen)."""
    written, all_drifts, newest = 0, [], None
    for raw in raws:
        row, drifts = normalize(raw)
        all_drifts.extend(drifts)
        if row is None:
            continue
        svc.store.upsert("products", row)
        written += 1
        stamp = raw.get("updated_at")
        if isinstance(stamp, str) and (newest is None or stamp > newest):
            newest = stamp
    _record_drifts(all_drifts)
    metrics.CATALOG_SYNCED.labels(mode).inc(written)
    return written, all_drifts, newest


def sync(svc: Services, mode: str = "delta") -> dict[str, Any]:
    """syncCatalog: `bulk` reloads everything; `delta` applies changes since the last sync."""
    since = svc.store.get_setting(SINCE)
    if mode == "delta" and since:
        try:
            return _delta(svc, since)
        except ProviderRejected as exc:
            if exc.status != 410:
                raise
            log.info("delta window expired; doing a bulk load")
    if mode not in ("bulk", "delta"):
        raise ProblemError(422, "Unknown sync mode", f"'{mode}' is not bulk or delta", type_="/problems/validation")
    products = list(svc.legacy.iter_products())
    written, drifts, newest = _apply(svc, products, "bulk")
    if newest:
        svc.store.set_setting(SINCE, newest)
    return {"mode": "bulk", "fetched": len(products), "upserted": written, "deleted": 0,
            "drift": drifts[:100], "drift_count": len(drifts), "since": newest}


def _delta(svc: Services, since: str) -> dict[str, Any]:
    """Apply product changes after `since`; the next `since` is the backend's server_time."""
    changes, server_time = svc.legacy.product_changes(since)
    upserts = [c.get("product") for c in changes if c.get("change") != "deleted" and c.get("product")]
    written, drifts, _ = _apply(svc, upserts, "delta")
    deleted = 0
    t = svc.store.t["products"]
    for change in changes:
        if change.get("change") == "deleted" and isinstance(change.get("sku"), str):
            with svc.store.tx() as conn:
                deleted += conn.execute(sa.delete(t).where(t.c.sku == change["sku"])).rowcount
    if server_time:
        svc.store.set_setting(SINCE, server_time)
    return {"mode": "delta", "fetched": len(changes), "upserted": written, "deleted": deleted,
            "drift": drifts[:100], "drift_count": len(drifts), "since": server_time or since}


def list_products(svc: Services, *, category: str | None, limit: int, offset: int) -> dict[str, Any]:
    """listProducts from the synced catalogue."""
    t = svc.store.t["products"]
    stmt = sa.select(t).order_by(t.c.sku).limit(limit + 1).offset(offset)
    if category:
        stmt = stmt.where(t.c.category == category)
    rows = svc.store.all(stmt)
    items = [{"sku": r["sku"], "name": r["name"], "category": r["category"], "price": r["price_minor"],
              "currency": r["currency"], "stock": r["stock"], "status": r["status"]} for r in rows[:limit]]
    return {"items": items, "next_offset": offset + limit if len(rows) > limit else None}
