"""Webhooks, which Pact cannot express: simulator events hold to `webhooks:`; the SUT's receivers are fuzzed."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulators.core.contract import load_contract
from simulators.core.synth import Synthesizer
from tests.support.receiver import WebhookReceiver
from tests.support.servers import CONTRACTS, Server, spawn, start_simulator

SECRET = "whsec_sandbox"
CARD = {"number": "4242424242424242", "expiry_month": 12, "expiry_year": 2030, "cvc": "123"}


def Receiver() -> WebhookReceiver:
    """The shared receiver, accepting every delivery: signatures are checked by the test itself."""
    return WebhookReceiver(secret=None)


def sign(raw: bytes, *, t: int | None = None, secret: str = SECRET) -> str:
    stamp = str(t or int(time.time()))
    return f"t={stamp},v1={hmac.new(secret.encode(), stamp.encode() + b'.' + raw, hashlib.sha256).hexdigest()}"


def webhook_validators(name: str) -> dict[str, Any]:
    """event type -> a jsonschema-rs validator of its body, from the contract's `webhooks:` section."""
    contract = load_contract(CONTRACTS / f"{name}.openapi.yaml")
    doc = contract.document
    return {event: jsonschema_rs.validator_for({**doc, **w.body_schema}, validate_formats=True)
            for event, w in contract.webhooks.items()}


def assert_deliveries_conform(name: str, deliveries: list[dict[str, Any]]) -> set[str]:
    received = [(d["headers"], d["body"]) for d in deliveries]
    validators = webhook_validators(name)
    seen = set()
    for headers, raw in received:
        lower = {k.lower(): v for k, v in headers.items()}
        event = json.loads(raw)
        assert lower["sandbox-event-type"] == event["type"] and lower["sandbox-event-id"] == event["id"]
        assert event["type"] in validators, f"{name} sent {event['type']}, not in its contract's webhooks"
        errors = [f"{list(e.instance_path)}: {e.message}" for e in validators[event["type"]].iter_errors(event)]
        assert not errors, f"{name} {event['type']} breaks its contract: {errors}"
        t = dict(p.split("=", 1) for p in lower["sandbox-signature"].split(","))["t"]
        assert lower["sandbox-signature"] == sign(raw, t=int(t)), "signature is not HMAC-SHA256 over '<t>.<body>'"
        seen.add(event["type"])
    return seen


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def test_payment_webhooks_match_the_contract(receiver: Receiver) -> None:
    sim = start_simulator("payment")
    try:
        sim.control("PUT", "/webhooks/target", json={"url": receiver.url}).raise_for_status()
        body = {"amount": 2500, "currency": "EUR", "reference": "order-1", "capture_method": "manual", "card": CARD}
        pay = requests.post(f"{sim.url}/payments", json=body, headers={"Idempotency-Key": "wh-1"}, timeout=10).json()
        requests.post(f"{sim.url}/payments/{pay['id']}/captures", json={"amount": 2500},
                      headers={"Idempotency-Key": "wh-2"}, timeout=10).raise_for_status()
        requests.post(f"{sim.url}/payments/{pay['id']}/refunds", json={"amount": 1000, "reason": "other"},
                      headers={"Idempotency-Key": "wh-3"}, timeout=10).raise_for_status()
        declined = {**body, "card": {**CARD, "number": "4000000000000002"}}
        requests.post(f"{sim.url}/payments", json=declined, headers={"Idempotency-Key": "wh-4"}, timeout=10)
        receiver.wait_for(4)
    finally:
        sim.stop()
    seen = assert_deliveries_conform("payment", receiver.received)
    assert seen >= {"payment.authorized", "payment.captured", "payment.refunded", "payment.failed"}


def test_delivery_webhooks_match_the_contract(receiver: Receiver) -> None:
    sim = start_simulator("delivery")
    try:
        sim.control("PUT", "/webhooks/target", json={"url": receiver.url}).raise_for_status()
        sim.control("POST", "/states/shipment-label-created", json={}).raise_for_status()
        sim.control("POST", "/clock", json={"advance": "40h"}).raise_for_status()
        receiver.wait_for(4)
    finally:
        sim.stop()
    seen = assert_deliveries_conform("delivery", receiver.received)
    assert {"shipment.updated", "shipment.delivered"} <= seen


@pytest.fixture(scope="module")
def sut(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    db = Path(tmp_path_factory.mktemp("orch")) / "orchestrator.db"
    closed = "http://127.0.0.1:9"  # no provider: the receivers must not need one
    server = spawn(["-m", "orchestrator", "serve", "--port", "0", "--database-url", f"sqlite:///{db}",
                    "--webhook-secret", SECRET, "--payment-url", closed, "--delivery-url", closed,
                    "--legacy-url", closed, "--notifications-url", closed], name="orchestrator")
    yield server
    server.stop()


def _post(sut: Server, provider: str, raw: bytes, signature: str | None) -> requests.Response:
    headers = {"Content-Type": "application/json", **({"Sandbox-Signature": signature} if signature else {})}
    r = requests.post(f"{sut.url}/webhooks/{provider}", data=raw, headers=headers, timeout=10)
    assert r.status_code < 500 and "Traceback" not in r.text, f"{r.status_code} {r.text[:500]}\nbody: {raw[:300]!r}"
    return r


def _valid_events(provider: str, n: int) -> list[bytes]:
    contract = load_contract(CONTRACTS / f"{provider}.openapi.yaml")
    out = []
    for i, w in enumerate(list(contract.webhooks.values()) * n):
        synth = Synthesizer(seed=i, resolve=contract.resolve)
        out.append(json.dumps(synth.value(w.body_schema)).encode())
    return out


@pytest.mark.parametrize("provider", ["payment", "delivery"])
def test_receivers_accept_signed_schema_valid_events_and_reject_unsigned(sut: Server, provider: str) -> None:
    validators = webhook_validators(provider)
    for raw in _valid_events(provider, 8):
        event = json.loads(raw)
        assert validators[event["type"]].is_valid(event)
        assert _post(sut, provider, raw, None).status_code == 401
        assert _post(sut, provider, raw, sign(raw, secret="whsec_wrong")).status_code == 401
        assert _post(sut, provider, raw, sign(raw) + "0").status_code == 401
        ok = _post(sut, provider, raw, sign(raw))
        assert 200 <= ok.status_code < 300, f"{ok.status_code} {ok.text}"


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
                           max_leaves=12)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=st.one_of(json_values.map(lambda v: json.dumps(v).encode()), st.binary(max_size=200)),
       provider=st.sampled_from(["payment", "delivery"]), signed=st.booleans())
def test_receivers_never_5xx_on_invalid_events(sut: Server, payload: bytes, provider: str, signed: bool) -> None:
    r = _post(sut, provider, payload, sign(payload) if signed else None)
    if not signed:
        assert r.status_code == 401
    else:
        assert r.status_code in (200, 400, 401, 422), r.text
