"""Durable outbox: messages written in the caller's transaction, delivered by a worker thread.

At-least-once: a message is leased, handled, then acknowledged; a crash between handling and the
acknowledgement redelivers it, so every handler is idempotent (provider idempotency keys derived from
the order, `Store.claim_receipt`, compare-and-set state changes). After `max_attempts` failures a
message moves to dead letters; `replay` puts dead letters back in the queue.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa

from . import context, logs, metrics
from .errors import ProviderError
from .store import Conflict, Store, Tx

log = logs.get("outbox")
Handler = Callable[[dict[str, Any]], None]


class Defer(Exception):
    """Raised by a handler to try again later without counting an attempt."""

    def __init__(self, seconds: float, reason: str = "") -> None:
        self.seconds, self.reason = seconds, reason
        super().__init__(reason or f"deferred {seconds}s")


class Outbox:
    """Write, lease, acknowledge, retry and dead-letter outbox messages."""

    def __init__(self, store: Store, *, max_attempts: int = 8, backoff_s: float = 0.5,
                 max_backoff_s: float = 30.0, lease_s: float = 30.0) -> None:
        self.store, self.t = store, store.t["outbox"]
        self.max_attempts, self.backoff_s, self.max_backoff_s = max_attempts, backoff_s, max_backoff_s
        self.lease_s = lease_s
        self.handlers: dict[str, Handler] = {}
        self.wakeup = threading.Event()
        t = self.t
        self._due = store.statement("outbox.due", lambda: sa.select(t).where(
            t.c.status == "pending", t.c.available_at <= sa.bindparam("now"), t.c.lease_until <= sa.bindparam("now"))
            .order_by(t.c.available_at, t.c.id).limit(sa.bindparam("limit", type_=sa.Integer)))
        self._insert_new = store.statement("outbox.insert_new", lambda: _insert_ignoring_duplicates(store, t))
        self._by_key = store.statement("outbox.pending_by_key", lambda: sa.update(t).where(
            t.c.key == sa.bindparam("_key"), t.c.status == "pending"))

    def register(self, topic: str, handler: Handler) -> None:
        """Name the handler of a topic."""
        self.handlers[topic] = handler

    def enqueue(self, conn: Tx, topic: str, key: str, payload: dict[str, Any], *,
                delay_s: float = 0.0) -> bool:
        """Add a message inside the caller's transaction; False when `key` is already queued."""
        if topic not in self.handlers:
            raise ValueError(f"no outbox handler for topic '{topic}'; known: {sorted(self.handlers)}")
        now = time.time()
        row = {"topic": topic, "key": key, "payload": payload, "status": "pending", "attempts": 0,
               "available_at": now + delay_s, "lease_until": 0.0, "correlation_id": context.correlation_id(),
               "created_at": now, "updated_at": now}
        if self._insert_new is not None:  # INSERT ... ON CONFLICT (key) DO NOTHING: no savepoint needed
            if conn.execute(self._insert_new, row).first() is None:  # RETURNING id: nothing when a duplicate
                return False
        else:
            try:
                with conn.begin_nested():
                    conn.execute(self.t.insert(), row)
            except Conflict:
                return False
        self.wakeup.set()
        return True

    def claim(self, limit: int = 16) -> list[dict[str, Any]]:
        """Lease up to `limit` due messages (safe with several workers: compare-and-set per row)."""
        now = time.time()
        claimed: list[dict[str, Any]] = []
        with self.store.tx() as conn:  # one write transaction for the whole batch
            due = conn.execute(self._due, {"now": now, "limit": limit}).mappings().all()
            for row in due:
                lease = {"lease_until": now + self.lease_s, "attempts": row["attempts"] + 1, "updated_at": now}
                if self.store.update("outbox", row["id"], lease, expect={"status": "pending",
                                                                         "lease_until": row["lease_until"]},
                                     conn=conn):
                    claimed.append({**row, **lease})
        return claimed

    def ack(self, msg_id: int, conn: Tx | None = None) -> None:
        """Mark a message delivered."""
        self.store.update("outbox", msg_id, {"status": "done", "lease_until": 0.0, "updated_at": time.time()},
                          conn=conn)

    def ack_many(self, msg_ids: list[int]) -> None:
        """Mark several messages delivered in one transaction."""
        if msg_ids:
            done = {"status": "done", "lease_until": 0.0, "updated_at": time.time()}
            with self.store.tx() as conn:
                for msg_id in msg_ids:
                    self.store.update("outbox", msg_id, done, conn=conn)

    def complete(self, key: str, conn: Tx) -> None:
        """Mark the message with `key` delivered (inside the caller's transaction)."""
        conn.execute(self._by_key, {"status": "done", "lease_until": 0.0, "updated_at": time.time(), "_key": key})

    def reschedule(self, key: str, delay_s: float, conn: Tx | None = None) -> None:
        """Make the pending message with `key` due after `delay_s` (hand-over to the worker)."""
        values = {"available_at": time.time() + delay_s, "lease_until": 0.0, "updated_at": time.time(), "_key": key}
        if conn is not None:
            conn.execute(self._by_key, values)
        else:
            with self.store.tx() as c:
                c.execute(self._by_key, values)
        self.wakeup.set()

    def requeue(self, key: str, delay_s: float = 0.0) -> None:
        """Put the message with `key` back in the queue whatever its status (a retried order)."""
        now = time.time()
        with self.store.tx() as conn:
            conn.execute(sa.update(self.t).where(self.t.c.key == key).values(
                status="pending", attempts=0, available_at=now + delay_s, lease_until=0.0, updated_at=now))
        self.wakeup.set()

    def backoff(self, attempts: int) -> float:
        """Exponential backoff with full jitter for the next try."""
        ceiling = min(self.max_backoff_s, self.backoff_s * (2 ** max(0, attempts - 1)))
        return random.uniform(ceiling / 2, ceiling)

    def nack(self, msg: dict[str, Any], error: str, retry_after: float | None = None) -> str:
        """Record a failure: retry later, or move to dead letters after `max_attempts`."""
        now = time.time()
        if msg["attempts"] >= self.max_attempts:
            values = {"status": "dead", "lease_until": 0.0, "last_error": error[:2000], "updated_at": now}
            outcome = "dead"
        else:
            wait = max(self.backoff(msg["attempts"]), retry_after or 0.0)
            values = {"available_at": now + wait, "lease_until": 0.0, "last_error": error[:2000],
                      "updated_at": now}
            outcome = "retry"
        self.store.update("outbox", msg["id"], values)
        return outcome

    def defer(self, msg: dict[str, Any], seconds: float) -> None:
        """Postpone without counting the attempt."""
        self.store.update("outbox", msg["id"], {
            "available_at": time.time() + seconds, "lease_until": 0.0,
            "attempts": max(0, msg["attempts"] - 1), "updated_at": time.time()})

    def dispatch(self, msg: dict[str, Any], *, ack: bool = True) -> str:
        """Run one leased message's handler; returns the outcome (done, retry, dead, deferred).

        With `ack=False` the caller acknowledges `done` messages itself (`run_once` does it per batch).
        """
        handler = self.handlers.get(msg["topic"])
        with context.correlated(msg.get("correlation_id")):
            try:
                if handler is None:
                    raise LookupError(f"no handler for topic '{msg['topic']}'")
                handler(msg["payload"])
            except Defer as exc:
                self.defer(msg, exc.seconds)
                outcome = "deferred"
            except Exception as exc:  # a failing handler must never stop the worker
                retry_after = exc.retry_after if isinstance(exc, ProviderError) else None
                outcome = self.nack(msg, f"{type(exc).__name__}: {exc}", retry_after)
                log.warning("outbox message failed", extra={
                    "topic": msg["topic"], "key": msg["key"], "attempt": msg["attempts"],
                    "outcome": outcome, "error": str(exc)})
            else:
                if ack:
                    self.ack(msg["id"])
                outcome = "done"
        metrics.OUTBOX_PROCESSED.labels(msg["topic"], outcome).inc()
        return outcome

    def run_once(self, limit: int = 16) -> int:
        """Claim and dispatch one batch; returns how many messages were handled."""
        batch = self.claim(limit)
        done: list[int] = []
        try:
            for msg in batch:
                if self.dispatch(msg, ack=False) == "done":
                    done.append(msg["id"])
        finally:  # one acknowledgement per batch (a crash before it redelivers: at-least-once, as always)
            self.ack_many(done)
        return len(batch)

    def drain(self, timeout_s: float = 10.0) -> None:
        """Process until nothing is due (tests and the CLI)."""
        deadline = time.time() + timeout_s
        while time.time() < deadline and self.run_once():
            pass

    # -- dead letters and observability ------------------------------------------------------------

    def dead_letters(self) -> list[dict[str, Any]]:
        """Every message in dead letters."""
        return self.store.all(sa.select(self.t).where(self.t.c.status == "dead").order_by(self.t.c.id))

    def replay(self, ids: list[int] | None = None) -> int:
        """Put dead letters (all, or the given ids) back in the queue with a fresh attempt count."""
        if ids is not None and not ids:
            return 0  # an empty list names no message (None means all)
        stmt = sa.update(self.t).where(self.t.c.status == "dead")
        if ids is not None:
            stmt = stmt.where(self.t.c.id.in_(ids))
        now = time.time()
        with self.store.tx() as conn:
            count = conn.execute(stmt.values(status="pending", attempts=0, available_at=now,
                                             lease_until=0.0, updated_at=now)).rowcount
        self.wakeup.set()
        return int(count)

    def stats(self) -> dict[str, Any]:
        """Pending depth by topic and the dead-letter count (also exported as metrics)."""
        rows = self.store.all(sa.select(self.t.c.topic, self.t.c.status, sa.func.count().label("n"))
                              .where(self.t.c.status != "done").group_by(self.t.c.topic, self.t.c.status))
        depth: dict[str, int] = {}
        dead = 0
        for row in rows:
            topic, status, count = row["topic"], row["status"], row["n"]
            if status == "pending":
                depth[topic] = depth.get(topic, 0) + int(count)
            else:
                dead += int(count)
        for topic in self.handlers:
            metrics.OUTBOX_DEPTH.labels(topic).set(depth.get(topic, 0))
        metrics.DEAD_LETTERS.set(dead)
        return {"pending": depth, "dead_letters": dead}


