"""The legacy backend's stale reads, over HTTP, switched on with `--option` as sandbox.yaml does."""

from __future__ import annotations

import requests

from tests.support.servers import start_simulator


def test_a_read_right_after_a_write_may_be_stale_until_the_replica_catches_up() -> None:
    server = start_simulator("legacy", args=["--option", "stale_read_rate=1.0"])
    try:
        server.control("POST", "/clock", json={"freeze": True})
        url = f"{server.url}/customers/CUS-00000042/kyc"
        submitted = requests.post(url, timeout=10, json={
            "document_type": "passport", "document_number": "123456789", "issuing_country": "GB"})
        assert submitted.status_code == 202 and submitted.json()["status"] == "pending_review"
        assert requests.get(url, timeout=10).json()["status"] == "not_submitted"  # the replica lags
        server.control("POST", "/clock", json={"advance": "3s"})
        assert requests.get(url, timeout=10).json()["status"] == "pending_review"
    finally:
        server.stop()


def test_reads_are_fresh_by_default() -> None:
    server = start_simulator("legacy")
    try:
        url = f"{server.url}/customers/CUS-00000042/kyc"
        requests.post(url, timeout=10, json={
            "document_type": "passport", "document_number": "123456789", "issuing_country": "GB"})
        assert requests.get(url, timeout=10).json()["status"] == "pending_review"
    finally:
        server.stop()
