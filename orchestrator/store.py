"""Persistence with SQLAlchemy 2 Core: SQLite by default, PostgreSQL when the URL says so."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

JSON = sa.JSON()


def normalize_url(url: str) -> str:
    """Map `postgresql://` and `postgres://` to the psycopg 3 driver; create SQLite parent folders."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    return url


def _tables(meta: sa.MetaData, p: str) -> dict[str, sa.Table]:
    """Every table, each name prefixed with `p` (tests use a unique prefix per run)."""
    t: dict[str, sa.Table] = {}
    t["customers"] = sa.Table(
        f"{p}customers", meta,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("legacy_id", sa.String(64)),
        sa.Column("email", sa.String(255)),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("kyc_status", sa.String(32), nullable=False, default="not_submitted"),
        sa.Column("data", JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    t["products"] = sa.Table(
        f"{p}products", meta,
        sa.Column("sku", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("price_minor", sa.Integer),
        sa.Column("currency", sa.String(3)),
        sa.Column("stock", sa.Integer),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("data", JSON, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    t["settings"] = sa.Table(
        f"{p}settings", meta,
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    t["orders"] = sa.Table(
        f"{p}orders", meta,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("payment_type", sa.String(8), nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("step", sa.String(24), nullable=False),
        sa.Column("reason", sa.Text),
        sa.Column("amount_minor", sa.Integer),
        sa.Column("currency", sa.String(3)),
        sa.Column("payment_id", sa.String(64)),
        sa.Column("payment_status", sa.String(24)),
        sa.Column("payment_seq", sa.Integer, nullable=False, default=0),
        sa.Column("captured_minor", sa.Integer, nullable=False, default=0),
        sa.Column("refunded_minor", sa.Integer, nullable=False, default=0),
        sa.Column("legacy_order_id", sa.String(64)),
        sa.Column("fulfilment_status", sa.String(24), nullable=False, default="unfulfilled"),
        sa.Column("request", JSON, nullable=False),
        sa.Column("totals", JSON),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("lease_until", sa.Float, nullable=False, default=0.0),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("idempotency_key", name=f"{p}orders_idem_uq"),
    )
    sa.Index(f"{p}orders_customer_ix", t["orders"].c.customer_id)
    sa.Index(f"{p}orders_payment_ix", t["orders"].c.payment_id)
    t["shipments"] = sa.Table(
        f"{p}shipments", meta,
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("last_sequence", sa.Integer, nullable=False, default=0),
        sa.Column("items", JSON, nullable=False),
        sa.Column("data", JSON, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    sa.Index(f"{p}shipments_order_ix", t["shipments"].c.order_id)
    t["refunds"] = sa.Table(
        f"{p}refunds", meta,
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("order_id", sa.String(40), nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("amount_minor", sa.Integer, nullable=False),
        sa.Column("status", sa.String(24), nullable=False),
        sa.Column("provider_refund_id", sa.String(64)),
        sa.Column("reason", sa.Text),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.UniqueConstraint("idempotency_key", name=f"{p}refunds_idem_uq"),
    )
    t["outbox"] = sa.Table(
        f"{p}outbox", meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("topic", sa.String(64), nullable=False),
        sa.Column("key", sa.String(255), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False, default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, default=0),
        sa.Column("available_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False, default=0.0),
        sa.Column("last_error", sa.Text),
        sa.Column("correlation_id", sa.String(64)),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.UniqueConstraint("key", name=f"{p}outbox_key_uq"),
    )
    sa.Index(f"{p}outbox_due_ix", t["outbox"].c.status, t["outbox"].c.available_at)
    t["receipts"] = sa.Table(
        f"{p}receipts", meta,
        sa.Column("consumer", sa.String(64), primary_key=True),
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    t["webhook_events"] = sa.Table(
        f"{p}webhook_events", meta,
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("type", sa.String(64), nullable=False),
        sa.Column("object_id", sa.String(64)),
        sa.Column("sequence", sa.Integer),
        sa.Column("applied", sa.Boolean, nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
    )
    return t


class Store:
    """The orchestrator's database: tables, transactions and small typed helpers."""

    def __init__(self, url: str = "sqlite:///.sandbox/orchestrator.db", *, prefix: str = "") -> None:
        self.url = normalize_url(url)
        self.prefix = prefix
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine = self._engine()
        # SQLite allows one writer: queue this process's writers on a lock instead of SQLite's busy handler,
        # whose sleeps (up to 100 ms each) would dominate latency under contention
        self._write_lock: Any = threading.RLock() if self.is_sqlite else nullcontext()
        self.meta = sa.MetaData()
        self.t = _tables(self.meta, prefix)
        # statements built once and reused with bound parameters: SQLAlchemy memoizes a statement object's
        # cache key, so the hot path skips statement construction and cache-key generation (~60% of its cost)
        self._stmts: dict[tuple[Any, ...], Any] = {}

    def _engine(self) -> Engine:
        """An engine tuned per backend (WAL + busy timeout for SQLite, a pool for PostgreSQL)."""
        if not self.is_sqlite:
            return sa.create_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True)
        engine = sa.create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30})

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi: Any, _record: Any) -> None:
            dbapi.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi.cursor()
            if ":memory:" not in self.url:
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            readonly = conn.get_execution_options().get("readonly")
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine

    def create_all(self) -> None:
        """Create missing tables."""
        self.meta.create_all(self.engine)

    def drop_all(self) -> None:
        """Drop every table of this store (tests)."""
        self.meta.drop_all(self.engine)

    def close(self) -> None:
        """Release pooled connections."""
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Connection]:
        """One write transaction: committed on success, rolled back on error."""
        with self._write_lock, self.engine.begin() as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read-only transaction (SQLite: deferred, so readers never queue behind writers)."""
        with self.engine.connect().execution_options(readonly=True) as conn, conn.begin():
            yield conn

    # -- small helpers used by every flow ---------------------------------------------------------

    def statement(self, key: str, build: Callable[[], Any]) -> Any:
        """A statement built once per store by `build` (use bind parameters for what varies)."""
        stmt = self._stmts.get((key,))
        if stmt is None:
            stmt = self._stmts[(key,)] = build()
        return stmt

    def _cached(self, kind: str, table: str, expect: tuple[str, ...] = ()) -> Any:
        """A reusable statement by primary key (`_pk`), with equality conditions on `expect` columns (`_w_<col>`)."""
        key = (kind, table, expect)
        stmt = self._stmts.get(key)
        if stmt is None:
            tbl = self.t[table]
            if kind == "insert":
                stmt = tbl.insert()
            else:
                pk = next(iter(tbl.primary_key.columns)) == sa.bindparam("_pk")
                conds = [tbl.c[col] == sa.bindparam(f"_w_{col}") for col in expect]
                stmt = (sa.select(tbl) if kind == "select" else sa.update(tbl)).where(pk, *conds)
            self._stmts[key] = stmt
        return stmt

    def get(self, table: str, key: Any, conn: Connection | None = None) -> dict[str, Any] | None:
        """The row whose primary key is `key`, as a dict."""
        stmt = self._cached("select", table)
        if conn is not None:
            row = conn.execute(stmt, {"_pk": key}).mappings().first()
            return dict(row) if row else None
        with self.read() as c:
            row = c.execute(stmt, {"_pk": key}).mappings().first()
            return dict(row) if row else None

    def rows_by(self, table: str, column: str, value: Any, *, order_by: str,
                conn: Connection | None = None) -> list[dict[str, Any]]:
        """Every row whose `column` equals `value`, ordered by `order_by` (a cached statement)."""
        key = ("by", table, column, order_by)
        stmt = self._stmts.get(key)
        if stmt is None:
            tbl = self.t[table]
            stmt = self._stmts[key] = (sa.select(tbl).where(tbl.c[column] == sa.bindparam("_v"))
                                       .order_by(tbl.c[order_by]))
        if conn is not None:
            return [dict(r) for r in conn.execute(stmt, {"_v": value}).mappings()]
        with self.read() as c:
            return [dict(r) for r in c.execute(stmt, {"_v": value}).mappings()]

    def one(self, stmt: Any, conn: Connection | None = None) -> dict[str, Any] | None:
        """The first row of a select, as a dict."""
        if conn is not None:
            row = conn.execute(stmt).mappings().first()
            return dict(row) if row else None
        with self.read() as c:
            row = c.execute(stmt).mappings().first()
            return dict(row) if row else None

    def all(self, stmt: Any) -> list[dict[str, Any]]:
        """Every row of a select, as dicts."""
        with self.read() as c:
            return [dict(r) for r in c.execute(stmt).mappings()]

    def insert(self, table: str, values: Mapping[str, Any], conn: Connection | None = None) -> None:
        """Insert one row."""
        stmt = self._cached("insert", table)
        if conn is not None:
            conn.execute(stmt, dict(values))
            return
        with self.tx() as c:
            c.execute(stmt, dict(values))

    def update(self, table: str, key: Any, values: Mapping[str, Any], *, where: Any = None,
               expect: Mapping[str, Any] | None = None, conn: Connection | None = None) -> bool:
        """Compare-and-set update of one row by primary key; True when a row changed.

        `expect` ({column: value}) is the fast compare-and-set (a cached statement); `where` takes any
        SQL condition, and values may be SQL expressions, at the cost of building the statement each time.
        """
        if where is None and not any(isinstance(v, sa.ClauseElement) for v in values.values()):
            expect = expect or {}
            stmt = self._cached("update", table, tuple(expect))
            params = {**values, "_pk": key, **{f"_w_{col}": v for col, v in expect.items()}}
            if conn is not None:
                return conn.execute(stmt, params).rowcount == 1
            with self.tx() as c:
                return c.execute(stmt, params).rowcount == 1
        tbl = self.t[table]
        pk = next(iter(tbl.primary_key.columns))
        stmt = sa.update(tbl).where(pk == key, *[tbl.c[col] == v for col, v in (expect or {}).items()])
        if where is not None:
            stmt = stmt.where(where)
        stmt = stmt.values(**values)
        if conn is not None:
            return conn.execute(stmt).rowcount == 1
        with self.tx() as c:
            return c.execute(stmt).rowcount == 1

    def upsert(self, table: str, values: Mapping[str, Any], conn: Connection | None = None) -> None:
        """Insert or replace one row by primary key (portable: update, then insert if absent)."""
        tbl = self.t[table]
        pks = list(tbl.primary_key.columns)
        cond = sa.and_(*[c == values[c.name] for c in pks])

        def run(c: Connection) -> None:
            rest = {k: v for k, v in values.items() if k not in {p.name for p in pks}}
            if c.execute(sa.update(tbl).where(cond).values(**rest)).rowcount == 0:
                c.execute(sa.insert(tbl).values(**values))

        if conn is not None:
            run(conn)
        else:
            with self.tx() as c:
                run(c)

    def claim_receipt(self, consumer: str, key: str, conn: Connection | None = None) -> bool:
        """Record that `consumer` handled `key`; False when it already had (consumer idempotency)."""
        stmt = sa.insert(self.t["receipts"]).values(consumer=consumer, key=key, created_at=time.time())
        try:
            if conn is None:
                with self.tx() as c:
                    c.execute(stmt)
            else:
                with conn.begin_nested():
                    conn.execute(stmt)
            return True
        except sa.exc.IntegrityError:
            return False

    def get_setting(self, name: str) -> str | None:
        """A stored setting."""
        row = self.get("settings", name)
        return row["value"] if row else None

    def set_setting(self, name: str, value: str) -> None:
        """Store a setting."""
        self.upsert("settings", {"name": name, "value": value})

    def ping(self) -> bool:
        """True when the database answers."""
        try:
            with self.engine.connect() as c:
                c.exec_driver_sql("SELECT 1")
            return True
        except sa.exc.SQLAlchemyError:
            return False
