"""A shop's traffic against the storefront API: browse, cash checkout, HP checkout (KYC), track, cancel,
refund — user classes weighted like a real shop, seeded Faker data, each journey also a JOURNEY row.

    locust -f loadtests/shop.py --headless -u 20 -r 5 -t 1m --host http://127.0.0.1:8100
"""

from __future__ import annotations

import itertools
import random
import time
from collections import deque
from typing import Any

from faker import Faker
from loadlib import StopJourney, control, endpoints, journey, log, problem, run_tag, seed_for, step
from locust import HttpUser, between, events, task
from locust.env import Environment
from locust.exception import RescheduleTask
from locust.runners import WorkerRunner

CARD_OK = {"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}
CARD_DECLINED = {"number": "4000000000000002", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}
STOCK = 1_000_000
_numbers = itertools.count(1)
_tag = run_tag()
_orders: deque[str] = deque(maxlen=500)  # orders placed in this process, for the tracking journey
_catalog: list[dict[str, Any]] = []


@events.test_start.add_listener
def _setup(environment: Environment, **_: Any) -> None:
    """Plenty of stock on every product (so load does not turn into out-of-stock), then a bulk catalog sync."""
    if isinstance(environment.runner, WorkerRunner) or getattr(environment.parsed_options, "no_setup", False):
        return
    host = (environment.host or "").rstrip("/")
    legacy = endpoints(environment).get("legacy")
    skus: list[str] = []
    if legacy:
        cursor = None
        for _ in range(100):  # the backend pages at 25 whatever limit says: follow next_cursor
            page = control.get(f"{legacy}/products", timeout=30,
                               params={"limit": 100, **({"cursor": cursor} if cursor else {})}).json()
            skus += [p["sku"] for p in page.get("items", [])]
            cursor = page.get("next_cursor")
            if not cursor:
                break
        for sku in skus:
            control.post(f"{legacy}/__sandbox/states/product-stock", json={"sku": sku, "stock": STOCK}, timeout=30)
    r = control.post(f"{host}/catalog/sync", json={"mode": "bulk"}, timeout=60)
    log.info("set-up: stock on %d products, catalog sync %s", len(skus), r.status_code)


class Shopper(HttpUser):
    """A customer of the shop: onboarded once (through the SUT), with an address, then runs one journey."""

    abstract = True
    wait_time = between(0.5, 1.5)
    requests_per_task = 3.0
    kyc = False

    def on_start(self) -> None:
        self.number = next(_numbers)
        self.fake = Faker("en_GB")
        self.fake.seed_instance(seed_for(self.environment, self.number))
        self.rng = random.Random(seed_for(self.environment, self.number))
        self.customer: dict[str, Any] | None = None

    def ensure_customer(self) -> dict[str, Any]:
        """Onboard through the SUT (journey 'onboard customer'); address and KYC decision via the simulator."""
        if self.customer is not None:
            return self.customer
        with journey(self, "onboard customer"):
            email = f"{self.fake.user_name()}.{_tag}.{self.number}@example.com"
            body = {"email": email, "first_name": self.fake.first_name(), "last_name": self.fake.last_name(),
                    "phone": f"+4477009{self.rng.randint(0, 99999):05d}",
                    "date_of_birth": self.fake.date_of_birth(minimum_age=18, maximum_age=80).isoformat(),
                    "password": "correct-horse-battery"}
            customer = step(self, "POST", "/customers", "onboardCustomer", (201,), json=body).json()
            legacy = endpoints(self.environment).get("legacy")
            if not legacy:
                raise StopJourney("no legacy simulator URL (--endpoints): cannot give the customer an address")
            address = control.post(f"{legacy}/customers/{customer['id']}/addresses", timeout=30, json={
                "line1": self.fake.street_address()[:60], "city": self.fake.city()[:40], "postcode": "SW1A 1AA",
                "country": "GB", "default": True})
            if address.status_code != 201:
                raise StopJourney(f"address: {address.status_code}")
            if self.kyc:
                step(self, "POST", f"/customers/{customer['id']}/kyc", "submitKyc", (202,), json={
                    "document_type": "passport", "document_number": f"{self.rng.randint(10**8, 10**9 - 1)}",
                    "issuing_country": "GB"})
                approved = control.post(f"{legacy}/__sandbox/states/kyc-approved", timeout=30,
                                        json={"customer_id": customer["id"]})  # the back office approves
                if approved.status_code != 200:
                    raise StopJourney(f"kyc-approved: {approved.status_code}")
            self.customer = {**customer, "address_id": address.json()["id"]}
        if self.customer is None:
            raise RescheduleTask()  # the failed onboarding is already recorded; try again next task
        return self.customer

    def products(self) -> list[dict[str, Any]]:
        """The synced catalog (fetched once per process), in-stock products only."""
        if not _catalog:
            r = self.client.get("/products", params={"limit": 200}, name="listProducts")
            _catalog.extend(p for p in r.json().get("items", []) if p.get("price") and (p.get("stock") or 0) > 0)
        if not _catalog:
            raise StopJourney("the catalog is empty (was it synced?)")
        return _catalog

    def pick(self, low: int = 0, high: int = 10**9) -> dict[str, Any]:
        """A product priced within [low, high] minor units."""
        choices = [p for p in self.products() if low <= p["price"] <= high] or self.products()
        return self.rng.choice(choices)

    def place(self, body: dict[str, Any], expect: tuple[int, ...] = (201, 202)) -> Any:
        """placeOrder, retried with the same Idempotency-Key on 503 (as the contract asks), up to 3 times."""
        key = f"{_tag}-{self.number}-{time.monotonic_ns()}"
        for attempt in range(3):
            with self.client.post("/orders", json=body, headers={"Idempotency-Key": key}, name="placeOrder",
                                  catch_response=True) as r:
                if r.status_code in expect:
                    r.success()
                    return r
                r.failure(problem(r))
            if r.status_code != 503 or attempt == 2:
                break
            time.sleep(min(float(r.headers.get("Retry-After") or 1), 2.0))
        raise StopJourney(f"placeOrder: {r.status_code}")

    def cash_order(self) -> dict[str, Any]:
        """A confirmed (or pending) cash order of one product, card approved."""
        customer = self.ensure_customer()
        product = self.pick(high=200_000)
        body = {"customer_id": customer["id"], "payment_type": "cash", "delivery_address_id": customer["address_id"],
                "items": [{"sku": product["sku"], "quantity": 1}], "payment": {"card": CARD_OK}}
        order: dict[str, Any] = self.place(body).json()
        _orders.append(order["id"])
        return order


class Browser(Shopper):
    """Looks around: catalog pages and categories, the basket, a price simulation."""

    weight = 55
    requests_per_task = 6.0

    @task
    def browse_catalog(self) -> None:
        customer = self.ensure_customer()
        with journey(self, "browse catalog"):
            page = step(self, "GET", "/products", "listProducts", params={"limit": 20,
                                                                          "offset": self.rng.choice([0, 20])}).json()
            categories = sorted({p["category"] for p in page["items"] if p.get("category")}) or ["phones"]
            step(self, "GET", "/products", "listProducts?category", params={"category": self.rng.choice(categories)})
            product = self.pick(high=500_000)
            base = f"/customers/{customer['id']}/basket"
            step(self, "POST", f"{base}/items", "addBasketItem", json={"sku": product["sku"], "quantity": 1})
            step(self, "GET", base, "getBasket")
            step(self, "POST", "/checkout/simulations", "simulateCheckout", json={
                "customer_id": customer["id"], "payment_type": "cash", "items": [{"sku": product["sku"], "quantity": 1}],
                "delivery_address_id": customer["address_id"]})
            step(self, "DELETE", f"{base}/items/{product['sku']}", "removeBasketItem")


class CashBuyer(Shopper):
    """Buys with a card; about 2 % of cards are declined (402 is the expected answer then)."""

    weight = 15
    requests_per_task = 2.0

    @task
    def cash_checkout(self) -> None:
        customer = self.ensure_customer()
        with journey(self, "cash checkout"):
            product = self.pick(high=200_000)
            items = [{"sku": product["sku"], "quantity": 1}]
            step(self, "POST", "/checkout/simulations", "simulateCheckout", fatal=False,  # a quote; the order decides
                 json={"customer_id": customer["id"], "payment_type": "cash", "items": items,
                       "delivery_address_id": customer["address_id"]})
            declined = self.rng.random() < 0.02
            body = {"customer_id": customer["id"], "payment_type": "cash", "items": items,
                    "delivery_address_id": customer["address_id"],
                    "payment": {"card": CARD_DECLINED if declined else CARD_OK}}
            r = self.place(body, expect=(402, 202) if declined else (201, 202))  # 202: pending, decided later
            if r.status_code != 402:
                _orders.append(r.json()["id"])


class HpBuyer(Shopper):
    """Buys on hire purchase: KYC submitted and approved once, then HP simulation and order."""

    weight = 4
    requests_per_task = 2.0
    kyc = True

    @task
    def hp_checkout(self) -> None:
        customer = self.ensure_customer()
        with journey(self, "hp checkout"):
            product = self.pick(low=20_000, high=300_000)
            items = [{"sku": product["sku"], "quantity": 1}]
            hp = {"term_months": self.rng.choice([6, 12, 24, 36]), "deposit": product["price"] // 10}
            step(self, "POST", "/checkout/simulations", "simulateCheckout(hp)", fatal=False,
                 json={"customer_id": customer["id"], "payment_type": "hp", "items": items, "hp": hp,
                       "delivery_address_id": customer["address_id"]})
            r = self.place({"customer_id": customer["id"], "payment_type": "hp", "items": items, "hp": hp,
                            "delivery_address_id": customer["address_id"], "payment": {"card": CARD_OK}})
            _orders.append(r.json()["id"])


class Tracker(Shopper):
    """Checks where an order is: the order, then the customer's order list."""

    weight = 14
    requests_per_task = 2.0

    @task
    def track_order(self) -> None:
        with journey(self, "track order"):
            if not _orders:
                listed = step(self, "GET", "/orders", "listOrders", params={"limit": 50}).json()
                _orders.extend(o["id"] for o in listed["items"])
            if not _orders:
                return
            order = step(self, "GET", f"/orders/{self.rng.choice(_orders)}", "getOrder").json()
            step(self, "GET", "/orders", "listOrders?customer", params={"customer_id": order["customer_id"], "limit": 10})


class Canceller(Shopper):
    """Changes their mind: orders, then cancels before shipping (shipment cancelled, money back)."""

    weight = 6
    requests_per_task = 3.0

    @task
    def cancel_order(self) -> None:
        with journey(self, "cancel order"):
            order = self.cash_order()
            time.sleep(self.rng.uniform(0.2, 1.0))
            for attempt in range(8):  # 409 order-in-progress (Retry-After: 2) until shipments are booked
                r = step(self, "POST", f"/orders/{order['id']}/cancel", "cancelOrder", (200,), fatal=attempt == 7,
                         json={"reason": "changed mind"})
                if r is not None:
                    break
                time.sleep(2.0)
            step(self, "GET", f"/orders/{order['id']}", "getOrder")


class Refunder(Shopper):
    """Sends part of an order back: a partial refund with an Idempotency-Key, then checks the order."""

    weight = 6
    requests_per_task = 3.0

    @task
    def refund_order(self) -> None:
        with journey(self, "refund order"):
            order = self.cash_order()
            if order["status"] != "confirmed":
                return  # pending (a provider is down): nothing captured yet to refund
            amount = max(1, int(order["captured_amount"]) // 4)
            step(self, "POST", f"/orders/{order['id']}/refunds", "refundOrder", (201, 202), json={
                "amount": amount, "reason": "requested_by_customer"},
                headers={"Idempotency-Key": f"{_tag}-{self.number}-refund-{order['id']}"})
            step(self, "GET", f"/orders/{order['id']}", "getOrder")
