"""Provider adapters against a real HTTP server: retries, Retry-After, breaker, keys, correlation, timeouts."""

from __future__ import annotations

import socket
import time

import pytest

from orchestrator import context, metrics
from orchestrator.adapters.base import ClientPolicy, ProviderClient, parse_retry_after
from orchestrator.adapters.payment import PaymentClient
from orchestrator.errors import CircuitOpen, ProviderRejected, ProviderUnavailable, RetryableHTTPError

from .scripted_server import Reply, ScriptedServer

FAST = ClientPolicy(connect_timeout_s=0.5, read_timeout_s=0.5, retries=3, backoff_base_s=0.01, backoff_max_s=0.05,
                    max_retry_after_s=5, breaker_fail_max=3, breaker_reset_s=0.5)
PAY = {"id": "pay_000000000001", "status": "authorized"}


def _authorize(client: PaymentClient) -> dict:
    return client.authorize(amount=2500, currency="GBP", reference="ord_1", instrument={"token": "tok_12345678"},
                            idempotency_key="ord_1:authorize")


def _retries(reason: str) -> float:
    return metrics.REGISTRY.get_sample_value("orchestrator_provider_retries_total", {
        "provider": "payment", "operation": "authorizePayment", "reason": reason}) or 0.0


def test_retryable_failures_are_retried_with_the_same_idempotency_key() -> None:
    before = _retries("503"), _retries("502")
    with ScriptedServer([Reply(503), Reply(502), Reply(201, PAY)]) as srv:
        assert _authorize(PaymentClient(srv.url, FAST)) == PAY
    keys = [r["headers"].get("Idempotency-Key") for r in srv.requests]
    assert keys == ["ord_1:authorize"] * 3
    # the first attempt runs outside tenacity; its failure still counts as the first retry's reason
    assert (_retries("503") - before[0], _retries("502") - before[1]) == (1, 1)


def test_a_dropped_connection_is_retried_when_the_call_carries_a_key() -> None:
    with ScriptedServer([Reply(drop=True), Reply(201, PAY)]) as srv:
        assert _authorize(PaymentClient(srv.url, FAST)) == PAY
    assert len(srv.requests) == 2


def test_a_read_timeout_is_retried() -> None:
    with ScriptedServer([Reply(201, PAY, delay_s=1.0), Reply(201, PAY)]) as srv:
        assert _authorize(PaymentClient(srv.url, FAST)) == PAY
    assert len(srv.requests) == 2


def test_declines_are_not_retried() -> None:
    decline = {"type": "x", "title": "Declined", "status": 402, "decline_code": "do_not_honor",
               "payment_id": "pay_000000000002"}
    with ScriptedServer([Reply(402, decline)]) as srv, pytest.raises(ProviderRejected) as info:
        _authorize(PaymentClient(srv.url, FAST))
    assert len(srv.requests) == 1
    assert info.value.status == 402 and info.value.code == "do_not_honor"


def test_post_without_key_is_not_retried() -> None:
    with ScriptedServer([Reply(503), Reply(200)]) as srv, pytest.raises(RetryableHTTPError):
        ProviderClient(srv.url, FAST).request("cancelOrder", "POST", "/orders/1/cancel", json_body={})
    assert len(srv.requests) == 1


def test_retry_after_is_honoured() -> None:
    with ScriptedServer([Reply(429, {"title": "slow down"}, {"Retry-After": "1"}), Reply(201, PAY)]) as srv:
        assert _authorize(PaymentClient(srv.url, FAST)) == PAY
    gap = srv.requests[1]["at"] - srv.requests[0]["at"]
    assert gap >= 0.95, f"retried after {gap:.3f}s despite Retry-After: 1"


def test_retry_after_beyond_the_limit_is_surfaced_not_slept() -> None:
    with ScriptedServer([Reply(503, {}, {"Retry-After": "120"})]) as srv, pytest.raises(RetryableHTTPError) as info:
        _authorize(PaymentClient(srv.url, FAST))
    assert len(srv.requests) == 1 and info.value.retry_after == 120


def test_retries_give_up_after_the_budget() -> None:
    policy = ClientPolicy(retries=3, backoff_base_s=0.01, breaker_fail_max=10)
    with ScriptedServer([Reply(504)]) as srv, pytest.raises(RetryableHTTPError):
        _authorize(PaymentClient(srv.url, policy))
    assert len(srv.requests) == 1 + policy.retries


def test_breaker_opens_then_half_opens_after_reset_timeout() -> None:
    policy = ClientPolicy(retries=0, breaker_fail_max=3, breaker_reset_s=0.5, backoff_base_s=0.01)
    with ScriptedServer([Reply(500), Reply(500), Reply(500), Reply(201, PAY)]) as srv:
        client = PaymentClient(srv.url, policy)
        for _ in range(3):
            with pytest.raises(ProviderUnavailable):
                _authorize(client)
        assert client.breaker_state() == "open"
        with pytest.raises(CircuitOpen) as info:
            _authorize(client)
        assert len(srv.requests) == 3, "an open breaker must not call the provider"
        assert info.value.retry_after is not None and info.value.retry_after >= 0.0
        time.sleep(0.6)
        assert _authorize(client) == PAY
        assert client.breaker_state() == "closed"


def test_rejections_do_not_open_the_breaker() -> None:
    policy = ClientPolicy(retries=0, breaker_fail_max=2)
    with ScriptedServer([Reply(409, {"title": "conflict"})]) as srv:
        client = PaymentClient(srv.url, policy)
        for _ in range(4):
            with pytest.raises(ProviderRejected):
                _authorize(client)
        assert client.breaker_state() == "closed"


def test_connection_refused_is_unavailable() -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with pytest.raises(ProviderUnavailable):
        _authorize(PaymentClient(f"http://127.0.0.1:{port}", FAST))


def test_correlation_id_and_traceparent_are_propagated() -> None:
    with ScriptedServer([Reply(201, PAY)]) as srv, context.correlated("corr-123", "ab" * 16):
        _authorize(PaymentClient(srv.url, FAST))
    headers = srv.requests[0]["headers"]
    assert headers["X-Correlation-ID"] == "corr-123"
    version, trace, span, flags = headers["traceparent"].split("-")
    assert (version, trace, flags) == ("00", "ab" * 16, "01") and len(span) == 16


def test_malformed_success_body_is_unavailable_not_a_crash() -> None:
    with ScriptedServer([Reply(200, raw=b'{"id": "pay_')]) as srv, pytest.raises(ProviderUnavailable,
                                                                                 match="malformed"):
        ProviderClient(srv.url, FAST).request("getPayment", "GET", "/payments/x")


def test_parse_retry_after_accepts_seconds_and_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
    assert parse_retry_after("soon") is None


def test_ids_stay_one_path_segment() -> None:
    """An id with `/`, `?` or `..` in it cannot reach another provider resource."""
    with ScriptedServer([Reply(body={"id": "x"})]) as srv:
        PaymentClient(srv.url, FAST).get("../refunds/x?all=1#")
    assert srv.requests[0]["path"] == "/payments/..%2Frefunds%2Fx%3Fall%3D1%23"
