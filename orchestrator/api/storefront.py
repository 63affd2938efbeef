"""The storefront API (contracts/storefront.openapi.yaml): what channels call."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, current_app, jsonify
from flask.typing import ResponseReturnValue

from .. import metrics
from ..errors import ProblemError, ProviderRejected
from ..flows import catalog, checkout, onboarding, orders, reconciliation, refunds
from ..services import Services
from . import validation

bp = Blueprint("storefront", __name__)
# A page past every row is empty; no larger offset reaches the database (its OFFSET is a 64-bit integer).
PAST_EVERY_ROW = 2**62


def svc() -> Services:
    """The services of the running app."""
    return current_app.extensions["orchestrator"]


def _body() -> dict[str, Any]:
    """The request body, checked against the contract before the view ran ({} when it is optional and absent)."""
    return validation.validated().body or {}


@bp.post("/customers")
def onboard_customer() -> ResponseReturnValue:
    """onboardCustomer."""
    return jsonify(onboarding.onboard(svc(), _body())), 201


@bp.post("/customers/migrations")
def migrate_customer() -> ResponseReturnValue:
    """migrateCustomer."""
    return jsonify(onboarding.migrate(svc(), _body())), 201


@bp.get("/customers/<customer_id>")
def get_customer(customer_id: str) -> ResponseReturnValue:
    """getCustomer."""
    return jsonify(onboarding.get(svc(), customer_id))


@bp.post("/customers/<customer_id>/kyc")
def submit_kyc(customer_id: str) -> ResponseReturnValue:
    """submitKyc."""
    return jsonify(onboarding.submit_kyc(svc(), customer_id, _body())), 202


@bp.get("/customers/<customer_id>/kyc")
def get_kyc_status(customer_id: str) -> ResponseReturnValue:
    """getKycStatus."""
    return jsonify(onboarding.kyc_status(svc(), customer_id))


@bp.post("/catalog/sync")
def sync_catalog() -> ResponseReturnValue:
    """syncCatalog (bulk or delta)."""
    return jsonify(catalog.sync(svc(), _body().get("mode", "delta")))


@bp.get("/products")
def list_products() -> ResponseReturnValue:
    """listProducts (the synced catalogue)."""
    query = validation.validated().query
    return jsonify(catalog.list_products(svc(), category=query.get("category"), limit=query["limit"],
                                         offset=min(query["offset"], PAST_EVERY_ROW)))


@bp.get("/customers/<customer_id>/basket")
def get_basket(customer_id: str) -> ResponseReturnValue:
    """getBasket: totals and promotions exactly as the backend computed them."""
    return jsonify(svc().legacy.get_basket(customer_id))


@bp.post("/customers/<customer_id>/basket/items")
def add_basket_item(customer_id: str) -> ResponseReturnValue:
    """addBasketItem."""
    body = _body()
    return jsonify(svc().legacy.add_basket_item(customer_id, body["sku"], int(body["quantity"])))


@bp.delete("/customers/<customer_id>/basket/items/<sku>")
def remove_basket_item(customer_id: str, sku: str) -> ResponseReturnValue:
    """removeBasketItem."""
    return jsonify(svc().legacy.remove_basket_item(customer_id, sku))


@bp.post("/checkout/simulations")
def simulate_checkout() -> ResponseReturnValue:
    """simulateCheckout: totals (cash) or instalments (HP), no side effect."""
    body = _body()
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
        if exc.status == 404:  # the body names a customer or product the backend does not know, as placeOrder: 422
            detail = (exc.body or {}).get("detail") if isinstance(exc.body, dict) else None
            raise ProblemError(422, "Unknown customer or product", str(detail or exc),
                               type_="/problems/provider-rejected", provider=exc.provider, operation=exc.operation,
                               provider_status=exc.status) from exc
        raise
    return jsonify({"payment_type": body["payment_type"], "lines": sim.get("lines", []),
                    "totals": sim["totals"], "hp": sim.get("hp")})


@bp.post("/orders")
def place_order() -> ResponseReturnValue:
    """placeOrder: Idempotency-Key required; 201 confirmed, 202 pending, problems otherwise."""
    req = validation.validated()
    started = time.perf_counter()
    try:
        order, replayed = checkout.place(svc(), req.header["Idempotency-Key"], req.body)
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
    query = validation.validated().query
    return jsonify(orders.list_orders(svc(), customer_id=query.get("customer_id"), status=query.get("status"),
                                      limit=query["limit"], offset=min(query["offset"], PAST_EVERY_ROW)))


@bp.get("/orders/<order_id>")
def get_order(order_id: str) -> ResponseReturnValue:
    """getOrder."""
    return jsonify(orders.view(svc(), orders.load(svc(), order_id)))


@bp.post("/orders/<order_id>/cancel")
def cancel_order(order_id: str) -> ResponseReturnValue:
    """cancelOrder."""
    reason = _body().get("reason", "customer_request")
    return jsonify(orders.view(svc(), refunds.cancel(svc(), order_id, reason)))


@bp.post("/orders/<order_id>/refunds")
def refund_order(order_id: str) -> ResponseReturnValue:
    """refundOrder (partial or full; optional Idempotency-Key)."""
    req = validation.validated()
    result, code = refunds.refund(svc(), order_id, req.body or {}, req.header.get("Idempotency-Key"))
    return jsonify(result), code


@bp.get("/reconciliation")
def get_reconciliation() -> ResponseReturnValue:
    """getReconciliation."""
    query = validation.validated().query
    return jsonify(reconciliation.reconcile(svc(), date=query.get("date"), date_from=query.get("from"),
                                            date_to=query.get("to")))
