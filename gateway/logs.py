"""Log output: plain text lines or JSON lines, set up by the program (never on import)."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

LOG_FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "onvif-gateway"


# Credentials a log line may quote (aiohttp logs a malformed request's header line whole):
# an Authorization header's value, and any bearer/basic/digest credential.
SECRETS = re.compile(r"(?i)(authorization\s*[:=]\s*)[^\r\n']+|\b((?:bearer|basic|digest)\s+)"
                     r"[^\s'\",]+")
# The loggers that log what clients send (aiohttp's server logs bad requests whole).
REQUEST_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.internal",
                   "gateway")


def redact(text: str) -> str:
    """text with every credential it quotes replaced by <redacted>."""
    return SECRETS.sub(lambda m: (m.group(1) or m.group(2)) + "<redacted>", text)


# A record made with this attribute set to True holds no text that could carry a credential (the
# request log: a method, which HTTP makes a token without spaces or colons, a route's pattern, a
# device name and a request id checked already): Redact lets it pass unread, since its search is
# the dearest part of a log line.
CREDENTIAL_FREE = "credential_free"


class Redact(logging.Filter):
    """Redacts credentials in a record's message and exception text, in place."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, CREDENTIAL_FREE, False):
            return True
        message = record.getMessage()
        if (redacted := redact(message)) != message:
            record.msg, record.args = redacted, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
        return True


def redact_request_logs() -> None:
    """Redact credentials in whatever the request loggers log (idempotent)."""
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, Redact) for f in logger.filters):
            logger.addFilter(Redact())


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
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
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
    handler.addFilter(Redact())  # whichever logger a record comes from
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(PLAIN_FORMAT))
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
