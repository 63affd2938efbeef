"""The journal: what a simulator received, what it answered, which faults fired, every webhook attempt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .clock import parse_instant
from .errors import ConfigError
from .store import StateStore

MAX_BODY_CHARS = 8_192


@dataclass(frozen=True)
class JournalQuery:
    """Filters of GET /__sandbox/journal; every one optional, newest entries last."""

    operation: str | None = None
    status: int | None = None
    correlation_id: str | None = None
    since: str | None = None
    limit: int | None = None
    kind: str | None = None

    @classmethod
    def from_args(cls, args: dict[str, str]) -> JournalQuery:
        def as_int(name: str) -> int | None:
            raw = args.get(name)
            if raw in (None, ""):
                return None
            try:
                return int(raw)  # type: ignore[arg-type]
            except ValueError:
                raise ConfigError(f"must be an integer, got '{raw}'", field=name) from None

        kind = args.get("kind") or None
        if kind not in (None, "request", "webhook"):
            raise ConfigError(f"must be 'request' or 'webhook', got '{kind}'", field="kind")
        return cls(
            operation=args.get("operation") or None,
            status=as_int("status"),
            correlation_id=args.get("correlation_id") or None,
            since=args.get("since") or None,
            limit=as_int("limit"),
            kind=kind,
        )


def clip(value: Any) -> Any:
    """Keep big bodies from filling the journal: long text is cut and marked."""
    if isinstance(value, str) and len(value) > MAX_BODY_CHARS:
        return value[:MAX_BODY_CHARS] + f"... [{len(value) - MAX_BODY_CHARS} more characters]"
    return value


class Journal:
    """A view over the store's ring buffer with the control API's filters."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def record(self, entry: dict[str, Any]) -> int:
        return self.store.journal_append(entry)

    def query(self, q: JournalQuery) -> dict[str, Any]:
        entries = self.store.journal_entries()
        if q.since:
            if q.since.isdigit():
                after = int(q.since)
                entries = [e for e in entries if e["seq"] > after]
            else:
                at = parse_instant(q.since, field="since").timestamp()
                entries = [e for e in entries if e.get("ts", 0) >= at]
        if q.kind:
            entries = [e for e in entries if e.get("kind") == q.kind]
        if q.operation:
            entries = [e for e in entries if e.get("operation") == q.operation]
        if q.status is not None:
            entries = [e for e in entries if e.get("status") == q.status]
        if q.correlation_id:
            entries = [e for e in entries if e.get("correlation_id") == q.correlation_id]
        if q.limit is not None and q.limit >= 0:
            entries = entries[-q.limit :] if q.limit else []
        return {"entries": entries, **self.store.journal_stats()}

    def clear(self) -> None:
        self.store.journal_clear()
