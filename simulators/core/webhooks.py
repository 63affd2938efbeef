"""Signed webhook delivery: events from the contract's `webhooks:` section, retried on the simulator clock.

`emit()` stores a delivery (namespace "webhooks"); `tick()` sends what is due to the target URL, signed
`Sandbox-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, f"{t}.{raw_body}")>`, retries a
non-2xx or a timeout after 1 m, 5 m, 30 m and 2 h of simulator time, then gives up (`failed`). Every
attempt is journaled (kind "webhook"). Webhook fault effects: duplicate, delay, reorder, drop,
bad_signature. Framework-free: nothing here imports Flask or Werkzeug.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import orjson

from .clock import parse_duration, utc_iso
from .errors import ProblemError
from .http_post import HttpPoster
from .store import StateStore

RETRY_SCHEDULE_S: tuple[float, ...] = (60, 300, 1800, 7200)
SIGNATURE_HEADER = "Sandbox-Signature"
CLAIM_LEASE_S = 30.0  # real seconds after which a claim by a vanished worker may be taken over
REORDER_MAX_HOLD_S = 600.0  # simulator seconds a reordered event waits at most for its successor
HttpPost = Callable[..., Any]


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Sandbox-Signature header value for a raw body sent at `timestamp`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, *, now: float | None = None,
                     tolerance_s: float | None = None) -> bool:
    """True when `header` is a valid Sandbox-Signature of `body` (and fresh, if a tolerance is given)."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        ts = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if tolerance_s is not None and now is not None and abs(now - ts) > tolerance_s:
        return False
    expected = sign(secret, ts, body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


_POOL: Any = None
_POSTER = HttpPoster()


class _Answer:
    """The one thing delivery reads of a receiver's answer."""

    def __init__(self, status: int) -> None:
        self.status_code = status


def _default_post(url: str, *, data: bytes, headers: dict[str, str], timeout: float) -> Any:
    """POST over kept-alive connections: http:// with our small client (http_post.py, a fifth of urllib3's
    CPU per webhook), anything else (https, credentials in the URL) with a shared urllib3 pool."""
    parts = urlsplit(url)
    if parts.scheme == "http" and parts.hostname and not parts.username:
        return _Answer(_POSTER.post(parts, data, headers, timeout))
    global _POOL
    import urllib3  # imported lazily: only https delivery needs it

    if _POOL is None:
        _POOL = urllib3.PoolManager(num_pools=16, maxsize=8, retries=False)
    response = _POOL.request("POST", url, body=data, headers=headers, timeout=urllib3.Timeout(total=timeout),
                             redirect=False, preload_content=True)
    return _Answer(response.status)


class WebhookDispatcher:
    """Stores, signs, delivers and retries one simulator's webhook events."""

    NS = "webhooks"
    PENDING = "webhooks_pending"
    META = "webhooks_meta"

    def __init__(
        self,
        name: str,
        contract: Any,
        store: StateStore,
        clock: Any,
        journal_append: Callable[[dict[str, Any]], int],
        secret: str,
        faults: Any = None,
        http_post: HttpPost | None = None,
        *,
        schedule: tuple[float, ...] = RETRY_SCHEDULE_S,
        timeout_s: float = 5.0,
    ) -> None:
        self.name, self.contract, self.store, self.clock = name, contract, store, clock
        self.journal_append, self.secret, self.faults = journal_append, secret, faults
        self.http_post: HttpPost = http_post or _default_post
        self.schedule, self.timeout_s = tuple(schedule), timeout_s

    # -- target -----------------------------------------------------------------------------------
    def set_target(self, url: str | None) -> None:
        """Where events go (shared by every worker); None keeps them pending."""
        self.store.put(self.META, "target", {"url": url})

    def target(self) -> str | None:
        return (self.store.get(self.META, "target") or {}).get("url")

    # -- emitting ---------------------------------------------------------------------------------
    def emit(self, event_type: str, data_object: dict[str, Any], *, key: str | None = None,
             correlation_id: str | None = None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        """Queue one event (envelope: id, type, created_at, sequence per resource, data.object + extra)."""
        resource = key or str(data_object.get("id") or event_type)
        event = {
            "id": f"evt_{secrets.token_hex(6)}",
            "type": event_type,
            "created_at": self.clock.iso(),
            "sequence": self.store.incr(self.META, f"seq:{resource}"),
            "data": {"object": data_object, **(extra or {})},
        }
        now = self.clock.timestamp()
        fired, effects = self._effects(event_type, event)
        types = {e.get("type") for e in effects}
        copies = 1 + sum(int(e.get("count", 1)) for e in effects if e.get("type") == "duplicate")
        delivery = {
            "id": event["id"],
            "event_type": event_type,
            "resource": resource,
            "sequence": event["sequence"],
            "created_at": event["created_at"],
            "body": orjson.dumps(event).decode(),
            "correlation_id": correlation_id or "",
            "status": "pending",
            "next_attempt_at": now + self._delay_s(effects),
            "attempts": [],
            "copies": copies,
            "faults": fired,
            "drop": "drop" in types,
            "bad_signature": "bad_signature" in types,
            "hold": "reorder" in types,
            "hold_until": now + REORDER_MAX_HOLD_S if "reorder" in types else None,
        }
        with self.store.transaction():
            self.store.put(self.NS, event["id"], delivery)
            self.store.put(self.PENDING, event["id"], delivery["next_attempt_at"])
        return event

    def _effects(self, event_type: str, event: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
        """(fired rule names, effects as dicts) from the fault engine's webhook rules."""
        if self.faults is None:
            return [], []
        names, found = self.faults.webhook_effects(event_type, event)
        effects = [e.to_dict() for e in found]
        return names, effects

    @staticmethod
    def _delay_s(effects: list[dict[str, Any]]) -> float:
        total = 0.0
        for e in effects:
            if e.get("type") not in ("delay", "webhook_delay"):
                continue
            if "ms" in e:
                total += float(e["ms"]) / 1000
            elif "seconds" in e or "s" in e:
                total += float(e.get("seconds", e.get("s", 0)))
            elif "after" in e or "by" in e:
                total += parse_duration(str(e.get("after", e.get("by"))), field="delay")
            else:
                total += 60.0
        return total

    # -- delivering -------------------------------------------------------------------------------
    def tick(self) -> int:
        """Send every due attempt (claimed atomically so two workers never send one attempt)."""
        target = self.target()
        if not target:
            return 0
        sent = 0
        for delivery in self._claim_due():
            self._attempt(delivery, target)
            sent += 1
        return sent

    def _claim_due(self) -> list[dict[str, Any]]:
        now, real = self.clock.timestamp(), time.time()
        claimed: list[dict[str, Any]] = []
        with self.store.transaction():
            for event_id, due in self.store.items(self.PENDING):
                if due is None or float(due) > now:
                    continue
                d = self.store.get(self.NS, event_id)
                if d is None:
                    self.store.delete(self.PENDING, event_id)
                    continue
                if d["status"] == "sending" and real - float(d.get("claimed_real", 0)) < CLAIM_LEASE_S:
                    continue
                if d.get("hold") and not self._successor_done(d, now):
                    continue
                d["status"], d["claimed_real"], d["hold"] = "sending", real, False
                self.store.put(self.NS, event_id, d)
                claimed.append(d)
        claimed.sort(key=lambda d: (d["next_attempt_at"], d["created_at"]))
        return claimed

    def _successor_done(self, d: dict[str, Any], now: float) -> bool:
        """A reordered event is released once a later event of its resource was delivered (or gave up)."""
        if d.get("hold_until") is not None and now >= float(d["hold_until"]):
            return True
        for _, other in self.store.items(self.NS):
            if (other["resource"] == d["resource"] and other["sequence"] > d["sequence"]
                    and other["status"] in ("delivered", "failed")):
                return True
        return False

    def _headers(self, d: dict[str, Any], body: bytes, *, bad: bool) -> dict[str, str]:
        ts = int(self.clock.timestamp())
        signature = sign(self.secret, ts, body)
        if bad:
            signature = sign("not-the-" + self.secret, ts, body)
        return {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: signature,
            "Sandbox-Event-Id": d["id"],
            "Sandbox-Event-Type": d["event_type"],
            "X-Correlation-ID": d.get("correlation_id") or d["id"],
            "User-Agent": f"commerce-sandbox-webhooks/{self.name}",
        }

    def _attempt(self, d: dict[str, Any], url: str) -> None:
        body = d["body"].encode()
        first = not d["attempts"]
        copies = int(d.get("copies", 1)) if first else 1
        ok = False
        for copy in range(copies):
            number = len(d["attempts"]) + 1
            started = time.perf_counter()
            status: int | None = None
            error: str | None = None
            headers_sent = self._headers(d, body, bad=first and bool(d.get("bad_signature")))
            if first and copy == 0 and d.get("drop"):
                error = "dropped by fault effect 'drop' (not sent)"
            else:
                try:
                    headers = headers_sent
                    response = self.http_post(url, data=body, headers=headers, timeout=self.timeout_s)
                    status = int(response.status_code)
                    if not 200 <= status < 300:
                        error = f"receiver answered {status}"
                except Exception as exc:  # any transport failure counts as a failed attempt
                    error = f"{type(exc).__name__}: {exc}"
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            faults = list(d.get("faults", [])) if first else []
            attempt = {"n": number, "time": self.clock.iso(), "status": status, "duration_ms": duration_ms,
                       "error": error, "faults": faults, "target": url}
            d["attempts"].append(attempt)
            self.journal_append(self._journal_entry(d, attempt, body, headers_sent))
            ok = ok or error is None
            if error is not None:
                d["failures"] = int(d.get("failures", 0)) + 1
                break
        self._settle(d, ok)

    def _journal_entry(self, d: dict[str, Any], attempt: dict[str, Any], body: bytes,
                       headers: dict[str, str]) -> dict[str, Any]:
        """A journal entry (kind 'webhook') shaped like a request entry, plus which delivery and attempt."""
        parts = urlsplit(attempt["target"])
        status = attempt["status"]
        return {
            "kind": "webhook", "ts": self.clock.timestamp(), "time": attempt["time"], "real_time": utc_iso(time.time()),
            "operation": d["event_type"], "method": "POST", "path": parts.path or "/", "query": {},
            "request": {"headers": headers, "body": orjson.loads(body)},
            "response": {"status": status, "headers": {}, "body": None} if status is not None else None,
            "status": status, "duration_ms": attempt["duration_ms"], "faults": attempt["faults"],
            "correlation_id": d.get("correlation_id") or d["id"], "idempotency_key": None,
            "idempotent_replay": False, "error": attempt["error"],
            "webhook": {"delivery_id": d["id"], "event_id": d["id"], "event_type": d["event_type"],
                        "attempt": attempt["n"], "target": attempt["target"]},
        }

    def _settle(self, d: dict[str, Any], ok: bool) -> None:
        now = self.clock.timestamp()
        failures = int(d.get("failures", 0))
        d.pop("claimed_real", None)
        if ok:
            d["status"], d["next_attempt_at"] = "delivered", None
        elif failures > len(self.schedule):
            d["status"], d["next_attempt_at"] = "failed", None
        else:
            d["status"], d["next_attempt_at"] = "retrying", now + self.schedule[failures - 1]
        with self.store.transaction():
            self.store.put(self.NS, d["id"], d)
            if d["next_attempt_at"] is None:
                self.store.delete(self.PENDING, d["id"])
            else:
                self.store.put(self.PENDING, d["id"], d["next_attempt_at"])

    # -- inspecting -------------------------------------------------------------------------------
    def list(self, *, event_type: str | None = None, status: str | None = None) -> dict[str, Any]:
        """{'target', 'deliveries'}: every delivery with its attempts, oldest first (GET /__sandbox/webhooks)."""
        deliveries = [self.describe(d) for _, d in self.store.items(self.NS)
                      if (not event_type or d["event_type"] == event_type) and (not status or d["status"] == status)]
        return {"target": self.target(), "deliveries": deliveries}

    def get(self, event_id: str) -> dict[str, Any]:
        d = self.store.get(self.NS, event_id)
        if d is None:
            known = [k for k, _ in self.store.items(self.NS)][-5:]
            raise ProblemError(404, "Unknown webhook event", f"no webhook event '{event_id}'", known_recent=known)
        return self.describe(d)

    def describe(self, d: dict[str, Any]) -> dict[str, Any]:
        """A delivery as the control API shows it: status, attempts, when the next one is due, the event."""
        due = d.get("next_attempt_at")
        status = "pending" if d["status"] == "sending" else d["status"]
        return {
            "id": d["id"], "event_id": d["id"], "event_type": d["event_type"], "status": status,
            "target": self.target(), "created_at": d["created_at"],
            "next_attempt_at": utc_iso(float(due)) if due is not None else None,
            "attempts": d["attempts"], "payload": orjson.loads(d["body"]),
            "resource": d["resource"], "sequence": d["sequence"], "faults": d.get("faults", []),
        }

    def redeliver(self, event_id: str) -> dict[str, Any]:
        """Send an event again now (whatever its status), correctly signed and without fault effects."""
        with self.store.transaction():
            d = self.store.get(self.NS, event_id)
            if d is None:
                self.get(event_id)  # raises the 404
                raise AssertionError("unreachable")
            d.update(status="pending", next_attempt_at=self.clock.timestamp(), hold=False, failures=0,
                     drop=False, copies=1, bad_signature=False)
            self.store.put(self.NS, event_id, d)
            self.store.put(self.PENDING, event_id, d["next_attempt_at"])
        return self.describe(d)

    def reset(self) -> None:
        """Forget every delivery and sequence (the target URL stays)."""
        target = self.target()
        for ns in (self.NS, self.PENDING, self.META):
            self.store.clear(ns)
        if target:
            self.set_target(target)
