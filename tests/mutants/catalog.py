"""The mutants: each replaces one snippet of a COPY of orchestrator/ with a realistic integration bug.

An edit names the file (relative to orchestrator/), the exact text to find (it must occur once) and its
replacement; `scenarios` are the suite files run against it (the relevant subset keeps `make mutants` short).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Mutant:
    """One seeded bug."""

    name: str
    bug: str
    edits: tuple[tuple[str, str, str], ...]
    scenarios: tuple[str, ...] = field(default=("scenarios",))


MUTANTS: tuple[Mutant, ...] = (
    Mutant("no-idempotency-key", "provider calls carry no Idempotency-Key, so a retried capture charges twice",
           (("adapters/base.py", 'headers["Idempotency-Key"] = idempotency_key', "pass"),),
           ("scenarios/resilience/payment.scenario.yaml", "scenarios/orders/lifecycle.scenario.yaml")),
    Mutant("new-key-per-retry", "every attempt gets a fresh Idempotency-Key",
           (("adapters/base.py", 'headers["Idempotency-Key"] = idempotency_key',
             'headers["Idempotency-Key"] = f"{idempotency_key}:{time.perf_counter_ns()}"'),),
           ("scenarios/resilience/payment.scenario.yaml",)),
    Mutant("ignores-retry-after", "retries on its own backoff, ignoring the provider's Retry-After",
           (("adapters/base.py", "return max(wait, retry_after) if retry_after is not None else wait",
             "return wait"),),
           ("scenarios/resilience/payment.scenario.yaml",)),
    Mutant("retries-declined-payment", "a 402 decline is treated as retryable",
           (("adapters/base.py", "if status in RETRYABLE_STATUS or (", "if status in RETRYABLE_STATUS | {402} or ("),),
           ("scenarios/checkout/declines.scenario.yaml",)),
    Mutant("no-void-on-failed-sale", "when the backend refuses the sale the authorization is left open",
           (("flows/checkout.py", '    if order["payment_id"]:\n        try:\n            pay = svc.payment.void(',
             '    if False:\n        try:\n            pay = svc.payment.void('),),
           ("scenarios/resilience/legacy.scenario.yaml", "scenarios/checkout/three_d_secure.scenario.yaml")),
    Mutant("webhook-signature-not-checked", "webhooks are applied whatever their signature",
           (("flows/webhooks.py", "    if not verify(svc.config.webhook_secret,", "    if False and not verify(svc.config.webhook_secret,"),),
           ("scenarios/webhooks/delivery.scenario.yaml",)),
    Mutant("no-dedup-by-event-id", "a redelivered event is processed again instead of being recognised",
           (("flows/webhooks.py", '        metrics.WEBHOOKS.labels(provider, "duplicate").inc()\n'
             '        return {"status": "duplicate", "event_id": event_id}', "        pass"),),
           ("scenarios/webhooks/delivery.scenario.yaml",)),
    Mutant("late-event-overwrites-newer", "shipment events are applied in arrival order, not sequence order",
           (("flows/webhooks.py", 't.c.id == sa.bindparam("_id"), t.c.last_sequence < sa.bindparam("_seq"),\n'
             '            *[t.c.status != final for final in FINAL_SHIPMENT]))',
             't.c.id == sa.bindparam("_id")))'),),
           ("scenarios/webhooks/delivery.scenario.yaml",)),
    Mutant("dead-letters-dropped", "a message that failed too often is silently marked done",
           (("outbox.py", 'values = {"status": "dead",', 'values = {"status": "done",'),),
           ("scenarios/operations/dead_letters.scenario.yaml",)),
    Mutant("drifted-field-crashes-sync", "a missing provider field raises instead of being reported",
           (("flows/catalog.py", '            drifts.append({"sku": tag, "field": name, "kind": "missing"})',
             '            raise KeyError(name)'),),
           ("scenarios/catalog/sync.scenario.yaml",)),
    Mutant("hp-allowed-without-kyc", "HP is offered to anyone whose KYC is not rejected",
           (("flows/onboarding.py", '"hp_allowed": status == "approved"', '"hp_allowed": status != "rejected"'),),
           ("scenarios/onboarding/customers.scenario.yaml",)),
    Mutant("promotions-recomputed-locally", "the order is charged the subtotal, ignoring the backend's promotions",
           (("flows/checkout.py", 'amount = int(sim["totals"]["total"])', 'amount = int(sim["totals"]["subtotal"])'),),
           ("scenarios/basket/promotions.scenario.yaml",)),
    Mutant("timeout-too-long", "provider calls wait 30 s for an answer",
           (("adapters/base.py", "read_timeout_s=self.policy.read_timeout_s)", "read_timeout_s=30.0)"),),
           ("scenarios/resilience/payment.scenario.yaml",)),
    Mutant("breaker-never-opens", "the circuit breaker trips only after 10,000 failures",
           (("adapters/base.py", "fail_max=self.policy.breaker_fail_max,", "fail_max=10_000,"),),
           ("scenarios/resilience/payment.scenario.yaml",)),
    Mutant("cancel-keeps-shipments", "cancelling an order leaves its shipments booked at the carrier",
           (("flows/refunds.py", "            svc.delivery.cancel_shipment(ship[\"id\"], reason=\"order_cancelled\",\n"
             "                                         idempotency_key=f\"{order_id}:cancel:{ship['id']}\")", "            pass"),),
           ("scenarios/orders/lifecycle.scenario.yaml",)),
    Mutant("three-d-secure-ignored", "a payment that requires 3-D Secure is treated as authorized",
           (("flows/checkout.py", 'values.update(step="compensating", reason="authentication_required: 3-D Secure is not supported here")',
             "pass"),),
           ("scenarios/checkout/three_d_secure.scenario.yaml",)),
    Mutant("refund-without-key", "refunds are sent without an Idempotency-Key, so a lost answer refunds twice",
           (("adapters/payment.py", 'return self.request("refundPayment", "POST", f"/payments/{seg(payment_id)}/refunds", '
             'json_body=body,\n                            idempotency_key=idempotency_key)',
             'return self.request("refundPayment", "POST", f"/payments/{seg(payment_id)}/refunds", json_body=body)'),),
           ("scenarios/orders/lifecycle.scenario.yaml",)),
    Mutant("capture-not-recorded", "the captured amount is not stored on the order (ledgers disagree)",
           (("flows/checkout.py", '_cas(svc, order, {"step": "captured", "captured_minor": cap["amount"],',
             '_cas(svc, order, {"step": "captured", "captured_minor": 0,'),),
           ("scenarios/checkout/cash.scenario.yaml",)),
)
