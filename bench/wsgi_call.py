"""CPU per request without a server, measured with time.process_time in one process.

    python bench/wsgi_call.py                 the simulator's and bare Flask's WSGI callables, 5,000 calls each
    python bench/wsgi_call.py checkout [N]    the simulator side of N storefront checkouts (best of 3 rounds):
                                              every provider call through the four simulators' WSGI apps, and
                                              their signed webhooks sent to a receiver process

`checkout` runs the calls the orchestrator makes per cash checkout (bodies and headers as it sends them),
with validation, faults, journal, idempotency and metrics on, under gevent like the served simulators. The
receiver answers `Connection: close` by default, like the orchestrator's gunicorn gthread today (it keeps no
connection alive when worker_connections == threads); `--keepalive` lets it keep connections.
"""

from __future__ import annotations

import io
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.apps import bare_app, simulator_app  # patches for gevent first

ROOT = Path(__file__).resolve().parents[1]
BODY = b'{"text": "a note of moderate length, as a storefront would send it"}'
CHECKOUT_CALLS = {  # simulator -> operations per checkout (webhooks are counted separately)
    "legacy": ("simulateCashSale", "createCashSale", "listAddresses"),
    "payment": ("authorizePayment", "capturePayment"),
    "delivery": ("createShipment",),
    "notifications": ("sendEmail",),
}


