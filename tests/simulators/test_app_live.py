"""The engine over a real socket: validation, contract answers, idempotency, journal, clock, control API."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.servers import ROOT, Server, start_simulator

SPEC = ROOT / "tests" / "data" / "specs" / "engine-test.openapi.yaml"
ORDER = {"sku": "SKU-1", "quantity": 2, "email": "ann@example.com"}


@pytest.fixture(scope="module")
def sim() -> Iterator[Server]:
    server = start_simulator("engine", contract=SPEC, args=["--no-behaviours", "--journal-capacity", "50"])
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def fresh(sim: Server) -> None:
    assert sim.control("POST", "/reset").status_code == 204


def post_order(sim: Server, key: str = "k1", body: dict | None = None, **headers: str) -> requests.Response:
    return requests.post(f"{sim.url}/orders", json=body or ORDER, timeout=10,
                         headers={"Idempotency-Key": key, **headers})


def test_health_names_simulator_and_contract(sim: Server) -> None:
    body = sim.control("GET", "/health").json()
    assert body == {"status": "ok", "simulator": "engine", "contract": "Engine test API 1.0.0"}


def test_invalid_request_is_a_problem_naming_the_field(sim: Server) -> None:
    r = post_order(sim, body={"sku": "SKU-1", "quantity": 0, "email": "not-an-email"})
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("application/problem+json")
    errors = {e["pointer"]: e for e in r.json()["errors"]}
    assert set(errors) == {"/quantity", "/email"}
    assert errors["/quantity"]["received"] == 0
    assert "minimum" in errors["/quantity"]["expected"]


def test_unmatched_path_lists_near_misses(sim: Server) -> None:
    r = requests.get(f"{sim.url}/orderz/ord_1", timeout=10)
    assert r.status_code == 404
    near = r.json()["near_misses"]
    assert near and near[0]["operation"] == "getOrder"
    assert "reason" in near[0]


def test_wrong_method_is_explained(sim: Server) -> None:
    r = requests.delete(f"{sim.url}/orders", timeout=10)
    assert r.status_code == 404
    assert any("method" in m["reason"].lower() for m in r.json()["near_misses"])


def test_examples_by_name_and_first_by_default(sim: Server) -> None:
    assert post_order(sim, "a").json()["id"] == "ord_1"
    assert post_order(sim, "b", Prefer="example=large").json()["id"] == "ord_2"
    r = post_order(sim, "c", Prefer="example=huge")
    assert r.status_code == 400 and "large" in r.json()["detail"]


def test_prefer_code_picks_a_documented_status(sim: Server) -> None:
    r = requests.get(f"{sim.url}/orders/ord_1", headers={"Prefer": "code=404"}, timeout=10)
    assert r.status_code == 404
    assert r.json()["status"]  # a synthesized, schema-valid problem
    assert requests.get(f"{sim.url}/orders/ord_1", headers={"Prefer": "code=418"}, timeout=10).status_code == 400


def test_synthesized_bodies_are_valid_and_seeded(sim: Server) -> None:
    first = requests.get(f"{sim.url}/orders/ord_1", timeout=10).json()
    assert first["status"] in ("placed", "shipped") and "@" in first["email"]
    sim.control("POST", "/reset")
    assert requests.get(f"{sim.url}/orders/ord_1", timeout=10).json() == first


def test_idempotency_rules(sim: Server) -> None:
    missing = requests.post(f"{sim.url}/orders", json=ORDER, timeout=10)
    assert missing.status_code == 400
    assert [e["location"] for e in missing.json()["errors"]] == ["header"]
    assert "idempotency-key" in missing.json()["errors"][0]["pointer"].lower()
    first = post_order(sim, "same")
    again = post_order(sim, "same")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    changed = post_order(sim, "same", body={**ORDER, "quantity": 3})
    assert changed.status_code == 422
    journal = sim.control("GET", "/journal", params={"operation": "createOrder"}).json()["entries"]
    assert [e["idempotent_replay"] for e in journal] == [False, False, True, False]


def test_optional_idempotency_key_may_be_left_out(sim: Server) -> None:
    r = requests.post(f"{sim.url}/notes", json={"text": "hi"}, timeout=10)
    assert r.status_code == 201


def test_journal_filters(sim: Server) -> None:
    post_order(sim, "j1", **{"X-Correlation-ID": "corr-1"})
    post_order(sim, "j2", body={"sku": ""})  # 400
    requests.get(f"{sim.url}/orders", timeout=10)
    q = lambda **p: sim.control("GET", "/journal", params=p).json()  # noqa: E731
    assert [e["status"] for e in q()["entries"]] == [201, 400, 200]
    assert [e["operation"] for e in q(status=400)["entries"]] == ["createOrder"]
    assert len(q(operation="listOrders")["entries"]) == 1
    hit = q(correlation_id="corr-1")["entries"]
    assert len(hit) == 1 and hit[0]["request"]["headers"]["idempotency-key"] == "j1"
    first_seq = q()["entries"][0]["seq"]
    assert [e["status"] for e in q(since=str(first_seq))["entries"]] == [400, 200]
    assert [e["status"] for e in q(limit="1")["entries"]] == [200]
    assert sim.control("GET", "/journal", params={"limit": "x"}).status_code == 400
    assert sim.control("DELETE", "/journal").status_code == 204
    assert q()["entries"] == []


def test_journal_is_a_ring_buffer_that_counts_evictions(sim: Server) -> None:
    for _ in range(60):
        requests.get(f"{sim.url}/orders", timeout=10)
    body = sim.control("GET", "/journal").json()
    assert (body["size"], body["capacity"], body["evicted"]) == (50, 50, 10)


def test_correlation_id_is_echoed_or_generated(sim: Server) -> None:
    r = requests.get(f"{sim.url}/orders", headers={"X-Correlation-ID": "abc-123"}, timeout=10)
    assert r.headers["X-Correlation-ID"] == "abc-123"
    generated = requests.get(f"{sim.url}/orders", timeout=10).headers["X-Correlation-ID"]
    assert len(generated) >= 16


def test_clock_freeze_advance_now_real(sim: Server) -> None:
    sim.control("POST", "/clock", json={"now": "2030-01-01T00:00:00Z"})
    frozen = sim.control("POST", "/clock", json={"freeze": True}).json()
    assert frozen["now"].startswith("2030-01-01T00:00:00") and frozen["frozen"] is True
    advanced = sim.control("POST", "/clock", json={"advance": "7d"}).json()
    assert advanced["now"].startswith("2030-01-08T00:00:00")
    requests.get(f"{sim.url}/orders", timeout=10)
    entry = sim.control("GET", "/journal").json()["entries"][-1]
    assert entry["time"].startswith("2030-01-08T00:00:00")
    assert sim.control("POST", "/clock", json={"advance": "1h30m"}).json()["now"].startswith("2030-01-08T01:30:00")
    bad = sim.control("POST", "/clock", json={"advance": "7 fortnights"})
    assert bad.status_code == 400 and "advance" in str(bad.json()["errors"])
    assert sim.control("POST", "/clock", json={"real": True}).json()["real"] is True


def test_unknown_effect_type_names_the_valid_ones(sim: Server) -> None:
    r = sim.control("POST", "/faults", json={"match": {"operation": "createOrder"}, "effects": [{"type": "dleay"}]})
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert "dleay" in detail and "'delay'" in detail and "commit_then_fail" in detail


def test_unknown_operation_in_a_rule_names_the_nearest(sim: Server) -> None:
    r = sim.control("POST", "/faults", json={"match": {"operation": "createOrdr"}, "effects": [{"type": "reset"}]})
    assert r.status_code == 400 and "createOrder" in r.json()["detail"]


def test_fault_rules_list_and_remove(sim: Server) -> None:
    added = sim.control("POST", "/faults", json={"name": "boom", "match": {"operation": "listOrders"},
                                                  "effects": [{"type": "status", "status": 503}]})
    assert added.status_code == 201
    rule_id = added.json()["id"]
    assert [r["name"] for r in sim.control("GET", "/faults").json()["rules"]] == ["boom"]
    assert sim.control("DELETE", f"/faults/{rule_id}").status_code == 204
    assert sim.control("DELETE", f"/faults/{rule_id}").status_code == 404


def test_profiles_load_from_a_folder_and_unknown_names_are_listed(sim: Server) -> None:
    r = sim.control("POST", "/profiles/no-such-profile")
    assert r.status_code == 404 and "flaky-payments" in r.json()["detail"]


def test_metrics_count_requests_by_operation_and_status(sim: Server) -> None:
    requests.get(f"{sim.url}/orders", timeout=10)
    text = sim.control("GET", "/metrics").text
    assert 'sandbox_requests_total{operation="listOrders",simulator="engine",status="200"}' in text


def test_dashboard_shows_the_journal(sim: Server) -> None:
    requests.get(f"{sim.url}/orders", headers={"X-Correlation-ID": "dash-1"}, timeout=10)
    page = sim.control("GET", "/")
    assert page.headers["Content-Type"].startswith("text/html")
    assert "engine simulator" in page.text and "listOrders" in page.text


def test_bad_contract_file_is_one_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "broken.yaml"
    bad.write_text("openapi: 3.1.0\ninfo: {title: x, version: '1'}\npaths:\n  /a:\n    get:\n      responses: {'200': {$ref: '#/nope'}}\n")
    run = subprocess.run([sys.executable, "-m", "simulators", "serve", str(bad), "--port", "0"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode != 0
    assert "broken.yaml" in run.stderr and "#/nope" in run.stderr
    assert "Traceback" not in run.stderr


def test_non_loopback_bind_requires_a_token() -> None:
    run = subprocess.run([sys.executable, "-m", "simulators", "serve", str(SPEC), "--host", "0.0.0.0"],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert run.returncode != 0 and "--token" in run.stderr


def test_a_bare_value_is_an_equality_predicate(sim: Server) -> None:
    r = sim.control("POST", "/faults", json={"match": {"operation": "createOrder", "body": {"sku": "SKU-9"}},
                                             "effects": [{"type": "status", "status": 409}]})
    assert r.status_code == 201, r.text
    assert post_order(sim, "a", body={**ORDER, "sku": "SKU-9"}).status_code == 409
    assert post_order(sim, "b").status_code == 201
