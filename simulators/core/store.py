"""The state-store interface: everything a simulator remembers, the same for every worker.

Provider state, idempotency keys, fault rules, counters, the clock and the journal all live here, so a
simulator served by several worker processes gives one view. Values are JSON: what goes in is copied,
what comes out is the caller's to change (memory and SQLite behave alike).

Backends: `MemoryStore` (one worker), `SQLiteStore` (several workers on one host, a file under
.sandbox/). Redis can be added behind the same interface without touching behaviours.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

DEFAULT_JOURNAL_CAPACITY = 10_000


def _dump(value: Any) -> bytes:
    return orjson.dumps(value)


def _load(raw: bytes | None) -> Any:
    return None if raw is None else orjson.loads(raw)


class StateStore(ABC):
    """Namespaced JSON key-value store with counters, change versions, transactions and a journal."""

    journal_capacity: int

    @abstractmethod
    def get(self, ns: str, key: str) -> Any | None: ...

    @abstractmethod
    def put(self, ns: str, key: str, value: Any) -> None: ...

    @abstractmethod
    def put_if_absent(self, ns: str, key: str, value: Any) -> bool:
        """Store value unless the key exists; True when stored (an atomic claim)."""

    @abstractmethod
    def delete(self, ns: str, key: str) -> bool: ...

    @abstractmethod
    def items(self, ns: str) -> list[tuple[str, Any]]:
        """Every (key, value) of a namespace, in insertion order."""

    @abstractmethod
    def clear(self, ns: str | None = None) -> None:
        """Forget one namespace, or everything but the journal when ns is None."""

    @abstractmethod
    def incr(self, ns: str, key: str, by: int = 1) -> int:
        """Add to a counter atomically and return the new value."""

    @abstractmethod
    def version(self, ns: str) -> int:
        """A number that changes whenever anything in ns changes (for per-worker caches)."""

    @abstractmethod
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Serialize a read-modify-write across threads, greenlets and worker processes."""
        yield

    # The journal: a bounded ring buffer, newest last.
    @abstractmethod
    def journal_append(self, entry: dict[str, Any]) -> int:
        """Append an entry; returns its sequence number (also stored as entry['seq'])."""

    @abstractmethod
    def journal_update(self, seq: int, changes: dict[str, Any]) -> None:
        """Merge changes into an entry still in the buffer (e.g. a webhook attempt's outcome)."""

    @abstractmethod
    def journal_entries(self) -> list[dict[str, Any]]:
        """Every entry still in the buffer, oldest first."""

    @abstractmethod
    def journal_stats(self) -> dict[str, int]:
        """{'size', 'capacity', 'evicted'}: evicted counts entries pushed out since the last clear."""

    @abstractmethod
    def journal_clear(self) -> None: ...

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections."""

    @contextmanager
    def request_scope(self) -> Iterator[None]:
        """One request's view: backends that pay per read may answer version() from one snapshot."""
        yield


