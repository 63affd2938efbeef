"""Persistence: SQLite by default, PostgreSQL when the URL says so.

SQLAlchemy 2 Core describes the tables and compiles each statement once; statements run on the driver's
connection (see `Tx`).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

JSON = sa.JSON()


def _json_text(value: Any) -> str:
    """JSON text of a column value (orjson; the standard library for integers beyond 64 bits)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value, separators=(",", ":"))


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


class Conflict(Exception):
    """A unique constraint refused the row (a duplicate key)."""


class Result:
    """The rows of one statement, fetched at once as dicts (our statements return few rows)."""

    __slots__ = ("rowcount", "rows")

    def __init__(self, rows: list[dict[str, Any]], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def first(self) -> dict[str, Any] | None:
        """The first row, or None."""
        return self.rows[0] if self.rows else None

    def all(self) -> list[dict[str, Any]]:
        """Every row."""
        return self.rows

    def scalar(self) -> Any:
        """The first column of the first row, or None."""
        return next(iter(self.rows[0].values())) if self.rows else None

    def mappings(self) -> Result:
        """The rows are already mappings (kept for SQLAlchemy-style call sites)."""
        return self

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.rows)


class _Plan:
    """A statement compiled once for this database: SQL text, parameter order and value converters."""

    __slots__ = ("_columns", "binds", "literals", "order", "results", "sql")

    def __init__(self, stmt: Any, dialect: Any, keys: tuple[str, ...]) -> None:
        # a statement with every value inside (no parameters given) renders its IN lists at once
        compiled = stmt.compile(dialect=dialect, column_keys=list(keys),
                                compile_kwargs={"render_postcompile": not keys})
        self.sql: str = compiled.string
        if "POSTCOMPILE" in self.sql:
            raise ValueError(f"an IN list with bound parameters cannot be reused; write the values into the "
                             f"statement or use OR/AND conditions: {self.sql}")
        self.order: tuple[str, ...] | None = tuple(compiled.positiontup or ()) if dialect.positional else None
        # values written into the statement itself (`col == "pending"`) travel as bind parameters too
        self.literals = {k: v for k, v in compiled.params.items() if k not in keys}
        if isinstance(stmt, sa.Insert):  # scalar column defaults (status="pending", attempts=0, ...)
            for col in stmt.table.columns:
                default = col.default
                if col.key not in keys and isinstance(default, sa.ColumnDefault) and default.is_scalar:
                    self.literals[col.key] = default.arg
        self.binds: dict[str, Callable[[Any], Any]] = {}
        for name in compiled.params:
            bind = compiled.binds.get(name)  # None for the members of a rendered IN list (plain values)
            proc = bind.type.dialect_impl(dialect).bind_processor(dialect) if bind is not None else None
            if proc is not None:
                self.binds[name] = proc
        self._columns = {c.key: c.type for c in getattr(stmt, "selected_columns", ())} or {
            c.key: c.type for c in getattr(stmt, "_returning", ()) if hasattr(c, "type")}
        self.results: dict[str, Callable[[Any], Any]] | None = None

    def params(self, given: Mapping[str, Any] | None) -> Any:
        """The DB-API parameters: a tuple (positional drivers) or a dict (named)."""
        values = {**self.literals, **given} if given else dict(self.literals)
        for name, proc in self.binds.items():
            if name in values:
                values[name] = proc(values[name])
        return [values[n] for n in self.order] if self.order is not None else values

    def converters(self, description: Any, dialect: Any) -> dict[str, Callable[[Any], Any]]:
        """Result-value converters by column name (JSON text to objects, 0/1 to bool), worked out once."""
        if self.results is None:
            out = {}
            for col in description:
                type_ = self._columns.get(col[0])
                proc = type_.dialect_impl(dialect).result_processor(dialect, col[1]) if type_ is not None else None
                if proc is not None:
                    out[col[0]] = proc
            self.results = out
        return self.results


