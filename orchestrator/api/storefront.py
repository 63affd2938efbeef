"""The storefront API (contracts/storefront.openapi.yaml): what channels call."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue

from .. import metrics
from ..errors import ProblemError, ProviderRejected
from ..flows import catalog, checkout, onboarding, orders, reconciliation, refunds
from ..services import Services
from . import validation

bp = Blueprint("storefront", __name__)
KEY = re.compile(r"^[!-~]{1,255}$")


def svc() -> Services:
    """The services of the running app."""
    return current_app.extensions["orchestrator"]


def _json(operation: str) -> dict[str, Any]:
    """The validated request body."""
    return validation.body(operation, request.get_json(silent=True))


def _int_arg(name: str, default: int, lo: int, hi: int) -> int:
    """A bounded integer query parameter (400 when malformed)."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not lo <= int(raw) <= hi:
        raise ProblemError(400, f"Bad query parameter '{name}'", f"expected an integer {lo}..{hi}",
                           type_="/problems/validation")
    return int(raw)


@bp.post("/customers")
def onboard_customer() -> ResponseReturnValue:
    """onboardCustomer."""
    return jsonify(onboarding.onboard(svc(), _json("onboardCustomer"))), 201


@bp.post("/customers/migrations")
def migrate_customer() -> ResponseReturnValue:
    """migrateCustomer."""
    return jsonify(onboarding.migrate(svc(), _json("migrateCustomer"))), 201


@bp.get("/customers/<customer_id>")
def get_customer(customer_id: str) -> ResponseReturnValue:
    """getCustomer."""
    return jsonify(onboarding.get(svc(), customer_id))


@bp.post("/customers/<customer_id>/kyc")
def submit_kyc(customer_id: str) -> ResponseReturnValue:
    """submitKyc."""
    return jsonify(onboarding.submit_kyc(svc(), customer_id, _json("submitKyc"))), 202


@bp.get("/customers/<customer_id>/kyc")
def get_kyc_status(customer_id: str) -> ResponseReturnValue:
    """getKycStatus."""
    return jsonify(onboarding.kyc_status(svc(), customer_id))


@bp.post("/catalog/sync")
def sync_catalog() -> ResponseReturnValue:
    """syncCatalog (bulk or delta)."""
    body = request.get_json(silent=True) or {}
    mode = body.get("mode", "delta") if isinstance(body, dict) else "delta"
    return jsonify(catalog.sync(svc(), mode))


@bp.get("/products")
def list_products() -> ResponseReturnValue:
    """listProducts (the synced catalogue)."""
    return jsonify(catalog.list_products(svc(), category=request.args.get("category"),
                                         limit=_int_arg("limit", 50, 1, 200), offset=_int_arg("offset", 0, 0, 10**7)))


@bp.get("/customers/<customer_id>/basket")
def get_basket(customer_id: str) -> ResponseReturnValue:
    """getBasket: totals and promotions exactly as the backend computed them."""
    return jsonify(svc().legacy.get_basket(customer_id))


@bp.post("/customers/<customer_id>/basket/items")
def add_basket_item(customer_id: str) -> ResponseReturnValue:
    """addBasketItem."""
    body = _json("addBasketItem")
    return jsonify(svc().legacy.add_basket_item(customer_id, body["sku"], int(body["quantity"])))


@bp.delete("/customers/<customer_id>/basket/items/<sku>")
def remove_basket_item(customer_id: str, sku: str) -> ResponseReturnValue:
    """removeBasketItem."""
    return jsonify(svc().legacy.remove_basket_item(customer_id, sku))


@bp.post("/checkout/simulations")
def simulate_checkout() -> ResponseReturnValue:
    """simulateCheckout: totals (cash) or instalments (HP), no side effect."""
    body = _json("simulateCheckout")
    items = body.get("items")
    try:
        sale = checkout.sale_base(svc(), body)
        if body["payment_type"] == "hp":
            hp = body.get("hp") or {}
            if not items:
                items = [{"sku": i["sku"], "quantity": i["quantity"]}
                         for i in svc().legacy.get_basket(body["customer_id"]).get("items") or []]
            sim = svc().legacy.simulate_hp({**sale, "items": items, "term_months": hp.get("term_months", 12),
                                            "deposit": int(hp.get("deposit") or 0)})
        else:
            sim = svc().legacy.simulate_cash({**sale, "items": items} if items else {**sale, "from_basket": True})
    except ProviderRejected as exc:
        if exc.status == 403:
            kyc = (exc.body or {}).get("kyc_status") if isinstance(exc.body, dict) else None
            raise ProblemError(409, "KYC not approved", "hire purchase needs an approved KYC",
                               type_="/problems/kyc-not-approved", kyc_status=kyc) from exc
        raise
    return jsonify({"payment_type": body["payment_type"], "lines": sim.get("lines", []),
                    "totals": sim["totals"], "hp": sim.get("hp")})


