"""Every effect's contribution to a FaultPlan, the delay distributions and effect validation."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from simulators.core.delays import Fixed, LogNormal, Uniform, parse_distribution
from simulators.core.effects import (
    EMPTY_PLAN,
    REQUEST_EFFECTS,
    WEBHOOK_EFFECTS,
    FaultPlan,
    RateLimit,
    WebhookDelay,
    parse_effect,
    retyped,
)
from simulators.core.errors import ConfigError


def plan_of(*specs: dict, rule: str = "r1", seed: int = 0) -> FaultPlan:
    plan = FaultPlan(rules=[rule])
    rng = random.Random(seed)
    for i, spec in enumerate(specs):
        parse_effect(spec, f"effects[{i}]", webhook=False).apply(plan, rng)
    return plan


def run(plan: FaultPlan, status: int = 200, headers: dict[str, str] | None = None,
        body: object = None) -> tuple[int, dict[str, str], bytes]:
    raw = orjson.dumps(body) if not isinstance(body, bytes) else body
    out = (status, headers or {"Content-Type": "application/json", "Content-Length": str(len(raw))}, raw)
    for transform in plan.transforms:
        out = transform(*out)
    return out


# -- distributions ----------------------------------------------------------------------------------


def test_fixed_distribution_is_constant() -> None:
    assert Fixed(50).sample_ms(random.Random(1)) == 50.0


def test_uniform_distribution_stays_in_range_and_is_seeded() -> None:
    d = Uniform(10, 20)
    samples = [d.sample_ms(random.Random(7)) for _ in range(3)]
    assert len(set(samples)) == 1  # same seed, same sample
    rng = random.Random(3)
    assert all(10 <= d.sample_ms(rng) <= 20 for _ in range(500))


def test_lognormal_distribution_has_its_median_and_is_capped() -> None:
    rng = random.Random(11)
    samples = sorted(LogNormal(800, 0.5).sample_ms(rng) for _ in range(4001))
    assert 720 < samples[2000] < 880
    assert max(LogNormal(1000, 10, max_ms=5000).sample_ms(rng) for _ in range(200)) <= 5000


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "fixed", "ms": "abc"}, "d.ms: must be a number >= 0 and <= 120000, got 'abc'"),
        ({"type": "fixed", "ms": -1}, "d.ms: must be a number >= 0 and <= 120000, got -1"),
        ({"type": "fixed", "ms": True}, "d.ms: must be a number >= 0 and <= 120000, got True"),
        ({"type": "uniform", "min_ms": 20, "max_ms": 10}, "d.max_ms: must be >= min_ms (20), got 10"),
        ({"type": "lognormal", "median_ms": 0, "sigma": 1}, "d.median_ms: must be a number > 0"),
        ({"type": "lognormal", "median_ms": 5}, "d.sigma: is required"),
        ({"type": "normal", "ms": 5}, "d.type: unknown type 'normal'."),
        ({"type": "fixed", "ms": 5, "jitter": 1}, "d.jitter: unknown fixed distribution field 'jitter'"),
        ("50ms", "d: must be a mapping with a type"),
    ],
)
def test_distribution_errors_name_the_field(spec: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_distribution(spec, "d")
    assert message in str(err.value)


# -- request effects --------------------------------------------------------------------------------


def test_delay_adds_sampled_ms_and_accepts_the_ms_shorthand() -> None:
    plan = plan_of({"type": "delay", "ms": 50}, {"type": "delay", "distribution": {"type": "fixed", "ms": 25}})
    assert plan.delay_ms == 75 and plan.run_handler and plan.response is None


def test_delay_after_commit_then_fail_is_a_post_delay() -> None:
    plan = plan_of({"type": "delay", "ms": 10}, {"type": "commit_then_fail", "then": "reset"},
                   {"type": "delay", "ms": 40})
    assert (plan.delay_ms, plan.post_delay_ms) == (10, 40)
    assert plan.run_handler and plan.after_handler == ("reset", None)


def test_status_short_circuits_with_a_problem_body_naming_the_rule() -> None:
    plan = plan_of({"type": "status", "status": 503, "retry_after": 2}, rule="outage")
    assert not plan.run_handler
    r = plan.response
    assert r is not None and r.status == 503
    assert r.headers == {"Content-Type": "application/problem+json", "Retry-After": "2"}
    assert r.body == {"type": "about:blank", "title": "Service Unavailable", "status": 503,
                      "detail": "injected by fault rule outage"}


def test_status_with_custom_body_and_headers() -> None:
    plan = plan_of({"type": "status", "status": 402, "body": {"error": "card_declined"}, "headers": {"X-A": "1"}})
    r = plan.response
    assert r is not None and r.body == {"error": "card_declined"}
    assert r.headers == {"Content-Type": "application/json", "X-A": "1"}


def test_status_204_has_no_body() -> None:
    r = plan_of({"type": "status", "status": 204}).response
    assert r is not None and r.body is None


def test_first_outcome_wins_and_later_ones_are_ignored() -> None:
    plan = plan_of({"type": "status", "status": 500}, {"type": "reset"}, {"type": "commit_then_fail"})
    assert plan.response is not None and plan.response.status == 500
    assert plan.connection is None and plan.after_handler is None


@pytest.mark.parametrize(
    ("spec", "connection"),
    [({"type": "timeout", "ms": 3000}, ("timeout", 3000.0)), ({"type": "reset"}, ("reset", 0.0)),
     ({"type": "empty"}, ("empty", 0.0))],
)
def test_connection_faults(spec: dict, connection: tuple) -> None:
    plan = plan_of(spec)
    assert plan.connection == connection and not plan.run_handler and plan.response is None


def test_rate_limit_answers_429_only_over_the_limit() -> None:
    counts = iter([(1, 1), (2, 1), (3, 4)])
    effect = RateLimit(2, 5, counter=lambda window_s: next(counts))
    rng = random.Random(0)
    plans = [FaultPlan(rules=["quota"]) for _ in range(3)]
    for plan in plans:
        effect.apply(plan, rng)
    assert plans[0].response is None and plans[1].response is None and plans[1].run_handler
    r = plans[2].response
    assert r is not None and r.status == 429 and r.headers["Retry-After"] == "4"
    assert "rate limit of 2 requests per 5 s exceeded" in r.body["detail"]


def test_unbound_rate_limit_says_so() -> None:
    with pytest.raises(RuntimeError, match="FaultEngine binds one"):
        RateLimit(1, 1).apply(FaultPlan(), random.Random(0))


def test_malformed_truncate_cuts_the_body_in_half() -> None:
    whole = orjson.dumps({"id": "pay_1234567"})
    _, headers, body = run(plan_of({"type": "malformed", "mode": "truncate"}), body={"id": "pay_1234567"})
    assert body == whole[:10] and len(whole) == 20 and headers["Content-Length"] == "10"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(body)


def test_malformed_garbage_is_never_json_and_seeded() -> None:
    one = run(plan_of({"type": "malformed", "mode": "garbage"}, seed=4), body={"a": 1})[2]
    two = run(plan_of({"type": "malformed", "mode": "garbage"}, seed=4), body={"a": 1})[2]
    assert one == two
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(one)


def test_malformed_wrong_content_type_sends_html() -> None:
    status, headers, body = run(plan_of({"type": "malformed", "mode": "wrong_content_type"}), body={"a": 1})
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert body.startswith(b"<!DOCTYPE html>") and headers["Content-Length"] == str(len(body))


CATALOGUE = {"items": [{"sku": "A", "price": {"amount": 100}, "category": "phones", "stock": 3, "active": True},
                       {"sku": "B", "price": {"amount": 200}, "category": "tv", "stock": 0, "active": False}],
             "next_cursor": None}


def drift(**spec: object) -> Any:
    return orjson.loads(run(plan_of({"type": "drift", **spec}), body=CATALOGUE)[2])


def test_drift_drop_and_rename_with_a_wildcard() -> None:
    assert "next_cursor" not in drift(op="drop", field="/next_cursor")
    items = drift(op="rename", field="/items/*/price", to="unit_price")["items"]
    assert [sorted(i) for i in items] == [["active", "category", "sku", "stock", "unit_price"]] * 2


def test_drift_on_one_array_element() -> None:
    items = drift(op="drop", field="/items/0/price")["items"]
    assert "price" not in items[0] and "price" in items[1]


def test_drift_retype_defaults_and_explicit_value() -> None:
    items = drift(op="retype", field="/items/*/stock")["items"]
    assert [i["stock"] for i in items] == ["3", "0"]
    assert [i["active"] for i in drift(op="retype", field="/items/*/active")["items"]] == ["true", "false"]
    assert drift(op="retype", field="/items/0/price")["items"][0]["price"] == '{"amount":100}'
    assert drift(op="retype", field="/items/0/sku", value=[1])["items"][0]["sku"] == [1]
    assert (retyped("12"), retyped("1.5"), retyped("abc"), retyped(None)) == (12, 1.5, 123, "null")


def test_drift_unknown_enum_and_missing_field_is_a_no_op() -> None:
    items = drift(op="unknown_enum", field="/items/*/category")["items"]
    assert [i["category"] for i in items] == ["UNKNOWN_CATEGORY"] * 2
    assert drift(op="drop", field="/nothing/here") == CATALOGUE


def test_drift_leaves_a_non_json_body_alone() -> None:
    assert run(plan_of({"type": "drift", "op": "drop", "field": "/a"}), body=b"<html>")[2] == b"<html>"


def test_slow_body_keeps_the_slowest_rate() -> None:
    plan = plan_of({"type": "slow_body", "bytes_per_s": 500}, {"type": "slow_body", "bytes_per_s": 100})
    assert plan.bytes_per_s == 100 and plan.run_handler


@pytest.mark.parametrize(
    ("spec", "after"),
    [({"then": "reset"}, ("reset", None)), ({"then": "timeout", "ms": 5000}, ("timeout", 5000.0)),
     ({"then": "status"}, ("status", 502)), ({"then": "status", "status": 504}, ("status", 504)), ({}, ("reset", None))],
)
def test_commit_then_fail_runs_the_handler_then_loses_the_answer(spec: dict, after: tuple) -> None:
    plan = plan_of({"type": "commit_then_fail", **spec})
    assert plan.run_handler and plan.response is None and plan.after_handler == after


def test_empty_plan_is_empty() -> None:
    assert EMPTY_PLAN.empty and EMPTY_PLAN.run_handler and not EMPTY_PLAN.decided


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "dleay", "ms": 5}, "effects[0].type: unknown effect type 'dleay'. Did you mean 'delay'? Valid: "
         "bad_signature, commit_then_fail, delay, drift, drop, duplicate, empty, malformed, rate_limit, reorder, "
         "reset, slow_body, status, timeout, webhook_delay"),
        ({"ms": 5}, "effects[0].type: is required. Valid: bad_signature,"),
        ({"type": "delay", "ms": 5, "distribution": {"type": "fixed", "ms": 5}}, "effects[0].ms: give either"),
        ({"type": "delay"}, "effects[0].distribution: is required (or the shorthand ms"),
        ({"type": "status"}, "effects[0].status: is required"),
        ({"type": "status", "status": 700}, "effects[0].status: must be an integer >= 100 and <= 599, got 700"),
        ({"type": "status", "status": 503, "retry_afer": 1}, "effects[0].retry_afer: unknown status effect field "
         "'retry_afer'. Did you mean 'retry_after'?"),
        ({"type": "timeout", "ms": 500000}, "effects[0].ms: must be a number >= 0 and <= 120000, got 500000"),
        ({"type": "rate_limit", "limit": 5, "window_s": 0}, "effects[0].window_s: must be a number > 0"),
        ({"type": "malformed", "mode": "truncated"}, "effects[0].mode: unknown mode 'truncated'. Did you mean "
         "'truncate'?"),
        ({"type": "drift", "op": "rename", "field": "/a"}, "effects[0].to: rename needs the new field name"),
        ({"type": "drift", "op": "drop", "field": "status"}, "effects[0].field: must be a JSON pointer"),
        ({"type": "drift", "op": "delete", "field": "/a"}, "effects[0].op: unknown op 'delete'."),
        ({"type": "slow_body", "bytes_per_s": 0}, "effects[0].bytes_per_s: must be an integer >= 1"),
        ({"type": "commit_then_fail", "then": "explode"}, "effects[0].then: unknown then 'explode'."),
        ({"type": "duplicate"}, "effects[0].type: 'duplicate' is a webhook effect and needs match.event"),
        ("reset", "effects[0]: must be a mapping with a type, got 'reset'"),
    ],
)
def test_effect_validation_messages(spec: object, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_effect(spec, "effects[0]", webhook=False)
    assert str(err.value).startswith(message)


def test_webhook_rules_take_webhook_effects_only() -> None:
    with pytest.raises(ConfigError, match=r"'status' is a request effect; a rule with match\.event"):
        parse_effect({"type": "status", "status": 500}, "effects[0]", webhook=True)
    delay = parse_effect({"type": "delay", "ms": 250}, "effects[0]", webhook=True)
    assert delay.kind == "webhook_delay" and delay.params == {"ms": 250}
    unresolved = parse_effect({"type": "webhook_delay", "distribution": {"type": "uniform", "min_ms": 1, "max_ms": 2}},
                              "e", webhook=True)
    assert isinstance(unresolved, WebhookDelay) and unresolved.ms == 0.0
    resolved = unresolved.resolve(random.Random(0))
    assert 1 <= resolved.ms <= 2 and resolved.to_dict()["type"] == "webhook_delay"
    assert parse_effect({"type": "duplicate", "count": 3}, "e", webhook=True).params == {"count": 3}


def test_every_effect_round_trips_through_to_dict() -> None:
    specs: list[dict[str, Any]] = [
        {"type": "delay", "distribution": {"type": "uniform", "min_ms": 1, "max_ms": 2}},
        {"type": "status", "status": 503, "retry_after": 1}, {"type": "rate_limit", "limit": 1, "window_s": 1},
        {"type": "timeout", "ms": 10}, {"type": "reset"}, {"type": "empty"},
        {"type": "malformed", "mode": "garbage"}, {"type": "drift", "op": "rename", "field": "/a", "to": "b"},
        {"type": "slow_body", "bytes_per_s": 10}, {"type": "commit_then_fail", "then": "status", "status": 500},
    ]
    assert {s["type"] for s in specs} == set(REQUEST_EFFECTS)
    for spec in specs:
        effect = parse_effect(spec, "e", webhook=False)
        assert parse_effect(effect.to_dict(), "e", webhook=False) == effect
    for kind in WEBHOOK_EFFECTS:
        spec = {"type": kind, "ms": 5} if kind == "webhook_delay" else {"type": kind}
        effect = parse_effect(spec, "e", webhook=True)
        assert parse_effect(effect.to_dict(), "e", webhook=True) == effect
