"""Log output: plain text lines or JSON lines, set up by the program (never on import)."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import asyncio

LOG_FORMATS = ("plain", "json")
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "onvif-gateway"
# ",000" to ",999": a time's milliseconds as logging's default_msec_format writes them (a third
# of the cost of writing them so for every line)
MILLISECONDS = tuple(f",{n:03d}" for n in range(1000))


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


class PlainFormatter(logging.Formatter):
    """logging.Formatter's lines (PLAIN_FORMAT), the time of day worked out once a second
    rather than for every line (time.strftime is a third of a line's formatting), and a line
    without a traceback put together directly rather than by PLAIN_FORMAT's %-formatting of
    every attribute of the record (a tenth of a cached read's handling)."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)
        self._second: tuple[int, str] = (-1, "")  # one tuple: threads may log at once

    def format(self, record: logging.LogRecord) -> str:
        if record.exc_info or record.exc_text or record.stack_info:
            return super().format(record)
        record.message = record.getMessage()  # the attributes logging.Formatter.format sets
        record.asctime = self.formatTime(record)
        return f"{record.asctime} {record.levelname} {record.name}: {record.message}"

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if int(record.created) != second:
            second = int(record.created)
            text = time.strftime(self.default_time_format, self.converter(record.created))
            self._second = second, text
        return text + MILLISECONDS[int(record.msecs)]


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


class TurnBatchingHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A StreamHandler that writes the lines logged on an event loop together, once the loop's
    turn ends: one write for the requests a turn answered, rather than one (and a flush) each.
    A warning or worse, or a line logged off an event loop, is written at once, after what
    waits (the order stays). Waiting lines are written at exit too (logging.shutdown flushes
    every handler): only a process killed outright (SIGKILL) loses its last turn's lines."""

    def __init__(self) -> None:
        super().__init__()
        self._waiting: list[str] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None  # where a flush is scheduled

    def emit(self, record: logging.LogRecord) -> None:  # under the handler's lock
        try:
            self._waiting.append(self.format(record) + self.terminator)
            # asyncio as loaded, if it is: this module must not load it (--help does not), and
            # no event loop runs without it
            running = sys.modules.get("asyncio")
            try:
                loop = (running.get_running_loop()
                        if running is not None and record.levelno < logging.WARNING else None)
            except RuntimeError:  # no loop runs in this thread
                loop = None
            if loop is None:
                self.flush()
            elif self._flush_on is not loop:  # or it was scheduled on a loop that is gone
                self._flush_on = loop
                loop.call_soon(self.flush)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # a Handler's lock is made in __init__
            self._flush_on = None
            if self._waiting:
                text = "".join(self._waiting)
                self._waiting.clear()
                self.stream.write(text)
            if hasattr(self.stream, "flush"):
                self.stream.flush()


def configure_logging(verbose: bool = False, log_format: str = "plain") -> None:
    """Send logs to stderr as plain text or JSON lines. A later call replaces what an earlier one
    set up; logging set up by someone else (a test runner) is left alone, as basicConfig does."""
    root = logging.getLogger()
    ours = [handler for handler in root.handlers if handler.get_name() == HANDLER_NAME]
    if root.handlers and not ours:
        return
    for handler in ours:
        root.removeHandler(handler)
        handler.flush()
    handler = TurnBatchingHandler()
    handler.set_name(HANDLER_NAME)
    handler.addFilter(Redact())  # whichever logger a record comes from
    json_lines = log_format == "json"
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
