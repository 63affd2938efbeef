"""Fault profiles: the shipped ones load and behave; broken ones fail with file:line: field: message."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulators.core.clock import Clock
from simulators.core.errors import ConfigError
from simulators.core.faults import FaultEngine
from simulators.core.profiles import (
    PROFILE_DIR,
    available_profiles,
    describe_profiles,
    find_profile,
    load_profile_file,
)
from simulators.core.store import MemoryStore

BROKEN = Path(__file__).resolve().parents[2] / "data" / "profiles"
SHIPPED = ["backend-outage", "flaky-payments", "legacy-quirks", "rate-limited", "schema-drift", "slow-delivery",
           "webhook-chaos"]
PAYMENT_OPS = {"authorizePayment", "capturePayment", "voidPayment", "refundPayment", "getPayment"}


def engine(seed: int = 0, ops: set[str] | None = None) -> FaultEngine:
    store = MemoryStore()
    return FaultEngine(store, Clock(store), seed=seed, known_operations=ops)


def test_every_shipped_profile_is_available() -> None:
    assert sorted(available_profiles()) == SHIPPED
    described = {d["name"]: d for d in describe_profiles()}
    assert described["webhook-chaos"]["simulators"] == ["delivery", "payment"]
    assert all(d["description"] for d in described.values())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_profile_loads_into_an_engine(name: str) -> None:
    rules = load_profile_file(find_profile(name))
    assert rules and all(r["simulator"] for r in rules)
    e = engine()
    assert len(e.load_profile(rules)) == len(rules)


def test_flaky_payments_against_the_payment_operations() -> None:
    e = engine(seed=1, ops=PAYMENT_OPS)
    e.load_profile("flaky-payments", simulator="payment")
    plans = [e.plan("capturePayment", "POST", "/payments/p/capture", {}, {}) for _ in range(1000)]
    assert all(p.delay_ms > 0 for p in plans)
    unavailable = sum(p.response is not None and p.response.status == 503 for p in plans)
    lost = sum(p.after_handler == ("reset", None) for p in plans)
    assert 60 < unavailable < 140 and 20 < lost < 90
    assert all(p.response.headers["Retry-After"] == "1" for p in plans if p.response)


def test_backend_outage_answers_503_with_retry_after_2_everywhere() -> None:
    e = engine()
    e.load_profile("backend-outage", simulator="legacy")
    r = e.plan("listOrders", "GET", "/orders", {}, None).response
    assert r is not None and r.status == 503 and r.headers["Retry-After"] == "2"


def test_schema_drift_renames_prices_and_invents_a_category() -> None:
    e = engine()
    e.load_profile("schema-drift", simulator="legacy")
    plan = e.plan("listProducts", "GET", "/products", {}, None)
    out: tuple[int, dict[str, str], bytes] = (200, {}, b'{"items":[{"sku":"A","price":{"amount":1},"category":"tv"}],"next_cursor":null}')
    for transform in plan.transforms:
        out = transform(*out)
    assert out[2] == b'{"items":[{"sku":"A","category":"UNKNOWN_CATEGORY","unit_price":{"amount":1}}],"next_cursor":null}'


def test_a_profile_filtered_for_a_simulator_keeps_its_rules_only() -> None:
    path = find_profile("webhook-chaos")
    assert {r["simulator"] for r in load_profile_file(path, simulator="delivery")} == {"delivery"}
    assert len(load_profile_file(path)) == 6
    assert load_profile_file(path, simulator="legacy") == []


def test_known_operations_are_checked_only_for_the_kept_rules() -> None:
    path = find_profile("slow-delivery")
    assert load_profile_file(path, simulator="payment", known_operations=PAYMENT_OPS) == []
    with pytest.raises(ConfigError, match="unknown operation 'createShipment'"):
        load_profile_file(path, simulator="delivery", known_operations={"getShipment"})


def test_find_profile_accepts_a_path_and_lists_the_available_names() -> None:
    path = str(BROKEN / "duplicate-names.yaml")
    assert find_profile(path) == path
    with pytest.raises(ConfigError) as err:
        find_profile("slow-delivry")
    assert str(err.value) == ("profile: unknown profile 'slow-delivry'. Did you mean 'slow-delivery'? Valid: "
                              + ", ".join(SHIPPED))
    with pytest.raises(ConfigError, match="no profiles in /nowhere"):
        find_profile("x", ["/nowhere"])
    assert find_profile("mixed-effects", [str(BROKEN), PROFILE_DIR]).endswith("mixed-effects.yaml")


@pytest.mark.parametrize(
    ("file", "message"),
    [
        ("bad-effect-type.yaml", "bad-effect-type.yaml:8: rules[0].effects[0].type: unknown effect type 'dleay'. "
         "Did you mean 'delay'? Valid: bad_signature, commit_then_fail, delay, drift, drop, duplicate, empty, "
         "malformed, rate_limit, reorder, reset, slow_body, status, timeout, webhook_delay"),
        ("bad-delay-ms.yaml", "bad-delay-ms.yaml:12: rules[1].effects[0].distribution.ms: must be a number >= 0 "
         "and <= 120000, got 'abc'"),
        ("unknown-match-key.yaml", "unknown-match-key.yaml:5: rules[0].match.operaton: unknown match field "
         "'operaton'. Did you mean 'operation'"),
        ("unknown-profile-key.yaml", "unknown-profile-key.yaml:2: rulez: unknown profile field 'rulez'. "
         "Did you mean 'rules'? Valid: description, name, rules, simulator"),
        ("not-yaml.yaml", "not-yaml.yaml:5: not valid YAML: expected ',' or ']'"),
        ("duplicate-names.yaml", "duplicate-names.yaml:5: rules[1].name: 'same' is already the name of rules[0]"),
        ("mixed-effects.yaml", "mixed-effects.yaml:7: rules[0].effects[1].type: 'status' is a request effect"),
        ("unknown-operation.yaml", "unknown-operation.yaml:5: rules[0].match.operation: unknown operation "
         "'capturePaymnt'. Did you mean 'capturePayment'"),
    ],
)
def test_broken_profiles_point_at_the_line(file: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_profile_file(BROKEN / file, simulator="payment", known_operations=PAYMENT_OPS)
    assert str(err.value).startswith(str(BROKEN / message))


def test_structural_errors(tmp_path: Path) -> None:
    cases = {
        "list.yaml": ("- a\n- b\n", "list.yaml:1: a profile is a mapping"),
        "norules.yaml": ("name: x\nrules: []\n", "norules.yaml:2: rules: must be a non-empty list"),
        "badrule.yaml": ("name: x\nrules:\n  - reset\n", "badrule.yaml:3: rules[0]: must be a mapping"),
        "badsim.yaml": ("rules:\n  - simulator: [a]\n    effects: [{type: reset}]\n",
                        "badsim.yaml:2: rules[0].simulator: must be a simulator name"),
        "badname.yaml": ("name: 5\nrules: [{effects: [{type: reset}]}]\n", "badname.yaml:1: name: must be a string"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigError) as err:
            load_profile_file(tmp_path / name)
        assert str(err.value).startswith(str(tmp_path / message)), name
    with pytest.raises(ConfigError, match="cannot read profile"):
        load_profile_file(tmp_path / "missing.yaml")