class MemoryStore(StateStore):
    """Process memory: the default for one worker."""

    def __init__(self, journal_capacity: int = DEFAULT_JOURNAL_CAPACITY) -> None:
        self.journal_capacity = journal_capacity
        self._data: dict[str, dict[str, bytes]] = {}
        self._versions: dict[str, int] = {}
        self._lock = threading.RLock()
        self._journal: deque[dict[str, Any]] = deque(maxlen=journal_capacity)
        self._seq = 0
        self._evicted = 0

    def _touch(self, ns: str) -> None:
        self._versions[ns] = self._versions.get(ns, 0) + 1

    def get(self, ns: str, key: str) -> Any | None:
        return _load(self._data.get(ns, {}).get(key))

    def put(self, ns: str, key: str, value: Any) -> None:
        with self._lock:
            self._data.setdefault(ns, {})[key] = _dump(value)
            self._touch(ns)

    def put_if_absent(self, ns: str, key: str, value: Any) -> bool:
        with self._lock:
            space = self._data.setdefault(ns, {})
            if key in space:
                return False
            space[key] = _dump(value)
            self._touch(ns)
            return True

    def delete(self, ns: str, key: str) -> bool:
        with self._lock:
            found = self._data.get(ns, {}).pop(key, None) is not None
            if found:
                self._touch(ns)
            return found

    def items(self, ns: str) -> list[tuple[str, Any]]:
        with self._lock:
            return [(k, _load(v)) for k, v in self._data.get(ns, {}).items()]

    def clear(self, ns: str | None = None) -> None:
        with self._lock:
            names = [ns] if ns is not None else list(self._data)
            for name in names:
                self._data.pop(name, None)
                self._touch(name)

    def incr(self, ns: str, key: str, by: int = 1) -> int:
        with self._lock:
            value = int(self.get(ns, key) or 0) + by
            self.put(ns, key, value)
            return value

    def version(self, ns: str) -> int:
        return self._versions.get(ns, 0)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            yield

    def journal_append(self, entry: dict[str, Any]) -> int:
        with self._lock:
            self._seq += 1
            entry["seq"] = self._seq
            if len(self._journal) == self._journal.maxlen:
                self._evicted += 1
            self._journal.append(entry)
            return self._seq

    def journal_update(self, seq: int, changes: dict[str, Any]) -> None:
        with self._lock:
            for entry in reversed(self._journal):
                if entry["seq"] == seq:
                    entry.update(changes)
                    return

    def journal_entries(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._journal)

    def journal_stats(self) -> dict[str, int]:
        return {"size": len(self._journal), "capacity": self.journal_capacity, "evicted": self._evicted}

    def journal_clear(self) -> None:
        with self._lock:
            self._journal.clear()
            self._evicted = 0


