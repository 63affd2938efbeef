"""Legacy commerce backend adapter (contracts/legacy.openapi.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .base import ProviderClient, seg


class LegacyClient(ProviderClient):
    """Customers, KYC, catalogue, basket, sales and orders of the legacy backend."""

    provider = "legacy"

    # customers and KYC
    def register_customer(self, body: dict[str, Any]) -> dict[str, Any]:
        """registerCustomer."""
        return self.request("registerCustomer", "POST", "/customers", json_body=body)

    def migrate_customer(self, record: dict[str, Any]) -> dict[str, Any]:
        """migrateCustomer with a record in the previous platform's format."""
        return self.request("migrateCustomer", "POST", "/customers/migrations", json_body=record)

    def get_customer(self, customer_id: str) -> dict[str, Any]:
        """getCustomer."""
        return self.request("getCustomer", "GET", f"/customers/{seg(customer_id)}")

    def get_kyc(self, customer_id: str) -> dict[str, Any]:
        """getKycStatus."""
        return self.request("getKycStatus", "GET", f"/customers/{seg(customer_id)}/kyc")

    def submit_kyc(self, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """submitKyc."""
        return self.request("submitKyc", "POST", f"/customers/{seg(customer_id)}/kyc", json_body=body)

    def add_address(self, customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """addAddress."""
        return self.request("addAddress", "POST", f"/customers/{seg(customer_id)}/addresses", json_body=body)

    def list_addresses(self, customer_id: str) -> dict[str, Any]:
        """listAddresses."""
        return self.request("listAddresses", "GET", f"/customers/{seg(customer_id)}/addresses")

    # catalogue
    def iter_products(self, *, limit: int = 100) -> Iterator[dict[str, Any]]:
        """listProducts, following next_cursor to the end."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = self.request("listProducts", "GET", "/products", params=params)
            yield from page.get("items") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def product_changes(self, since: str, *, limit: int = 100) -> tuple[list[dict[str, Any]], str | None]:
        """listProductChanges since a server time, every page; returns (changes, server_time)."""
        cursor: str | None = None
        changes: list[dict[str, Any]] = []
        server_time: str | None = None
        while True:
            params: dict[str, Any] = {"since": since, "limit": limit}
            if cursor:
                params["cursor"] = cursor
            page = self.request("listProductChanges", "GET", "/products/changes", params=params)
            changes.extend(page.get("items") or [])
            server_time = page.get("server_time") or server_time
            cursor = page.get("next_cursor")
            if not cursor:
                return changes, server_time

    # basket
    def get_basket(self, customer_id: str) -> dict[str, Any]:
        """getBasket (promotions and totals computed by the backend)."""
        return self.request("getBasket", "GET", f"/customers/{seg(customer_id)}/basket")

    def add_basket_item(self, customer_id: str, sku: str, quantity: int) -> dict[str, Any]:
        """addBasketItem."""
        return self.request("addBasketItem", "POST", f"/customers/{seg(customer_id)}/basket/items",
                            json_body={"sku": sku, "quantity": quantity})

    def remove_basket_item(self, customer_id: str, sku: str) -> dict[str, Any]:
        """removeBasketItem."""
        return self.request("removeBasketItem", "DELETE", f"/customers/{seg(customer_id)}/basket/items/{seg(sku)}")

    # sales and orders
    def simulate_cash(self, body: dict[str, Any]) -> dict[str, Any]:
        """simulateCashSale (no side effect)."""
        return self.request("simulateCashSale", "POST", "/sales/cash/simulations", json_body=body)

    def simulate_hp(self, body: dict[str, Any]) -> dict[str, Any]:
        """simulateHpSale (needs approved KYC; 403 with kyc_status otherwise)."""
        return self.request("simulateHpSale", "POST", "/sales/hp/simulations", json_body=body)

    def create_cash_sale(self, body: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """createCashSale."""
        return self.request("createCashSale", "POST", "/sales/cash", json_body=body,
                            idempotency_key=idempotency_key)

    def create_hp_sale(self, body: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """createHpSale."""
        return self.request("createHpSale", "POST", "/sales/hp", json_body=body,
                            idempotency_key=idempotency_key)

    def get_order(self, order_id: str) -> dict[str, Any]:
        """getOrder."""
        return self.request("getOrder", "GET", f"/orders/{seg(order_id)}")

    def iter_orders(self, *, customer_id: str | None = None) -> Iterator[dict[str, Any]]:
        """listOrders, following next_cursor."""
        cursor: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100}
            if customer_id:
                params["customer_id"] = customer_id
            if cursor:
                params["cursor"] = cursor
            page = self.request("listOrders", "GET", "/orders", params=params)
            yield from page.get("items") or []
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def cancel_order(self, order_id: str, *, reason: str = "customer_request") -> dict[str, Any]:
        """cancelOrder."""
        return self.request("cancelOrder", "POST", f"/orders/{seg(order_id)}/cancel", json_body={"reason": reason})