class Tx:
    """One database transaction on a raw DB-API connection; `execute` runs SQLAlchemy Core statements.

    SQLAlchemy builds the schema and compiles each statement once; the statements run straight on the
    driver: an SQLAlchemy transaction with one statement cost ~170 us of CPU against ~19 us this way
    (measured in-process on SQLite), and a checkout runs ~12 transactions.
    """

    def __init__(self, store: Store, dbapi: Any) -> None:
        self.store, self.dbapi = store, dbapi
        self._savepoints = 0

    def execute(self, stmt: Any, params: Mapping[str, Any] | None = None) -> Result:
        """Run a statement with bound values; a duplicate key raises Conflict."""
        if isinstance(stmt, str):
            stmt = sa.text(stmt)
        plan = self.store.plan(stmt, params)
        cur = self.dbapi.cursor()
        try:
            cur.execute(plan.sql, plan.params(params))
        except self.store.dbapi_module.IntegrityError as exc:
            cur.close()
            raise Conflict(str(exc)) from exc
        rows: list[dict[str, Any]] = []
        if cur.description is not None:
            names = [col[0] for col in cur.description]
            conv = plan.converters(cur.description, self.store.engine.dialect)
            for raw in cur.fetchall():
                row = dict(zip(names, raw, strict=True))
                for name, proc in conv.items():
                    row[name] = proc(row[name])
                rows.append(row)
        count = cur.rowcount
        cur.close()
        return Result(rows, count)

    @contextmanager
    def begin_nested(self) -> Iterator[Tx]:
        """A savepoint: an error inside rolls back only the block."""
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self._raw(f"SAVEPOINT {name}")
        try:
            yield self
        except BaseException:
            self._raw(f"ROLLBACK TO SAVEPOINT {name}")
            self._raw(f"RELEASE SAVEPOINT {name}")
            raise
        self._raw(f"RELEASE SAVEPOINT {name}")

    def _raw(self, sql: str) -> None:
        cur = self.dbapi.cursor()
        cur.execute(sql)
        cur.close()


