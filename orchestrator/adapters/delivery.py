"""Delivery provider adapter (contracts/delivery.openapi.yaml)."""

from __future__ import annotations

from typing import Any

from .base import ProviderClient, seg


class DeliveryClient(ProviderClient):
    """Quotes, shipments (one per parcel), cancel and tracking."""

    provider = "delivery"

    def quote(self, body: dict[str, Any]) -> dict[str, Any]:
        """createQuote."""
        return self.request("createQuote", "POST", "/quotes", json_body=body)

    def create_shipment(self, body: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """createShipment."""
        return self.request("createShipment", "POST", "/shipments", json_body=body,
                            idempotency_key=idempotency_key)

    def get_shipment(self, shipment_id: str) -> dict[str, Any]:
        """getShipment."""
        return self.request("getShipment", "GET", f"/shipments/{seg(shipment_id)}")

    def cancel_shipment(self, shipment_id: str, *, reason: str, idempotency_key: str) -> dict[str, Any]:
        """cancelShipment (only while label_created; 409 afterwards)."""
        return self.request("cancelShipment", "POST", f"/shipments/{seg(shipment_id)}/cancel",
                            json_body={"reason": reason}, idempotency_key=idempotency_key)

    def tracking(self, shipment_id: str) -> dict[str, Any]:
        """getTracking."""
        return self.request("getTracking", "GET", f"/shipments/{seg(shipment_id)}/tracking")
