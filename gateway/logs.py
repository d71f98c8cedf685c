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


# Credentials a log line may quote (aiohttp logs a malformed request's header line whole, and
# the bytes of a body it cannot frame, as b'...'): an Authorization header's value, any
# bearer/basic/digest credential, and the value of a JSON body's "password" or "sessionToken"
# (to the end of the line or of the b'...', over backslash escapes).
SECRETS = re.compile(r"(?i)(authorization\s*[:=]\s*)[^\r\n']+|\b((?:bearer|basic|digest)\s+)"
                     r"[^\s'\",]+|(\"(?:password|sessiontoken)\"\s*:\s*)(?:\\.|[^\r\n'\\])+")
# The loggers that log what clients send (aiohttp's server logs bad requests whole).
REQUEST_LOGGERS = ("aiohttp.server", "aiohttp.access", "aiohttp.web", "aiohttp.internal",
                   "gateway")


def redact(text: str) -> str:
    """text with every credential it quotes replaced by <redacted>."""
    return SECRETS.sub(lambda m: (m.group(1) or m.group(2) or m.group(3)) + "<redacted>", text)


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

    def line(self, created: float, levelname: str, name: str, message: str,
             fields: dict[str, Any]) -> str:
        """The line format() writes for a record of these, made at `created` (time.time()),
        without a traceback; its fields are not shown."""
        second, text = self._second
        if int(created) != second:
            text = self._second_of(created)
        # the milliseconds as LogRecord works them out
        return (f"{text}{MILLISECONDS[int((created - int(created)) * 1000)]} {levelname} {name}: "
                f"{message}")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        second, text = self._second
        if int(record.created) != second:
            text = self._second_of(record.created)
        return text + MILLISECONDS[int(record.msecs)]

    def _second_of(self, created: float) -> str:
        """The time of day without its milliseconds, as formatTime writes it, worked out for
        a new second (and kept for the rest of it)."""
        text = time.strftime(self.default_time_format, self.converter(created))
        self._second = int(created), text
        return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's `fields`."""

    def format(self, record: logging.LogRecord) -> str:
        # Structured data a log call passes as extra={"fields": {...}} (the request log does).
        fields = getattr(record, "fields", None)
        entry = self._entry(record.created, record.levelname, record.name, record.getMessage(),
                            fields if isinstance(fields, dict) else {})
        if record.exc_info:
            entry["exception"] = record.exc_text or self.formatException(record.exc_info)
        return json.dumps(entry, default=str)

    def line(self, created: float, levelname: str, name: str, message: str,
             fields: dict[str, Any]) -> str:
        """The line format() writes for a record of these, made at `created` (time.time()),
        without a traceback."""
        return json.dumps(self._entry(created, levelname, name, message, fields), default=str)

    @staticmethod
    def _entry(created: float, levelname: str, name: str, message: str,
               fields: dict[str, Any]) -> dict[str, Any]:
        return {"time": datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds"),
                "level": levelname, "logger": name, "message": message, **fields}


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
            self._add(self.format(record) + self.terminator, record.levelno)
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def emit_line(self, levelno: int, name: str, message: str, fields: dict[str, Any]) -> None:
        """What handle() does with a record of logger `name` at levelno, of this message and
        extra={"fields": fields}, without a traceback, made now: the same line, written as
        emit() writes it, without the record and logging's dispatch of it (a record, its
        filters and the handler's lock and format were a seventh of a cached read). Only for
        a record no filter would stop or change: see direct_handler()."""
        created = time.time()  # as LogRecord sets it
        try:
            line = self.formatter.line(  # type: ignore[union-attr]  # direct_handler's formatters
                created, logging.getLevelName(levelno), name, message, fields)
            with self.lock:  # type: ignore[union-attr]  # a Handler's lock is made in __init__
                self._add(line + self.terminator, levelno)
        except RecursionError:
            raise
        except Exception:
            self.handleError(logging.makeLogRecord({
                "name": name, "levelno": levelno, "levelname": logging.getLevelName(levelno),
                "msg": message, "created": created, "fields": fields}))

    def _add(self, line: str, levelno: int) -> None:  # under the handler's lock
        self._waiting.append(line)
        # asyncio as loaded, if it is: this module must not load it (--help does not), and
        # no event loop runs without it
        running = sys.modules.get("asyncio")
        try:
            loop = (running.get_running_loop()
                    if running is not None and levelno < logging.WARNING else None)
        except RuntimeError:  # no loop runs in this thread
            loop = None
        if loop is None:
            self.flush()
        elif self._flush_on is not loop:  # or it was scheduled on a loop that is gone
            self._flush_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # a Handler's lock is made in __init__
            self._flush_on = None
            if self._waiting:
                text = "".join(self._waiting)
                self._waiting.clear()
                self.stream.write(text)
            if hasattr(self.stream, "flush"):
                self.stream.flush()


def direct_handler(logger: logging.Logger, level: int) -> TurnBatchingHandler | None:
    """The gateway's handler, if a record of `logger` at `level` that holds no credential (see
    CREDENTIAL_FREE), the logger enabled for its level, would go to it alone and be written
    by it unchanged: the logger not disabled, and on the way up to the root (or to a logger
    that does not propagate) one handler only, a TurnBatchingHandler (no subclass) of `level`
    or lower with this module's formatter; no filters on the logger or the handler but Redact,
    which lets such a record pass unread. Its line can then be written with emit_line().
    Else None: the record must go through logging (a handler, filter or formatter someone
    added is to see it)."""
    # (loops and no generators: this is asked for every request)
    if logger.disabled or not _passes_unread(logger.filters):
        return None
    found = None
    current: logging.Logger | None = logger
    while current is not None:
        if handlers := current.handlers:
            if found is not None or len(handlers) > 1:
                return None
            found = handlers[0]
        current = current.parent if current.propagate else None
    if (type(found) is not TurnBatchingHandler or level < found.level
            or type(found.formatter) not in (PlainFormatter, JsonFormatter)
            or not _passes_unread(found.filters)):
        return None
    return found


def _passes_unread(filters: list[Any]) -> bool:
    """Whether these filters let a credential-free record pass unchanged: Redact only."""
    for each in filters:  # noqa: SIM110 (all() of a generator costs more, every request)
        if type(each) is not Redact:
            return False
    return True


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