class Store:
    """The orchestrator's database: tables, transactions and small typed helpers."""

    def __init__(self, url: str = "sqlite:///.sandbox/orchestrator.db", *, prefix: str = "") -> None:
        self.url = normalize_url(url)
        self.prefix = prefix
        self.is_sqlite = self.url.startswith("sqlite")
        self.engine = self._engine()
        self.dbapi_module: Any = self.engine.dialect.loaded_dbapi
        # SQLite allows one writer: queue this process's writers on a lock instead of SQLite's busy handler,
        # whose sleeps (up to 100 ms each) would dominate latency under contention
        self._write_lock: Any = threading.RLock() if self.is_sqlite else nullcontext()
        self.meta = sa.MetaData()
        self.t = _tables(self.meta, prefix)
        # statements built once (bind parameters for what varies) and compiled once per set of parameters
        self._stmts: dict[tuple[Any, ...], Any] = {}
        self._reused: dict[int, Any] = {}  # id -> statement, of those built once (kept alive by _stmts)
        self._plans: dict[tuple[int, tuple[str, ...]], _Plan] = {}
        self._local = threading.local()
        self._writer: Any = None  # SQLite: the connection of every write transaction (see _connection)
        self._opened: list[Any] = []  # SQLite connections of every thread, closed by close()
        self._opened_lock = threading.Lock()

    def _engine(self) -> Engine:
        """An engine tuned per backend (JSON through orjson; a pool for PostgreSQL)."""
        json_args = {"json_serializer": _json_text, "json_deserializer": orjson.loads}
        if not self.is_sqlite:
            # no rollback when a connection goes back to the pool: every transaction here ends in a commit or a
            # rollback already (_transaction; SQLAlchemy's Connection rolls back its own on close), and the
            # pool's reset was one more round trip per transaction (~45 µs of CPU, 110 µs of wall time)
            return sa.create_engine(self.url, pool_size=10, max_overflow=20, pool_pre_ping=True,
                                    pool_reset_on_return=None, **json_args)
        engine = sa.create_engine(self.url, connect_args={"check_same_thread": False, "timeout": 30}, **json_args)

        @sa.event.listens_for(engine, "connect")
        def _pragmas(dbapi: Any, _record: Any) -> None:
            self._sqlite_setup(dbapi)

        @sa.event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:  # SQLAlchemy's own transactions (schema creation)
            conn.exec_driver_sql("BEGIN IMMEDIATE")

        return engine

    def _sqlite_setup(self, dbapi: Any) -> None:
        """WAL, and transactions begun by us (BEGIN IMMEDIATE for writers), not by the driver."""
        dbapi.isolation_level = None
        cur = dbapi.cursor()
        if ":memory:" not in self.url:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA mmap_size=268435456")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    def create_all(self) -> None:
        """Create missing tables."""
        self.meta.create_all(self.engine)

    def drop_all(self) -> None:
        """Drop every table of this store (tests)."""
        self.meta.drop_all(self.engine)

    def close(self) -> None:
        """Close every connection."""
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for dbapi in opened:
            dbapi.close()
        self._local = threading.local()
        self._writer = None
        self.engine.dispose()

    @contextmanager
    def tx(self) -> Iterator[Tx]:
        """One write transaction: committed on success, rolled back on error."""
        with self._write_lock:
            yield from self._transaction("BEGIN IMMEDIATE", writer=True)

    @contextmanager
    def read(self) -> Iterator[Tx]:
        """A read-only transaction (SQLite: deferred, so readers never queue behind writers)."""
        yield from self._transaction("BEGIN")

    def _transaction(self, begin: str, *, writer: bool = False) -> Iterator[Tx]:
        """Begin (SQLite; PostgreSQL's driver begins by itself), yield, then commit, or roll back on error."""
        dbapi, pooled = self._connection(writer)
        try:
            if self.is_sqlite:
                dbapi.execute(begin)
            try:
                yield Tx(self, dbapi)
            except BaseException:
                dbapi.rollback()
                raise
            dbapi.commit()
        finally:
            if pooled is not None:
                pooled.close()

    def _connection(self, writer: bool = False) -> tuple[Any, Any]:
        """A driver connection and the pool's handle to give back (None: SQLite's own, kept, as a pool
        check-out cost more than the statements).

        SQLite: the process's writers, queued on the write lock anyway, share one connection, and each reading
        thread has its own. A connection empties its page cache whenever another connection has written since
        its last transaction, so a connection per writing thread re-read its pages from the file in nearly
        every transaction (~115 pread calls per checkout under the checkout bench)."""
        if not self.is_sqlite or ":memory:" in self.url:
            pooled = self.engine.raw_connection()
            return pooled.driver_connection, pooled
        if writer:  # the write lock is held
            if self._writer is None:
                self._writer = self._open_sqlite()
            return self._writer, None
        dbapi = getattr(self._local, "sqlite", None)
        if dbapi is None:
            dbapi = self._local.sqlite = self._open_sqlite()
        return dbapi, None

    def _open_sqlite(self) -> Any:
        """A new SQLite driver connection with our settings (closed by close())."""
        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        dbapi = self.dbapi_module.connect(*cargs, **{**cparams, "check_same_thread": False, "timeout": 30})
        self._sqlite_setup(dbapi)
        with self._opened_lock:
            self._opened.append(dbapi)
        return dbapi

    def plan(self, stmt: Any, params: Mapping[str, Any] | None) -> _Plan:
        """The compiled form of `stmt` for these parameter names (kept when the statement is reused)."""
        key = (id(stmt), tuple(params) if params else ())
        plan = self._plans.get(key)
        if plan is None:
            plan = _Plan(stmt, self.engine.dialect, key[1])
            if id(stmt) in self._reused:
                self._plans[key] = plan
        return plan

    def statement(self, key: str, build: Callable[[], Any]) -> Any:
        """A statement built once per store by `build` (use bind parameters for what varies)."""
        return self._keep((key,), build)

    def _keep(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Any:
        """The statement stored under `key`, built on first use; its compiled forms are cached."""
        stmt = self._stmts.get(key)
        if stmt is None:
            stmt = self._stmts[key] = build()
            self._reused[id(stmt)] = stmt
        return stmt

    def _cached(self, kind: str, table: str, expect: tuple[str, ...] = ()) -> Any:
        """A reusable statement by primary key (`_pk`), with equality conditions on `expect` columns (`_w_<col>`)."""
        def build() -> Any:
            tbl = self.t[table]
            if kind == "insert":
                return tbl.insert()
            pk = next(iter(tbl.primary_key.columns)) == sa.bindparam("_pk")
            conds = [tbl.c[col] == sa.bindparam(f"_w_{col}") for col in expect]
            return (sa.select(tbl) if kind == "select" else sa.update(tbl)).where(pk, *conds)

        return self._keep((kind, table, expect), build)

    def _run(self, stmt: Any, params: Mapping[str, Any] | None, conn: Tx | None, *, write: bool) -> Result:
        """Execute in the caller's transaction, or in a transaction of its own."""
        if conn is not None:
            return conn.execute(stmt, params)
        with self.tx() if write else self.read() as c:
            return c.execute(stmt, params)

    def get(self, table: str, key: Any, conn: Tx | None = None) -> dict[str, Any] | None:
        """The row whose primary key is `key`, as a dict."""
        return self._run(self._cached("select", table), {"_pk": key}, conn, write=False).first()

    def rows_by(self, table: str, column: str, value: Any, *, order_by: str,
                conn: Tx | None = None) -> list[dict[str, Any]]:
        """Every row whose `column` equals `value`, ordered by `order_by` (a cached statement)."""
        def build() -> Any:
            tbl = self.t[table]
            return sa.select(tbl).where(tbl.c[column] == sa.bindparam("_v")).order_by(tbl.c[order_by])

        stmt = self._keep(("by", table, column, order_by), build)
        return self._run(stmt, {"_v": value}, conn, write=False).all()

    def one(self, stmt: Any, conn: Tx | None = None) -> dict[str, Any] | None:
        """The first row of a select, as a dict."""
        return self._run(stmt, None, conn, write=False).first()

    def all(self, stmt: Any) -> list[dict[str, Any]]:
        """Every row of a select, as dicts."""
        return self._run(stmt, None, None, write=False).all()

    def insert(self, table: str, values: Mapping[str, Any], conn: Tx | None = None) -> None:
        """Insert one row (a duplicate key raises Conflict)."""
        self._run(self._cached("insert", table), values, conn, write=True)

    def update(self, table: str, key: Any, values: Mapping[str, Any], *, where: Any = None,
               expect: Mapping[str, Any] | None = None, conn: Tx | None = None) -> bool:
        """Compare-and-set update of one row by primary key; True when a row changed.

        `expect` ({column: value}) is the fast compare-and-set (a cached statement); `where` takes any
        SQL condition, and values may be SQL expressions, at the cost of compiling the statement each time.
        """
        if where is None and not any(isinstance(v, sa.ClauseElement) for v in values.values()):
            expect = expect or {}
            stmt = self._cached("update", table, tuple(expect))
            params = {**values, "_pk": key, **{f"_w_{col}": v for col, v in expect.items()}}
            return self._run(stmt, params, conn, write=True).rowcount == 1
        tbl = self.t[table]
        pk = next(iter(tbl.primary_key.columns))
        stmt = sa.update(tbl).where(pk == key, *[tbl.c[col] == v for col, v in (expect or {}).items()])
        if where is not None:
            stmt = stmt.where(where)
        return self._run(stmt.values(**values), None, conn, write=True).rowcount == 1

    def upsert(self, table: str, values: Mapping[str, Any], conn: Tx | None = None) -> None:
        """Insert or replace one row by primary key (portable: update, then insert if absent)."""
        tbl = self.t[table]
        pks = {c.name for c in tbl.primary_key.columns}
        rest = {k: v for k, v in values.items() if k not in pks}

        def run(c: Tx) -> None:
            if len(pks) != 1 or not self.update(table, values[next(iter(pks))], rest, conn=c):
                if len(pks) == 1:
                    self.insert(table, values, conn=c)
                else:
                    cond = sa.and_(*[tbl.c[name] == values[name] for name in pks])
                    if c.execute(sa.update(tbl).where(cond).values(**rest)).rowcount == 0:
                        self.insert(table, values, conn=c)

        if conn is not None:
            run(conn)
        else:
            with self.tx() as c:
                run(c)

    def claim_receipt(self, consumer: str, key: str, conn: Tx | None = None) -> bool:
        """Record that `consumer` handled `key`; False when it already had (consumer idempotency)."""
        row = {"consumer": consumer, "key": key, "created_at": time.time()}
        try:
            if conn is None:
                self.insert("receipts", row)
            else:
                with conn.begin_nested():
                    self.insert("receipts", row, conn=conn)
            return True
        except Conflict:
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
