"""Payment provider adapter (contracts/payment.openapi.yaml)."""

from __future__ import annotations

from typing import Any

from .base import ProviderClient, seg


class PaymentClient(ProviderClient):
    """authorize, capture, void, refund and read payments; settlement reports for reconciliation."""

    provider = "payment"

    def authorize(self, *, amount: int, currency: str, reference: str, instrument: dict[str, Any],
                  idempotency_key: str, customer_id: str | None = None) -> dict[str, Any]:
        """authorizePayment: reserve `amount`; `instrument` is {"card": {...}} or {"token": "tok_..."}."""
        body: dict[str, Any] = {"amount": amount, "currency": currency, "reference": reference,
                                "capture_method": "manual", **instrument}
        if customer_id:
            body["customer_id"] = customer_id[:64]
        return self.request("authorizePayment", "POST", "/payments", json_body=body,
                            idempotency_key=idempotency_key)

    def get(self, payment_id: str) -> dict[str, Any]:
        """getPayment."""
        return self.request("getPayment", "GET", f"/payments/{seg(payment_id)}")

    def capture(self, payment_id: str, *, amount: int | None, idempotency_key: str) -> dict[str, Any]:
        """capturePayment: the whole capturable amount when `amount` is None."""
        body = {} if amount is None else {"amount": amount}
        return self.request("capturePayment", "POST", f"/payments/{seg(payment_id)}/captures", json_body=body,
                            idempotency_key=idempotency_key)

    def void(self, payment_id: str, *, reason: str, idempotency_key: str) -> dict[str, Any]:
        """voidPayment (reason: order_cancelled, duplicate, fraudulent, other)."""
        return self.request("voidPayment", "POST", f"/payments/{seg(payment_id)}/void",
                            json_body={"reason": reason}, idempotency_key=idempotency_key)

    def refund(self, payment_id: str, *, amount: int | None, reason: str,
               idempotency_key: str) -> dict[str, Any]:
        """refundPayment."""
        body: dict[str, Any] = {"reason": reason}
        if amount is not None:
            body["amount"] = amount
        return self.request("refundPayment", "POST", f"/payments/{seg(payment_id)}/refunds", json_body=body,
                            idempotency_key=idempotency_key)

    def settlements(self, *, date_from: str, date_to: str) -> dict[str, Any]:
        """getSettlementReport for a range of UTC days."""
        params = {"date": date_from} if date_from == date_to else {"from": date_from, "to": date_to}
        return self.request("getSettlementReport", "GET", "/settlements", params=params)
