"""Pure pieces: signature check, legacy-format mapping, catalogue drift, fulfilment status, config."""

from __future__ import annotations

import hashlib
import hmac

from orchestrator.config import Config
from orchestrator.flows import catalog, onboarding, orders, webhooks


def _sign(secret: str, t: int, raw: bytes) -> str:
    return f"t={t},v1=" + hmac.new(secret.encode(), f"{t}.".encode() + raw, hashlib.sha256).hexdigest()


def test_signature_verification() -> None:
    raw = b'{"id": "evt_1"}'
    good = _sign("s3cret", 1700000000, raw)
    assert webhooks.verify("s3cret", good, raw)
    assert not webhooks.verify("other", good, raw)
    assert not webhooks.verify("s3cret", good, raw + b" ")
    assert not webhooks.verify("s3cret", None, raw)
    assert not webhooks.verify("s3cret", "garbage", raw)
    assert not webhooks.verify("s3cret", good, raw, tolerance_s=300, now=1700000000 + 301)
    assert webhooks.verify("s3cret", good, raw, tolerance_s=300, now=1700000000 + 299)


def test_migrated_customer_is_mapped_to_the_legacy_format() -> None:
    record = onboarding.to_legacy_record({"legacy_id": "LEG-004217", "first_name": "Grace", "last_name": "Hopper",
                                          "email": "g@example.com", "phone": "+447700900456",
                                          "date_of_birth": "1966-12-09", "status": "suspended"})
    assert record == {"legacy_id": "LEG-004217", "FULL_NAME": "HOPPER, Grace", "EMAIL_ADDR": "g@example.com",
                      "TEL": "07700 900456", "DOB": "09/12/1966", "CUST_STATUS": "S"}


def test_catalog_drift_is_reported_not_fatal() -> None:
    row, drifts = catalog.normalize({"sku": "SKU-00001", "title": "Phone", "category": "drones",
                                     "price": {"amount": "12", "currency": "GBP"}, "stock": 3, "active": True,
                                     "updated_at": "2025-01-01T00:00:00Z"})
    assert row is not None and row["sku"] == "SKU-00001" and row["price_minor"] is None
    kinds = {(d["field"], d["kind"]) for d in drifts}
    assert {("name", "missing"), ("title", "unknown_field"), ("category", "unknown_enum")} <= kinds
    assert catalog.normalize({"name": "no sku"})[0] is None
    assert catalog.normalize("not an object")[0] is None


def test_fulfilment_status_from_shipments() -> None:
    assert orders.fulfilment_status([]) == "unfulfilled"
    assert orders.fulfilment_status(["label_created"]) == "booked"
    assert orders.fulfilment_status(["in_transit", "label_created"]) == "partially_shipped"
    assert orders.fulfilment_status(["delivered", "in_transit"]) == "partially_delivered"
    assert orders.fulfilment_status(["delivered", "delivered"]) == "delivered"


def test_config_reads_environment() -> None:
    cfg = Config.from_env({"DATABASE_URL": "postgresql://x/y", "ORCH_PAYMENT_URL": "http://p",
                           "ORCH_OUTBOX_MAX_ATTEMPTS": "3", "ORCH_RETRIES": "1"}, legacy_url="http://l")
    assert (cfg.database_url, cfg.payment_url, cfg.legacy_url) == ("postgresql://x/y", "http://p", "http://l")
    assert cfg.outbox_max_attempts == 3 and cfg.policy.retries == 1
