"""Log output: plain text lines or JSON lines, set up by the program (never on import)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "onvif-gateway"


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        # Structured data a log call passes as extra={"fields": {...}} (the request log does).
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update(fields)
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(verbose: bool = False, log_format: str = "plain") -> None:
    """Send logs to stderr as plain text or JSON lines. A later call replaces what an earlier one
    set up; logging set up by someone else (a test runner) is left alone, as basicConfig does."""
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if handler.get_name() == HANDLER_NAME]
    if root.handlers and not ours:
        return
    for handler in ours:
        root.removeHandler(handler)
    handler = logging.StreamHandler()
    handler.set_name(HANDLER_NAME)
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(PLAIN_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