class OutboxWorker:
    """One claiming thread and `threads` delivery threads.

    The claimer leases as many due messages as there are idle delivery threads, hands them over, and
    acknowledges the finished ones in one transaction per round; it sleeps until a message is enqueued,
    a delivery finishes, or `poll_s` passes. (Each delivery thread claiming for itself woke every idle
    thread on each enqueue, and most of their claim transactions found nothing.) Claims are
    compare-and-set, so workers of several processes still never run a message twice at once.
    """

    def __init__(self, outbox: Outbox, *, poll_s: float = 0.05, threads: int = 1, batch: int = 16) -> None:
        self.outbox, self.poll_s, self.threads, self.batch = outbox, poll_s, max(1, threads), batch
        self._stop = threading.Event()
        self._claimer: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._idle = self.threads
        self._done: list[int] = []  # delivered, not yet acknowledged

    def start(self) -> OutboxWorker:
        """Start the threads (idempotent)."""
        if self._claimer is None or not self._claimer.is_alive():
            self._stop.clear()
            self._idle = self.threads
            self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="outbox-delivery")
            self._claimer = threading.Thread(target=self._run, name="outbox-claimer", daemon=True)
            self._claimer.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the threads to stop and wait for them (messages in flight finish and are acknowledged)."""
        self._stop.set()
        self.outbox.wakeup.set()
        if self._claimer is not None:
            self._claimer.join(timeout_s)
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        self._acknowledge()

    def _run(self) -> None:
        """Loop: acknowledge what finished, claim for the idle threads, hand over, sleep until woken."""
        log.info("outbox worker started", extra={"threads": self.threads})
        pool = self._pool
        while pool is not None and not self._stop.is_set():
            handed = 0
            try:
                self._acknowledge()
                with self._lock:
                    idle = self._idle
                if idle:
                    for msg in self.outbox.claim(min(idle, self.batch)):
                        with self._lock:
                            self._idle -= 1
                        pool.submit(self._deliver, msg)
                        handed += 1
            except Exception:
                log.exception("outbox worker loop error")
            if not handed:
                self.outbox.wakeup.wait(self.poll_s)
                self.outbox.wakeup.clear()

    def _deliver(self, msg: dict[str, Any]) -> None:
        """One message on a delivery thread; the claimer acknowledges it."""
        try:
            if self.outbox.dispatch(msg, ack=False) == "done":
                with self._lock:
                    self._done.append(msg["id"])
        except Exception:
            log.exception("outbox delivery error", extra={"key": msg.get("key")})
        finally:
            with self._lock:
                self._idle += 1
            self.outbox.wakeup.set()  # a thread is free: claim again

    def _acknowledge(self) -> None:
        """Mark the delivered messages done, in one transaction."""
        with self._lock:
            done, self._done = self._done, []
        if done:
            try:
                self.outbox.ack_many(done)
            except Exception:
                with self._lock:
                    self._done.extend(done)  # try again next round (redelivery is harmless anyway)
                raise


def _insert_ignoring_duplicates(store: Store, table: sa.Table) -> Any:
    """`INSERT ... ON CONFLICT (key) DO NOTHING` for SQLite and PostgreSQL (None elsewhere)."""
    if store.is_sqlite and sqlite3.sqlite_version_info >= (3, 35):  # RETURNING came with SQLite 3.35
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        return sqlite_insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)
    if store.url.startswith("postgresql"):
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table).on_conflict_do_nothing(index_elements=["key"]).returning(table.c.id)
    return None
