"""The fault engine: validation at add, predicates, nth/times/probability, shared counters, rate limits."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from simulators.core.clock import Clock
from simulators.core.effects import EMPTY_PLAN
from simulators.core.errors import ConfigError
from simulators.core.faults import FaultEngine, compile_rule
from simulators.core.store import MemoryStore, SQLiteStore

OPS = {"authorizePayment", "capturePayment", "voidPayment", "refundPayment", "getPayment"}


def make(seed: int = 0, store: Any = None, ops: set[str] | None = OPS) -> FaultEngine:
    store = store or MemoryStore()
    return FaultEngine(store, Clock(store), seed=seed, known_operations=ops)


def capture(engine: FaultEngine, body: Any = None, headers: dict[str, str] | None = None,
            path: str = "/payments/pay_1/capture", method: str = "POST") -> Any:
    return engine.plan("capturePayment", method, path, headers or {}, body)


def fires(engine: FaultEngine, n: int, **kw: Any) -> list[bool]:
    return [bool(capture(engine, **kw).rules) for _ in range(n)]


# -- add / list / remove / clear ------------------------------------------------------------------


def test_add_returns_the_stored_rule_with_id_and_defaults() -> None:
    engine = make()
    rule = engine.add({"name": "capture-times-out", "match": {"operation": "capturePayment", "times": 1,
                       "body": {"amount": {"gt": 100000}}}, "effects": [{"type": "commit_then_fail", "then": "reset"}]})
    assert rule["id"].startswith("f_") and len(rule["id"]) == 8
    assert rule["match"]["probability"] == 1.0 and rule["match"]["nth"] is None and rule["match"]["times"] == 1
    assert rule["effects"] == [{"type": "commit_then_fail", "then": "reset"}]
    assert engine.list() == [{**rule, "hits": 0, "fired": 0, "spent": False}]


def test_default_names_are_derived_and_unique() -> None:
    engine = make()
    one = engine.add({"match": {"operation": "capturePayment"}, "effects": [{"type": "reset"}]})
    two = engine.add({"match": {"operation": "capturePayment"}, "effects": [{"type": "reset"}]})
    assert (one["name"], two["name"]) == ("capturePayment-reset", "capturePayment-reset-2")
    with pytest.raises(ConfigError, match="name: a rule named 'capturePayment-reset' is already active"):
        engine.add({"name": "capturePayment-reset", "effects": [{"type": "empty"}]})


def test_remove_and_clear() -> None:
    engine = make()
    a = engine.add({"effects": [{"type": "reset"}]})
    engine.add({"effects": [{"type": "empty"}]})
    assert engine.remove(a["id"]) and not engine.remove(a["id"])
    assert [r["effects"][0]["type"] for r in engine.list()] == ["empty"]
    engine.clear()
    assert engine.list() == [] and capture(engine) is EMPTY_PLAN


def test_spent_rules_stay_listed_with_their_counts() -> None:
    engine = make()
    engine.add({"match": {"operation": "capturePayment", "times": 2}, "effects": [{"type": "status", "status": 500}]})
    assert fires(engine, 4) == [True, True, False, False]
    [listed] = engine.list()
    assert (listed["hits"], listed["fired"], listed["spent"]) == (4, 2, True)


def test_load_profile_replaces_rules_all_or_nothing() -> None:
    engine = make()
    engine.add({"name": "old", "effects": [{"type": "reset"}]})
    with pytest.raises(ConfigError, match=r"rules\[1\].effects\[0\].type: unknown effect type 'rst'"):
        engine.load_profile([{"effects": [{"type": "empty"}]}, {"effects": [{"type": "rst"}]}])
    assert [r["name"] for r in engine.list()] == ["old"]
    rules = engine.load_profile([{"name": "new", "effects": [{"type": "empty"}]}])
    assert [r["name"] for r in rules] == ["new"] == [r["name"] for r in engine.list()]


def test_load_profile_by_name_keeps_one_simulators_rules() -> None:
    engine = make()
    rules = engine.load_profile("webhook-chaos", simulator="payment")
    assert [r["name"] for r in rules] == ["payment-webhook-duplicate", "payment-webhook-reorder", "payment-webhook-drop"]
    with pytest.raises(ConfigError, match=r"unknown profile 'flaky-payment'\. Did you mean 'flaky-payments'"):
        engine.load_profile("flaky-payment")


# -- validation messages ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"effects": [{"type": "dleay", "ms": 1}]}, "effects[0].type: unknown effect type 'dleay'. Did you mean "
         "'delay'? Valid: bad_signature, commit_then_fail, delay, drift, drop, duplicate, empty, malformed, "
         "rate_limit, reorder, reset, slow_body, status, timeout, webhook_delay"),
        ({"effects": [{"type": "delay", "distribution": {"type": "fixed", "ms": "abc"}}]},
         "effects[0].distribution.ms: must be a number >= 0 and <= 120000, got 'abc'"),
        ({"match": {"operaton": "capturePayment"}, "effects": [{"type": "reset"}]},
         "match.operaton: unknown match field 'operaton'. Did you mean 'operation'"),
        ({"match": {"operation": "capturePaymnt"}, "effects": [{"type": "reset"}]},
         "match.operation: unknown operation 'capturePaymnt'. Did you mean 'capturePayment'"),
        ({"match": {"operation": ["capturePayment", "voidPaymnt"]}, "effects": [{"type": "reset"}]},
         "match.operation[1]: unknown operation 'voidPaymnt'. Did you mean 'voidPayment'"),
        ({"efects": [{"type": "reset"}]}, "efects: unknown rule field 'efects'. Did you mean 'effects'"),
        ({"match": {}}, "effects: must be a non-empty list of effects, got None"),
        ({"effects": []}, "effects: must be a non-empty list of effects, got []"),
        ({"match": {"probability": 1.5}, "effects": [{"type": "reset"}]},
         "match.probability: must be a number >= 0 and <= 1, got 1.5"),
        ({"match": {"nth": 0}, "effects": [{"type": "reset"}]}, "match.nth: must be an integer >= 1, got 0"),
        ({"match": {"times": "once"}, "effects": [{"type": "reset"}]}, "match.times: must be an integer >= 1"),
        ({"match": {"method": "FETCH"}, "effects": [{"type": "reset"}]}, "match.method: unknown HTTP method 'FETCH'"),
        ({"match": {"path": "payments/*"}, "effects": [{"type": "reset"}]}, "match.path: must be a path starting"),
        ({"match": {"body": {"amount": {"gtt": 5}}}, "effects": [{"type": "reset"}]},
         "match.body.amount.gtt: unknown predicate 'gtt'. Did you mean 'gt'"),
        ({"match": {"body": {"amount": {"in": 5}}}, "effects": [{"type": "reset"}]},
         "match.body.amount.in: must be a list of values, got 5"),
        ({"match": {"body": {"ref": {"regex": "("}}}, "effects": [{"type": "reset"}]},
         "match.body.ref.regex: is not a valid regular expression"),
        ({"match": {"headers": {"x-test": {"exists": "yes"}}}, "effects": [{"type": "reset"}]},
         "match.headers.x-test.exists: must be true or false, got 'yes'"),
        ({"match": {"event": "payment.captured", "operation": "capturePayment"}, "effects": [{"type": "drop"}]},
         "match.operation: cannot be combined with match.event"),
        ({"match": {"event": "payment.captured"}, "effects": [{"type": "drop"}, {"type": "reset"}]},
         "effects[1].type: 'reset' is a request effect; a rule with match.event takes webhook effects only"),
        ({"effects": [{"type": "status", "status": 503}, {"type": "bad_signature"}]},
         "effects[1].type: 'bad_signature' is a webhook effect and needs match.event"),
        ({"name": "", "effects": [{"type": "reset"}]}, "name: must be 1-100 letters"),
        ("reset", "rule: must be a mapping with match and effects"),
    ],
)
def test_validation_errors_name_the_field(rule: Any, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        make().add(rule)
    assert str(err.value).startswith(message)


def test_without_known_operations_any_operation_is_accepted() -> None:
    assert make(ops=None).add({"match": {"operation": "anything"}, "effects": [{"type": "reset"}]})


# -- matching and predicates ------------------------------------------------------------------------


def test_no_rules_returns_the_shared_empty_plan() -> None:
    engine = make()
    assert capture(engine) is EMPTY_PLAN
    engine.add({"match": {"operation": "voidPayment"}, "effects": [{"type": "reset"}]})
    assert capture(engine) is EMPTY_PLAN
    assert engine.plan(None, "GET", "/nowhere", {}, None) is EMPTY_PLAN


def test_index_merges_operation_and_wildcard_rules_in_rule_order() -> None:
    engine = make()
    engine.add({"name": "all-slow", "effects": [{"type": "delay", "ms": 5}]})
    engine.add({"name": "capture-down", "match": {"operation": ["capturePayment", "voidPayment"]},
                "effects": [{"type": "status", "status": 503}]})
    engine.add({"name": "all-slower", "effects": [{"type": "delay", "ms": 7}]})
    plan = capture(engine)
    assert plan.rules == ["all-slow", "capture-down", "all-slower"] and plan.delay_ms == 12
    assert engine.plan("getPayment", "GET", "/payments/p", {}, None).rules == ["all-slow", "all-slower"]
    assert engine.plan(None, "GET", "/unrouted", {}, None).rules == ["all-slow", "all-slower"]


def test_method_and_path_templates_and_globs() -> None:
    engine = make()
    engine.add({"name": "t", "match": {"method": ["post", "PUT"], "path": "/payments/{id}/capture"},
                "effects": [{"type": "reset"}]})
    engine.add({"name": "g", "match": {"path": "/payments/**"}, "effects": [{"type": "delay", "ms": 1}]})
    assert capture(engine).rules == ["t", "g"]
    assert capture(engine, method="GET").rules == ["g"]
    assert capture(engine, path="/payments/a/b/capture").rules == ["g"]
    assert capture(engine, path="/payments/pay_1/capture?x=1").rules == ["t", "g"]
    assert capture(engine, path="/refunds/1").rules == []


PREDICATES = [
    ({"amount": 500}, {"amount": 500}, True),
    ({"amount": 500}, {"amount": 501}, False),
    ({"amount": 1}, {"amount": True}, False),  # a bool is not a number
    ({"amount": {"eq": 500}}, {"amount": 500}, True),
    ({"amount": {"ne": 500}}, {"amount": 499}, True),
    ({"amount": {"gt": 100000}}, {"amount": 100001}, True),
    ({"amount": {"gt": 100000}}, {"amount": 100000}, False),
    ({"amount": {"gte": 100000}}, {"amount": 100000}, True),
    ({"amount": {"lt": 10}}, {"amount": 9.5}, True),
    ({"amount": {"lte": 10}}, {"amount": 11}, False),
    ({"amount": {"gt": 10}}, {"amount": "11"}, False),  # body values are not coerced
    ({"amount": {"gt": 10, "lt": 20}}, {"amount": 15}, True),
    ({"amount": {"gt": 10, "lt": 20}}, {"amount": 25}, False),
    ({"created": {"gte": "2026-01-01"}}, {"created": "2026-02-01T00:00:00Z"}, True),
    ({"currency": {"in": ["GBP", "EUR"]}}, {"currency": "EUR"}, True),
    ({"currency": {"not_in": ["GBP", "EUR"]}}, {"currency": "EUR"}, False),
    ({"reference": {"contains": "vip"}}, {"reference": "order-vip-7"}, True),
    ({"tags": {"contains": "vip"}}, {"tags": ["a", "vip"]}, True),
    ({"meta": {"contains": "k"}}, {"meta": {"k": 1}}, True),
    ({"reference": {"regex": "^ord-[0-9]+$"}}, {"reference": "ord-42"}, True),
    ({"reference": {"regex": "^ord-[0-9]+$"}}, {"reference": 42}, False),
    ({"reference": {"exists": True}}, {"reference": None}, True),
    ({"reference": {"exists": False}}, {}, True),
    ({"reference": {"exists": False}}, {"reference": "x"}, False),
    ({"reference": {"ne": "x"}}, {}, False),  # a missing field fails everything but exists: false
    ({"/card/number": "4000000000000002"}, {"card": {"number": "4000000000000002"}}, True),
    ({"/items/1/sku": {"eq": "B"}}, {"items": [{"sku": "A"}, {"sku": "B"}]}, True),
    ({"/items/5/sku": {"exists": True}}, {"items": []}, False),
    ({"/meta": {"eq": {"a": 1}}}, {"meta": {"a": 1}}, True),
    ({"amount": {"gt": 1}}, None, False),
]


@pytest.mark.parametrize(("predicates", "body", "expected"), PREDICATES)
def test_body_predicates(predicates: dict, body: Any, expected: bool) -> None:
    engine = make()
    engine.add({"match": {"operation": "capturePayment", "body": predicates}, "effects": [{"type": "reset"}]})
    assert bool(capture(engine, body=body).rules) is expected


@pytest.mark.parametrize(
    ("predicates", "headers", "expected"),
    [
        ({"X-Test": "abc"}, {"x-test": "abc"}, True),
        ({"x-test": "abc"}, {"X-TEST": "abc"}, True),
        ({"x-test": "abc"}, {"x-test": "abd"}, False),
        ({"x-test": {"exists": True}}, {}, False),
        ({"x-retry": {"gte": 2}}, {"X-Retry": "3"}, True),  # header text compared as a number
        ({"x-retry": {"gte": 2}}, {"X-Retry": "many"}, False),
        ({"x-retry": 2}, {"X-Retry": "2"}, True),
        ({"user-agent": {"regex": "okhttp"}}, {"User-Agent": "okhttp/4.12"}, True),
    ],
)
def test_header_predicates_are_case_insensitive(predicates: dict, headers: dict, expected: bool) -> None:
    engine = make()
    engine.add({"match": {"headers": predicates}, "effects": [{"type": "reset"}]})
    assert bool(capture(engine, headers=headers).rules) is expected


def test_explain_gives_the_near_miss_reasons() -> None:
    engine = make()
    engine.add({"name": "big", "match": {"operation": "capturePayment", "body": {"amount": {"gt": 100}}},
                "effects": [{"type": "reset"}]})
    engine.add({"name": "void", "match": {"operation": "voidPayment"}, "effects": [{"type": "reset"}]})
    reasons = engine.explain("capturePayment", "POST", "/p", {}, {"amount": 5})
    assert reasons[0] == {"id": reasons[0]["id"], "name": "big", "matches": False, "reason": "body amount: 5 fails gt 100"}
    assert reasons[1]["reason"] == "operation capturePayment is not voidPayment"
    assert engine.list()[0]["hits"] == 0


# -- nth, times, probability ------------------------------------------------------------------------


def test_nth_fires_only_on_the_nth_matching_call() -> None:
    engine = make()
    engine.add({"match": {"operation": "capturePayment", "nth": 3}, "effects": [{"type": "reset"}]})
    engine.plan("voidPayment", "POST", "/v", {}, None)  # other operations do not count
    assert fires(engine, 5) == [False, False, True, False, False]
    assert engine.list()[0]["spent"]


def test_times_then_spent() -> None:
    engine = make()
    engine.add({"match": {"operation": "capturePayment", "times": 1}, "effects": [{"type": "reset"}]})
    assert fires(engine, 3) == [True, False, False]


def test_probability_is_deterministic_for_a_seed() -> None:
    rule = {"match": {"operation": "capturePayment", "probability": 0.3}, "effects": [{"type": "reset"}]}
    runs = []
    for seed in (42, 42, 7):
        engine = make(seed)
        engine.add(rule)
        runs.append(fires(engine, 200))
    assert runs[0] == runs[1] != runs[2]
    assert 40 < sum(runs[0]) < 80


def test_the_generator_restarts_when_the_rule_set_changes() -> None:
    engine = make(5)
    engine.add({"name": "p", "match": {"probability": 0.5}, "effects": [{"type": "reset"}]})
    first = fires(engine, 50)
    engine.load_profile([{"name": "p", "match": {"probability": 0.5}, "effects": [{"type": "reset"}]}])
    assert fires(engine, 50) == first


def test_delay_samples_are_deterministic_for_a_seed() -> None:
    delays = []
    for _ in range(2):
        engine = make(3)
        engine.add({"effects": [{"type": "delay", "distribution": {"type": "lognormal", "median_ms": 50, "sigma": 1}}]})
        delays.append([capture(engine).delay_ms for _ in range(20)])
    assert delays[0] == delays[1] and len(set(delays[0])) == 20


def test_counters_are_shared_by_two_workers_over_one_sqlite_file(tmp_path: Path) -> None:
    one = make(store=SQLiteStore(str(tmp_path / "sim.db")))
    two = make(store=SQLiteStore(str(tmp_path / "sim.db")))
    one.add({"name": "once", "match": {"operation": "capturePayment", "times": 2}, "effects": [{"type": "reset"}]})
    assert [r["name"] for r in two.list()] == ["once"]  # rules are shared too
    assert [bool(capture(w).rules) for w in (one, two, two, one)] == [True, True, False, False]
    assert (one.list()[0]["hits"], two.list()[0]["fired"]) == (4, 2)
    two.clear()
    assert capture(one) is EMPTY_PLAN


# -- rate limits ------------------------------------------------------------------------------------


def test_rate_limit_windows_follow_the_simulator_clock() -> None:
    engine = make()
    clock = engine.clock
    clock.freeze()
    clock.set_now(clock.now().replace(year=2026, month=1, day=1, hour=0, minute=0, second=0, microsecond=250_000))
    engine.add({"name": "quota", "effects": [{"type": "rate_limit", "limit": 2, "window_s": 10}]})
    plans = [capture(engine) for _ in range(3)]
    assert [p.response is None for p in plans] == [True, True, False]
    assert plans[0].rules == ["quota"] and plans[0].run_handler
    r = plans[2].response
    assert r is not None and r.status == 429 and r.headers["Retry-After"] == "10"  # ceil(9.75)
    clock.advance(7)
    assert capture(engine).response.headers["Retry-After"] == "3"  # type: ignore[union-attr]
    clock.advance(3)  # a new window
    assert [capture(engine).response is None for _ in range(3)] == [True, True, False]


def test_rate_limit_counts_are_shared_across_workers(tmp_path: Path) -> None:
    workers = [make(store=SQLiteStore(str(tmp_path / "sim.db"))) for _ in range(2)]
    workers[0].clock.freeze()
    workers[0].add({"effects": [{"type": "rate_limit", "limit": 3, "window_s": 60}]})
    limited = [capture(workers[i % 2]).response is not None for i in range(5)]
    assert limited == [False, False, False, True, True]


# -- webhook rules ----------------------------------------------------------------------------------


def test_webhook_effects_match_event_globs_and_payload_predicates() -> None:
    engine = make(1)
    engine.add({"name": "dup", "match": {"event": "payment.*", "body": {"/data/object/amount": {"gt": 100}}},
                "effects": [{"type": "duplicate", "count": 2}, {"type": "delay", "ms": 250}]})
    engine.add({"name": "late", "match": {"event": "payment.captured", "times": 1},
                "effects": [{"type": "bad_signature"}]})
    event = {"data": {"object": {"amount": 500}}}
    names, effects = engine.webhook_effects("payment.captured", event)
    assert names == ["dup", "late"]
    assert [(e.type, e.params) for e in effects] == [("duplicate", {"count": 2}), ("webhook_delay", {"ms": 250}),
                                                     ("bad_signature", {})]
    assert engine.webhook_effects("payment.captured", event)[0] == ["dup"]
    assert engine.webhook_effects("shipment.created", event) == ([], [])
    assert engine.webhook_effects("payment.voided", {"data": {"object": {"amount": 5}}}) == ([], [])
    assert capture(engine) is EMPTY_PLAN  # webhook rules never touch requests


def test_compile_rule_is_what_the_engine_stores() -> None:
    rule = {"match": {"headers": {"X-A": "1"}}, "effects": [{"type": "delay", "ms": 1}]}
    assert compile_rule(rule).spec["match"]["headers"] == {"x-a": "1"}


# -- speed (measured and printed, never asserted) --------------------------------------------------


def _per_call_us(engine: FaultEngine, n: int = 20_000) -> float:
    start = time.perf_counter()
    for _ in range(n):
        engine.plan("capturePayment", "POST", "/payments/p/capture", {"Content-Type": "application/json"}, {"a": 1})
    return (time.perf_counter() - start) / n * 1e6


@pytest.mark.parametrize("backend", ["memory", "sqlite"])
def test_plan_speed_is_reported(backend: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = MemoryStore() if backend == "memory" else SQLiteStore(str(tmp_path / "speed.db"))
    engine = make(store=store, ops=None)
    empty = _per_call_us(engine)
    for i in range(20):
        engine.add({"match": {"operation": f"otherOperation{i}"}, "effects": [{"type": "status", "status": 503}]})
    others = _per_call_us(engine)
    assert capture(engine) is EMPTY_PLAN
    with capsys.disabled():
        print(f"\nplan() on {backend}: no rules {empty:.2f} us/call; 20 rules on other operations {others:.2f} us/call")
