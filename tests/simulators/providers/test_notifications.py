"""Notifications is served from its contract alone: no behaviour code, and still a useful simulator."""

from __future__ import annotations

import requests

from simulators.providers import REGISTRY
from tests.support.servers import start_simulator


def test_notifications_has_no_behaviour_code() -> None:
    assert "notifications" not in REGISTRY


def test_the_engine_alone_answers_validates_and_journals() -> None:
    server = start_simulator("notifications")
    try:
        sent = requests.post(f"{server.url}/emails", timeout=10, headers={"X-Correlation-ID": "order-7"},
                             json={"to": "ann@example.com", "template": "order_confirmation",
                                   "variables": {"order_id": "ORD-00000007"}})
        assert sent.status_code == 202, sent.text
        assert sent.json()["channel"] == "email" and sent.json()["id"].startswith("ntf_")
        bad = requests.post(f"{server.url}/sms", json={"to": "07700 900123", "text": "hi"}, timeout=10)
        assert bad.status_code == 400 and bad.json()["errors"][0]["pointer"] == "/to"
        entries = server.control("GET", "/journal", params={"operation": "sendEmail"}).json()["entries"]
        assert len(entries) == 1
        assert entries[0]["correlation_id"] == "order-7"
        assert entries[0]["request"]["body"]["to"] == "ann@example.com"  # what scenarios assert on
    finally:
        server.stop()