@bp.post("/orders")
def place_order() -> ResponseReturnValue:
    """placeOrder: Idempotency-Key required; 201 confirmed, 202 pending, problems otherwise."""
    key = request.headers.get("Idempotency-Key", "")
    if not KEY.match(key):
        raise ProblemError(400, "Idempotency-Key required", "send 1-255 visible ASCII characters, the same on "
                           "every retry of this order", type_="/problems/idempotency-key-required")
    started = time.perf_counter()
    try:
        order, replayed = checkout.place(svc(), key, _json("placeOrder"))
    finally:
        metrics.CHECKOUT_SECONDS.observe(time.perf_counter() - started)
    headers = {"Idempotent-Replayed": "true"} if replayed else {}
    if order["status"] == "failed":
        raise _order_problem(order, headers)
    code = 202 if order["status"] == "pending" else 201
    headers["Location"] = f"/orders/{order['id']}"
    return jsonify(orders.view(svc(), order)), code, headers


def _order_problem(order: dict[str, Any], headers: dict[str, str]) -> ProblemError:
    """The problem answered for a failed order."""
    reason, _, detail = (order["reason"] or "failed").partition(": ")
    table = {"declined": (402, "Payment declined", "/problems/payment-declined"),
             "kyc_not_approved": (409, "KYC not approved", "/problems/kyc-not-approved"),
             "out_of_stock": (409, "Out of stock", "/problems/out-of-stock"),
             "payment_unavailable": (503, "Payment provider unavailable", "/problems/provider-unavailable")}
    status, title, type_ = table.get(reason, (422, "Order failed", "/problems/order-failed"))
    problem = ProblemError(status, title, detail or reason, type_=type_, order_id=order["id"], reason=reason,
                           decline_code=detail if reason == "declined" else None,
                           retry_after=5 if status == 503 else None, headers=headers)
    return problem


@bp.get("/orders")
def list_orders() -> ResponseReturnValue:
    """listOrders."""
    return jsonify(orders.list_orders(svc(), customer_id=request.args.get("customer_id"),
                                      status=request.args.get("status"), limit=_int_arg("limit", 50, 1, 200),
                                      offset=_int_arg("offset", 0, 0, 10**7)))


@bp.get("/orders/<order_id>")
def get_order(order_id: str) -> ResponseReturnValue:
    """getOrder."""
    return jsonify(orders.view(svc(), orders.load(svc(), order_id)))


@bp.post("/orders/<order_id>/cancel")
def cancel_order(order_id: str) -> ResponseReturnValue:
    """cancelOrder."""
    body = request.get_json(silent=True) or {}
    reason = body.get("reason", "customer_request") if isinstance(body, dict) else "customer_request"
    return jsonify(orders.view(svc(), refunds.cancel(svc(), order_id, str(reason)[:200])))


@bp.post("/orders/<order_id>/refunds")
def refund_order(order_id: str) -> ResponseReturnValue:
    """refundOrder (partial or full; optional Idempotency-Key)."""
    body = request.get_json(silent=True) or {}
    if not isinstance(body, dict):
        raise ProblemError(400, "Request body must be a JSON object", type_="/problems/validation")
    body = validation.body("refundOrder", body)
    key = request.headers.get("Idempotency-Key")
    result, code = refunds.refund(svc(), order_id, body, key if key and KEY.match(key) else None)
    return jsonify(result), code


@bp.get("/reconciliation")
def get_reconciliation() -> ResponseReturnValue:
    """getReconciliation."""
    return jsonify(reconciliation.reconcile(svc(), date=request.args.get("date"),
                                            date_from=request.args.get("from"), date_to=request.args.get("to")))