def environ() -> dict[str, Any]:
    return {"REQUEST_METHOD": "POST", "PATH_INFO": "/notes", "QUERY_STRING": "", "CONTENT_TYPE": "application/json",
            "CONTENT_LENGTH": str(len(BODY)), "wsgi.input": io.BytesIO(BODY), "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "80", "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1", "HTTP_HOST": "127.0.0.1"}


def _start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    pass


def per_call_us(app: Any, calls: int = 5000) -> float:
    for _ in range(500):
        b"".join(app(environ(), _start_response))
    started = time.perf_counter()
    for _ in range(calls):
        b"".join(app(environ(), _start_response))
    return (time.perf_counter() - started) / calls * 1e6


# ----------------------------------------------------------------------------------------------- checkout
RECEIVER = """
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
KEEP = sys.argv[1] == "keep"
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        if not KEEP:
            self.send_header("Connection", "close")
        self.end_headers()
    def log_message(self, *a):
        pass
server = ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


class Caller:
    """Calls one simulator's WSGI app the way the orchestrator's urllib3 adapter does."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.status = ""
        self.n = 0

    def _start(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        self.status = status

    def __call__(self, method: str, path: str, body: Any = None, key: str | None = None) -> tuple[int, Any]:
        import orjson

        self.n += 1
        data = orjson.dumps(body) if body is not None else b""
        env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": "", "SERVER_NAME": "127.0.0.1",
               "SERVER_PORT": "80", "wsgi.url_scheme": "http", "SERVER_PROTOCOL": "HTTP/1.1",
               "wsgi.input": io.BytesIO(data), "HTTP_HOST": "127.0.0.1", "HTTP_ACCEPT": "application/json",
               "HTTP_USER_AGENT": "python-urllib3/2", "HTTP_ACCEPT_ENCODING": "identity",
               "HTTP_X_CORRELATION_ID": f"6f1d2c3b-0000-4000-8000-{self.n:012d}",
               "HTTP_TRACEPARENT": f"00-{self.n:032x}-{self.n:016x}-01"}
        if body is not None:
            env.update(CONTENT_TYPE="application/json", CONTENT_LENGTH=str(len(data)))
        if key:
            env["HTTP_IDEMPOTENCY_KEY"] = key
        out = b"".join(self.app(env, self._start))
        return int(self.status[:3]), orjson.loads(out) if out else None


def checkout_apps(target: str) -> dict[str, Any]:
    from simulators.app import create_app

    return {name: create_app(ROOT / "contracts" / f"{name}.openapi.yaml", name=name, seed=seed,
                             webhook_target=f"{target}/webhooks/{name}")
            for seed, name in enumerate(CHECKOUT_CALLS, start=1)}


def checkout(n: int = 1000, keepalive: bool = False, repeat: int = 3) -> dict[str, float]:
    """µs of CPU per checkout by simulator operation and webhook delivery; prints a table."""
    import gevent

    receiver = subprocess.Popen([sys.executable, "-c", RECEIVER, "keep" if keepalive else "close"],
                                stdout=subprocess.PIPE, text=True)
    try:
        assert receiver.stdout is not None
        apps = checkout_apps(f"http://127.0.0.1:{receiver.stdout.readline().strip()}")
        call = {name: Caller(app) for name, app in apps.items()}
        sims = {name: app.extensions["simulator"] for name, app in apps.items()}
        status, customer = call["legacy"]("POST", "/customers", {
            "email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "phone": "+447700900123",
            "date_of_birth": "1985-12-10", "password": "correct-horse-battery"})
        assert status == 201, customer
        status, address = call["legacy"]("POST", f"/customers/{customer['id']}/addresses", {
            "line1": "1 Test Street", "city": "London", "postcode": "SW1A 1AA", "country": "GB", "default": True})
        assert status == 201, address
        status, _ = call["legacy"]("POST", "/__sandbox/states/product-stock", {"sku": "SKU-00001", "stock": 10**7})
        assert status == 200
        cpu: dict[str, float] = defaultdict(float)

        def timed(label: str, fn: Any, *args: Any) -> Any:
            started = time.process_time()
            out = fn(*args)
            cpu[label] += time.process_time() - started
            return out

        def deliver(name: str) -> None:
            sims[name].deliver()
            while sims[name].store.items("webhooks_pending"):  # a delivery the behaviour kicked: let it end
                gevent.sleep(0.0005)

        def one(i: int) -> None:
            order = f"ord_{i:016x}"
            items = [{"sku": "SKU-00001", "quantity": 1}]
            sale = {"customer_id": customer["id"], "delivery_address_id": address["id"], "items": items}
            status, sim_ = timed("legacy simulateCashSale", call["legacy"], "POST", "/sales/cash/simulations", sale)
            assert status == 200, sim_
            total = sim_["totals"]["total"]
            status, pay = timed("payment authorizePayment", call["payment"], "POST", "/payments", {
                "amount": total, "currency": "GBP", "reference": order, "capture_method": "manual",
                "card": {"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"},
                "customer_id": customer["id"]}, f"{order}:authorize")
            assert status == 201, pay
            status, _ = timed("legacy createCashSale", call["legacy"], "POST", "/sales/cash",
                              {**sale, "payment_reference": pay["id"], "expected_total": total}, f"{order}:sale")
            assert status == 201
            status, _ = timed("payment capturePayment", call["payment"], "POST", f"/payments/{pay['id']}/captures",
                              {"amount": total}, f"{order}:capture")
            assert status == 201
            timed("payment webhooks (2)", deliver, "payment")
            status, _ = timed("legacy listAddresses", call["legacy"], "GET", f"/customers/{customer['id']}/addresses")
            assert status == 200
            status, _ = timed("delivery createShipment", call["delivery"], "POST", "/shipments", {
                "service": "standard", "order_reference": order, "recipient": {"name": "Ada Lovelace", "address": {
                    "line1": "1 Test Street", "city": "London", "postal_code": "SW1A 1AA", "country": "GB"},
                    "email": "ada@example.com"},
                "parcels": [{"weight_grams": 500, "length_cm": 30, "width_cm": 20, "height_cm": 10}]},
                f"{order}:shipment:1")
            assert status == 201
            timed("delivery webhooks (1)", deliver, "delivery")
            status, _ = timed("notifications sendEmail", call["notifications"], "POST", "/emails", {
                "to": "ada@example.com", "template": "order_confirmation",
                "variables": {"order_id": order, "amount": total, "currency": "GBP"}}, f"{order}:notify:order_confirmed")
            assert status == 202

        for i in range(min(100, n)):
            one(10**9 + i)
        rounds: list[dict[str, float]] = []
        for r in range(repeat):  # the machine is shared: keep each label's best round
            cpu.clear()
            for i in range(n):
                one(r * n + i)
            rounds.append(dict(cpu))
        ticks = {}
        for name in ("payment", "delivery", "legacy"):
            started = time.process_time()
            sims[name].advance()
            ticks[name] = (time.process_time() - started) * 1e3
        delivered = sum(d["status"] == "delivered" for s in ("payment", "delivery")
                        for d in sims[s].webhooks.list()["deliveries"])
        assert delivered == 3 * (repeat * n + min(100, n)), delivered
    finally:
        receiver.terminate()
        receiver.wait()
    out = {label: min(r[label] for r in rounds) / n * 1e6 for label in rounds[0]}
    print(f"CPU per checkout, best of {repeat} rounds of {n} checkouts in one process (µs; receiver "
          f"{'keeps connections' if keepalive else 'answers Connection: close'}):")
    by_sim: dict[str, float] = defaultdict(float)
    for label, us in sorted(out.items()):
        by_sim[label.split()[0]] += us
        print(f"  {label:32s} {us:8.1f}")
    for name, us in by_sim.items():
        print(f"  = {name:30s} {us:8.1f}")
    print(f"  = {'all simulators':30s} {sum(by_sim.values()):8.1f}")
    print("one clock tick with " + ", ".join(f"{name} {ms:.1f} ms" for name, ms in ticks.items())
          + f" ({repeat * n + min(100, n)} open orders, shipments and payments)")
    return out


def main() -> None:
    if sys.argv[1:2] == ["checkout"]:
        args = [a for a in sys.argv[2:] if not a.startswith("--")]
        checkout(int(args[0]) if args else 1000, keepalive="--keepalive" in sys.argv)
        return
    bare, sim = per_call_us(bare_app()), per_call_us(simulator_app(None))
    print(f"bare Flask {bare:.1f} us/call, simulator (validation, faults, journal, metrics on) {sim:.1f} us/call, "
          f"simulator/bare time {sim / bare:.2f}")


if __name__ == "__main__":
    main()
