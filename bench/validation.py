"""Micro-benchmark: µs per validate_request for a POST with a JSON body, ours vs openapi-core, one run.

    .venv/bin/python bench/validation.py [N]
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from openapi_core import OpenAPI
from openapi_core.testing import MockRequest

from simulators.core.bundle import Bundler, read_document
from simulators.core.contract import load_contract
from simulators.core.validation import ContractValidator

ROOT = Path(__file__).resolve().parents[1]
CASES = [
    (ROOT / "tests" / "data" / "specs" / "bookshop-3.0.yaml", "createBook", "/api/v2/books",
     {"isbn": "9780141036144", "title": "Nineteen Eighty-Four", "genre": "fiction",
      "price": {"amount": 8.99, "currency": "GBP"}, "authors": [{"name": "George Orwell", "born": 1903}],
      "subtitle": None, "edition": 3}),
    (ROOT.parent / "shared" / "specs" / "adyen" / "PaymentService-v68.yaml", "post-authorise",
     "/pal/servlet/Payment/v68/authorise",
     {"amount": {"currency": "EUR", "value": 1000}, "merchantAccount": "TestMerchant", "reference": "order-1",
      "card": {"number": "4111111111111111", "expiryMonth": "03", "expiryYear": "2030", "cvc": "737",
               "holderName": "J Smith"}, "shopperEmail": "j@example.com", "shopperIP": "61.29.12.12"}),
]


def measure(fn, n: int) -> float:
    """µs per call of fn over n calls (after a warm-up)."""
    for _ in range(min(n, 200)):
        fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6


def main(n: int = 5000) -> None:
    for path, op_id, url, payload in CASES:
        if not path.is_file():
            print(f"{path.name}: not present, skipped")
            continue
        bench_one(path, op_id, url, payload, n)


def bench_one(path: Path, op_id: str, url: str, payload: dict, n: int) -> None:
    """Print µs per request validation for one operation, ours and openapi-core."""
    body = json.dumps(payload).encode()
    contract = load_contract(path)
    validator = ContractValidator(contract)
    op = contract.operations[op_id]
    headers = {"content-type": "application/json", "idempotency-key": "k-1234567890"}

    def ours() -> None:
        match = contract.match("POST", url)
        assert match is not None
        validator.validate_request(match.operation, path_params=match.path_params, query={},
                                   headers=headers, content_type="application/json", body=body)

    raw = Bundler(path, read_document(path)).bundle()
    raw["servers"] = [{"url": "http://bench.test" + url[: -len(op.path)]}]
    raw.pop("security", None)
    for item in raw["paths"].values():
        for o in item.values():
            if isinstance(o, dict):
                o.pop("security", None)
    oracle = OpenAPI.from_dict(raw)

    def theirs() -> None:
        oracle.validate_request(MockRequest("http://bench.test", "post", url, headers=headers, data=body,
                                            content_type="application/json"))

    theirs()
    us = measure(ours, n)
    them = measure(theirs, max(n // 20, 50))
    print(f"{path.name} {op_id}: ours {us:.1f} µs (route + validate), openapi-core {them:.0f} µs, "
          f"ratio {them / us:.0f}x")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5000)
