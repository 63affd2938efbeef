"""The orchestrator running as a subprocess (port 0) beside the real simulators, all stopped by pid."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from tests.support.servers import Server, spawn, start_simulator

PROVIDERS = ("payment", "delivery", "legacy", "notifications")
CARD_OK = {"card": {"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}}
CARD_DECLINED = {"card": {"number": "4000000000000002", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}}


class Sandbox:
    """Four simulators and one orchestrator; helpers for the storefront and the control APIs."""

    def __init__(self, db_path: Path, env: dict[str, str] | None = None, **orch_flags: Any) -> None:
        self.db_url = f"sqlite:///{db_path}"
        self.flags, self.env = orch_flags, env or {}
        self.sims: dict[str, Server] = {}
        self.orch: Server | None = None
        self.session = requests.Session()

    def start(self) -> Sandbox:
        """Start the simulators, then the orchestrator pointed at them; route webhooks to it."""
        for name in PROVIDERS:
            self.sims[name] = start_simulator(name)
        self.start_orchestrator()
        return self

    def start_orchestrator(self) -> Server:
        """(Re)start the orchestrator on the same database."""
        args = ["-m", "orchestrator", "serve", "--port", "0", "--database-url", self.db_url]
        for name in PROVIDERS:
            args += [f"--{name}-url", self.sims[name].url]
        for key, value in {"checkout_lease": 2, "outbox_backoff": 0.2, **self.flags}.items():
            args += [f"--{key.replace('_', '-')}", str(value)]
        self.orch = spawn(args, name="orchestrator", env=self.env)
        for name in ("payment", "delivery"):
            # the control API answers 500 here at the time of writing (its response breaks its own contract),
            # but the target is set: webhooks are asserted on below, not this status
            self.control(name, "PUT", "/webhooks/target", json={"url": f"{self.orch.url}/webhooks/{name}"})
        return self.orch

    def stop(self) -> None:
        """Stop everything started here."""
        for server in [self.orch, *self.sims.values()]:
            if server is not None:
                server.stop()

    @property
    def url(self) -> str:
        """The orchestrator's base URL."""
        assert self.orch is not None
        return self.orch.url

    def sf(self, method: str, path: str, **kw: Any) -> requests.Response:
        """Call the storefront API."""
        return self.session.request(method, self.url + path, timeout=30, **kw)

    def control(self, sim: str, method: str, path: str, **kw: Any) -> requests.Response:
        """Call a simulator's control API."""
        return self.session.request(method, f"{self.sims[sim].url}/__sandbox{path}", timeout=30, **kw)

    def state(self, sim: str, name: str, **params: Any) -> dict[str, Any]:
        """Apply a provider state."""
        r = self.control(sim, "POST", f"/states/{name}", json=params)
        assert r.status_code == 200, r.text
        return r.json()

    def fault(self, sim: str, rule: dict[str, Any]) -> str:
        """Add a fault rule; returns its id."""
        r = self.control(sim, "POST", "/faults", json=rule)
        assert r.status_code == 201, r.text
        return str(r.json().get("id"))

    def journal(self, sim: str, operation: str) -> list[dict[str, Any]]:
        """Journal entries of one operation, oldest first."""
        r = self.control(sim, "GET", "/journal", params={"operation": operation, "limit": 1000})
        assert r.status_code == 200, r.text
        body = r.json()
        return body["entries"] if isinstance(body, dict) else body

    def customer(self, kyc: str | None = None) -> dict[str, Any]:
        """A fresh legacy customer with an address (and a KYC state when asked)."""
        r = self.sf("POST", "/customers", json={
            "email": f"c{time.monotonic_ns()}@example.com", "first_name": "Ada", "last_name": "Lovelace",
            "phone": "+447700900123", "date_of_birth": "1985-12-10", "password": "correct-horse-battery"})
        assert r.status_code == 201, r.text
        customer = r.json()
        if kyc:
            self.state("legacy", kyc, customer_id=customer["id"])
        address = self.session.post(f"{self.sims['legacy'].url}/customers/{customer['id']}/addresses", json={
            "line1": "1 Test Street", "city": "London", "postcode": "SW1A 1AA", "country": "GB", "default": True},
            timeout=10)
        assert address.status_code == 201, address.text
        return {**customer, "address_id": address.json()["id"]}

    def order_body(self, customer: dict[str, Any], *, payment: dict[str, Any] | None = None,
                   items: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
        """A cash placeOrder body."""
        return {"customer_id": customer["id"], "payment_type": "cash", "delivery_address_id": customer["address_id"],
                "items": items or [{"sku": "SKU-00001", "quantity": 1}], "payment": payment or CARD_OK, **extra}

    def place(self, body: dict[str, Any], key: str | None = None) -> requests.Response:
        """placeOrder."""
        return self.sf("POST", "/orders", json=body, headers={"Idempotency-Key": key or f"k-{time.monotonic_ns()}"})

    def order(self, order_id: str) -> dict[str, Any]:
        """getOrder."""
        r = self.sf("GET", f"/orders/{order_id}")
        assert r.status_code == 200, r.text
        return r.json()

    def wait_order(self, order_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 20) -> dict[str, Any]:
        """Poll getOrder until `done` holds."""
        deadline = time.monotonic() + timeout
        order = self.order(order_id)
        while not done(order) and time.monotonic() < deadline:
            time.sleep(0.1)
            order = self.order(order_id)
        assert done(order), f"order did not get there in {timeout}s: {order}"
        return order