class SQLiteStore(StateStore):
    """A SQLite file shared by the worker processes of one simulator on one host (WAL mode)."""

    _SCHEMA = """
    CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                                   PRIMARY KEY (ns, key));
    CREATE TABLE IF NOT EXISTS versions (ns TEXT PRIMARY KEY, v INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, entry BLOB NOT NULL);
    CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    """

    def __init__(self, path: str, journal_capacity: int = DEFAULT_JOURNAL_CAPACITY) -> None:
        self.path, self.journal_capacity = path, journal_capacity
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self._lock = threading.RLock()
        self._depth = 0
        self._pid = -1
        self._db: sqlite3.Connection | None = None
        self._local = threading.local()  # greenlet-local under gevent: one request's version snapshot
        self._conn()

    def _conn(self) -> sqlite3.Connection:
        # A fresh connection after fork: SQLite connections must not cross processes.
        if self._db is None or self._pid != os.getpid():
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("PRAGMA busy_timeout=30000")
            db.executescript(self._SCHEMA)
            self._db, self._pid = db, os.getpid()
        return self._db

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self._lock:
            db = self._conn()
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield
            except BaseException:
                db.execute("ROLLBACK")
                raise
            else:
                db.execute("COMMIT")
            finally:
                self._depth = 0

    def _touch(self, ns: str) -> None:
        self._local.versions = None  # this request changed something: read versions afresh
        self._conn().execute(
            "INSERT INTO versions(ns, v) VALUES (?, 1) ON CONFLICT(ns) DO UPDATE SET v = v + 1", (ns,)
        )

    @contextmanager
    def request_scope(self) -> Iterator[None]:
        """Read every namespace's version once per request instead of once per version() call."""
        with self._lock:
            self._local.versions = dict(self._conn().execute("SELECT ns, v FROM versions").fetchall())
        try:
            yield
        finally:
            self._local.versions = None

    def get(self, ns: str, key: str) -> Any | None:
        with self._lock:
            row = self._conn().execute("SELECT value FROM kv WHERE ns=? AND key=?", (ns, key)).fetchone()
        return _load(row[0]) if row else None

    def put(self, ns: str, key: str, value: Any) -> None:
        with self.transaction():
            self._conn().execute(
                "INSERT INTO kv(ns, key, value) VALUES (?, ?, ?) "
                "ON CONFLICT(ns, key) DO UPDATE SET value = excluded.value",
                (ns, key, _dump(value)),
            )
            self._touch(ns)

    def put_if_absent(self, ns: str, key: str, value: Any) -> bool:
        with self.transaction():
            cur = self._conn().execute(
                "INSERT OR IGNORE INTO kv(ns, key, value) VALUES (?, ?, ?)", (ns, key, _dump(value))
            )
            if cur.rowcount:
                self._touch(ns)
            return bool(cur.rowcount)

    def delete(self, ns: str, key: str) -> bool:
        with self.transaction():
            cur = self._conn().execute("DELETE FROM kv WHERE ns=? AND key=?", (ns, key))
            if cur.rowcount:
                self._touch(ns)
            return bool(cur.rowcount)

    def items(self, ns: str) -> list[tuple[str, Any]]:
        with self._lock:
            rows = self._conn().execute("SELECT key, value FROM kv WHERE ns=? ORDER BY rowid", (ns,)).fetchall()
        return [(k, _load(v)) for k, v in rows]

    def clear(self, ns: str | None = None) -> None:
        with self.transaction():
            db = self._conn()
            names = [ns] if ns is not None else [r[0] for r in db.execute("SELECT DISTINCT ns FROM kv")]
            for name in names:
                db.execute("DELETE FROM kv WHERE ns=?", (name,))
                self._touch(name)

    def incr(self, ns: str, key: str, by: int = 1) -> int:
        with self.transaction():
            value = int(self.get(ns, key) or 0) + by
            self.put(ns, key, value)
            return value

    def version(self, ns: str) -> int:
        snapshot = getattr(self._local, "versions", None)
        if snapshot is not None:
            return int(snapshot.get(ns, 0))
        with self._lock:
            row = self._conn().execute("SELECT v FROM versions WHERE ns=?", (ns,)).fetchone()
        return int(row[0]) if row else 0

    def _meta(self, name: str) -> int:
        row = self._conn().execute("SELECT value FROM meta WHERE name=?", (name,)).fetchone()
        return int(row[0]) if row else 0

    def journal_append(self, entry: dict[str, Any]) -> int:
        with self._lock:  # one INSERT is its own transaction: no BEGIN/COMMIT round trips
            db = self._conn()
            seq = db.execute("INSERT INTO journal(entry) VALUES (?)", (_dump(entry),)).lastrowid
            assert seq is not None
            entry["seq"] = seq  # stored without it: the row id is the sequence number
            if seq % 64 == 0 and seq > self.journal_capacity:
                db.execute("DELETE FROM journal WHERE seq <= ?", (seq - self.journal_capacity,))
            return int(seq)

    def journal_update(self, seq: int, changes: dict[str, Any]) -> None:
        with self.transaction():
            row = self._conn().execute("SELECT entry FROM journal WHERE seq=?", (seq,)).fetchone()
            if row:
                entry = _load(row[0])
                entry.update(changes)
                entry.pop("seq", None)
                self._conn().execute("UPDATE journal SET entry=? WHERE seq=?", (_dump(entry), seq))

    def _journal_window(self) -> tuple[int, int]:
        """(first seq kept, last seq) after applying the capacity."""
        db = self._conn()
        last = db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]
        first = max(self._meta("journal_base") + 1, last - self.journal_capacity + 1)
        return first, last

    def journal_entries(self) -> list[dict[str, Any]]:
        with self._lock:
            first, _ = self._journal_window()
            rows = self._conn().execute("SELECT seq, entry FROM journal WHERE seq >= ? ORDER BY seq", (first,)).fetchall()
        return [{**_load(entry), "seq": seq} for seq, entry in rows]

    def journal_stats(self) -> dict[str, int]:
        with self._lock:
            first, last = self._journal_window()
            base = self._meta("journal_base")
        size = max(0, last - first + 1)
        return {"size": size, "capacity": self.journal_capacity, "evicted": max(0, first - base - 1)}

    def journal_clear(self) -> None:
        with self.transaction():
            db = self._conn()
            last = db.execute("SELECT COALESCE(MAX(seq), 0) FROM journal").fetchone()[0]
            db.execute("DELETE FROM journal")
            db.execute(
                "INSERT INTO meta(name, value) VALUES ('journal_base', ?) "
                "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
                (last,),
            )

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


def open_store(url: str | None, journal_capacity: int = DEFAULT_JOURNAL_CAPACITY) -> StateStore:
    """'memory' (default) or 'sqlite:///path/to/file.db'."""
    if not url or url == "memory":
        return MemoryStore(journal_capacity)
    if url.startswith("sqlite:///"):
        return SQLiteStore(url[len("sqlite:///") :], journal_capacity)
    from .errors import ConfigError

    raise ConfigError(f"unknown store '{url}'; use 'memory' or 'sqlite:///PATH'", field="store")
