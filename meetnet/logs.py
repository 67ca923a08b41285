"""JSON log lines for log collectors: one object per record, identifiers as their own fields."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import orjson

# Fields that modules attach with `extra=` and that a log search should be able to filter on.
_FIELDS = ("dev_eui", "topic", "stage")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in _FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                doc[name] = value
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str).decode()


def use_json_logs() -> None:
    """Switch the root logger's handlers to JSON lines."""
    root = logging.getLogger()
    if not root.handlers:
        root.addHandler(logging.StreamHandler())
    for handler in root.handlers:
        handler.setFormatter(JsonFormatter())
