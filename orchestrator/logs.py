"""Structured JSON logs, one object per line, carrying the correlation id."""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

from . import context

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object with the correlation id and any `extra=` fields."""

    def format(self, record: logging.LogRecord) -> str:
        """The JSON line."""
        doc: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "correlation_id": getattr(record, "correlation_id", None) or context.correlation_id(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED and key not in doc and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def setup(level: str = "INFO", stream: Any = None) -> None:
    """Send the `orchestrator` loggers to stderr as JSON lines."""
    logger = logging.getLogger("orchestrator")
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def get(name: str) -> logging.Logger:
    """A logger under the `orchestrator` namespace."""
    return logging.getLogger(f"orchestrator.{name}")
