"""Watching the gateway: /healthz, /readyz, /metrics, request ids, the request log, its settings."""

from __future__ import annotations

import asyncio
import io
import ipaddress
import json
import logging
import os
import re
import signal
import sys
import threading
import time
import weakref
from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.config import parse_config
from gateway.errors import ConfigError
from gateway.keys import METRICS, STORE
from gateway.logs import (
    PLAIN_FORMAT,
    JsonFormatter,
    PlainFormatter,
    Redact,
    TurnBatchingHandler,
    direct_handler,
)
from gateway.metrics import Metrics, soap_outcome
from gateway.simulator import SENDER, SoapFault
from gateway.web.observe import (
    ACCESS_LINE,
    FRESH_IDS,
    _access_record,
    access_log,
    request_id,
)
from tests.conftest import bearer, login
from tests.processes import port_of

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


async def scrape(client, token=None):
    response = await client.get("/metrics", headers=bearer(token) if token else {})
    assert response.status == 200, await response.text()
    assert response.content_type == "text/plain"
    text = await response.text()
    return text, {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
                  for family in text_string_to_metric_families(text)
                  for sample in family.samples}


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- health ---------------------------------------------------------------------------------

async def test_healthz_and_readyz_need_no_token(gateway):
    response = await gateway.get("/healthz")
    assert (response.status, await response.json()) == (200, {"status": "ok"})
    response = await gateway.get("/readyz")
    assert response.status == 200
    assert await response.json() == {"status": "ready", "checks": {
        "wsdls": "ok", "mappings": "ok", "devices": "ok", "store": "ok"}}


async def test_readyz_is_a_503_problem_when_the_policy_store_is_closed(gateway):
    await gateway.app[STORE].close()
    response = await gateway.get("/readyz")
    assert response.status == 503
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert problem["checks"]["store"] == "failing"
    assert problem["checks"]["wsdls"] == "ok"
    assert "store" in problem["detail"]
    assert (await gateway.get("/healthz")).status == 200  # alive all the same
    await gateway.app[STORE].open()  # for the cleanup


# --- request ids ----------------------------------------------------------------------------

@pytest.mark.parametrize(("sent", "kept"), [
    ("abc-123_X.y", True), ("a" * 64, True), ("a" * 65, False), ("", False),
    ("two words", False), ("x\u00e9", False), ("a/b", False), (None, False)])
def test_a_sent_request_id_is_kept_only_if_sane(sent, kept):
    chosen = request_id(sent)
    assert (chosen == sent) == kept
    if not kept:
        assert GENERATED_ID.fullmatch(chosen)


def test_new_request_ids_are_random_and_a_forked_process_makes_its_own():
    made = [request_id(None) for _ in range(3 * FRESH_IDS)]  # several reads of random bytes
    assert all(GENERATED_ID.fullmatch(rid) for rid in made)
    assert len(set(made)) == len(made)
    request_id(None)  # bytes read for more ids than this one
    read, write = os.pipe()
    child = os.fork()
    if child == 0:  # the child: its next id, to the parent
        os.write(write, request_id(None).encode())
        os._exit(0)
    os.close(write)
    os.waitpid(child, 0)
    theirs = os.read(read, 64).decode()
    os.close(read)
    assert GENERATED_ID.fullmatch(theirs)
    assert theirs != request_id(None)  # the parent's next, from the bytes both had


async def test_every_answer_has_the_request_id_and_problems_carry_it(gateway):
    response = await gateway.get("/healthz", headers={"X-Request-ID": "trace-1"})
    assert response.headers["X-Request-ID"] == "trace-1"
    response = await gateway.get("/healthz", headers={"X-Request-ID": "bad id!"})
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])
    for method, path in [("GET", "/sources/video"), ("GET", "/no/such/path"),
                         ("DELETE", "/sources/video"), ("PUT", "/login")]:
        response = await gateway.request(method, path, headers={"X-Request-ID": "req-7"})
        assert response.status >= 400
        assert response.headers["X-Request-ID"] == "req-7"
        assert (await response.json())["request_id"] == "req-7"
    response = await gateway.get("/docs/swagger-ui.css")  # a file answer has it too
    assert GENERATED_ID.fullmatch(response.headers["X-Request-ID"])


# --- metrics --------------------------------------------------------------------------------

async def test_metrics_need_a_token(gateway):
    response = await gateway.get("/metrics")
    assert response.status == 401
    assert response.content_type == "application/problem+json"
    assert "metrics_allow" in (await response.json())["detail"]
    response = await gateway.get("/metrics", headers=bearer("not-a-token"))
    assert response.status == 401


async def test_metrics_count_requests_by_route_and_status(gateway):
    token = await login(gateway, "admin", "admin")
    auth = bearer(token)
    assert (await gateway.get("/device-information", headers=auth)).status == 200
    assert (await gateway.get("/devices/cam/device-information", headers=auth)).status == 200
    assert (await gateway.get("/sources/video")).status == 401
    assert (await gateway.get("/no/such/thing?token=secret")).status == 404
    text, samples = await scrape(gateway, token)
    requests = "gateway_http_requests_total"
    assert value(samples, requests, method="GET", route="/device-information", status="200") == 1
    assert value(samples, requests, method="GET", route="/devices/{device_id}/device-information",
                 status="200") == 1
    assert value(samples, requests, method="GET", route="/sources/video", status="401") == 1
    assert value(samples, requests, method="GET", route="<unmatched>", status="404") == 1
    assert value(samples, requests, method="PUT", route="/login", status="200") == 1
    assert value(samples, "gateway_http_request_duration_seconds_count", method="GET",
                 route="/device-information") == 1
    assert "no/such" not in text  # never a raw URL
    assert "secret" not in text
    assert token not in text  # no credentials
    assert "admin" not in text
    assert value(samples, "gateway_sessions_active") == 1


def test_request_metrics_show_as_prometheus_client_s_own():
    """The request counts kept in plain numbers expose the same samples as a Counter and a
    Histogram of prometheus_client given the same requests (their _created times aside)."""
    registry = CollectorRegistry()
    counter = Counter("gateway_http_requests", "HTTP requests answered, by route and status",
                      ["method", "route", "status"], registry=registry)
    histogram = Histogram("gateway_http_request_duration_seconds",
                          "Time to answer an HTTP request", ["method", "route"],
                          registry=registry)
    metrics = Metrics()
    for method, route, status, seconds in [
            ("GET", "/x", 200, 0.003), ("GET", "/x", 200, 0.005), ("GET", "/x", 404, 0.2),
            ("PUT", "/y", 204, 12.0), ("GET", "/x", 200, 0.0051), ("GET", "/x", 200, 0.0)]:
        counter.labels(method, route, str(status)).inc()
        histogram.labels(method, route).observe(seconds)
        metrics.request(method, route, status, seconds)

    def samples(text):
        return sorted((sample.name, tuple(sorted(sample.labels.items())),
                       0 if sample.name.endswith("_created") else sample.value)
                      for family in text_string_to_metric_families(text)
                      for sample in family.samples if "_http_request" in sample.name)

    ours = samples(metrics.render(0)[0].decode())
    assert ours == samples(generate_latest(registry).decode())
    assert ("gateway_http_request_duration_seconds_bucket",
            (("le", "0.005"), ("method", "GET"), ("route", "/x")), 3.0) in ours


async def test_metrics_count_soap_calls_by_outcome(start_device, start_gateway):
    _, url = await start_device(
        faults={"GetDiscoveryMode": SoapFault(SENDER, ("InvalidArgVal",), "no")})
    client = await start_gateway(url)
    token = await login(client, "admin", "admin")
    assert (await client.put("/login", json={"username": "admin", "password": "nope"})
            ).status == 401
    assert (await client.get("/discovery", headers=bearer(token))).status == 400
    _, samples = await scrape(client, token)
    calls = "gateway_soap_calls_total"
    assert value(samples, calls, device="cam", service="device",
                 operation="GetDeviceInformation", outcome="ok") == 1
    # the wrong password, and the first login's check (without credentials) that the device
    # enforces authentication
    assert value(samples, calls, device="cam", service="device",
                 operation="GetDeviceInformation", outcome="fault:NotAuthorized") == 2
    assert value(samples, calls, device="cam", service="device", operation="GetDiscoveryMode",
                 outcome="fault:InvalidArgVal") == 1
    assert value(samples, calls, device="cam", service="device",
                 operation="GetSystemDateAndTime", outcome="ok") >= 1
    assert value(samples, "gateway_soap_call_duration_seconds_count", device="cam",
                 service="device", operation="GetDiscoveryMode") == 1
    assert value(samples, "gateway_logins_failed_total", device="cam", reason="refused") == 1


async def test_a_slow_device_is_a_timeout_outcome(start_device, start_gateway):
    device, url = await start_device()
    client = await start_gateway(url, device_timeout=0.3)
    token = await login(client)
    device.latency = 1.0
    assert (await client.get("/device-information", headers=bearer(token))).status == 504
    device.latency = 0
    _, samples = await scrape(client, token)
    assert value(samples, "gateway_soap_calls_total", device="cam", service="device",
                 operation="GetDeviceInformation", outcome="timeout") == 1


async def test_locked_out_logins_are_counted(start_device, start_gateway):
    _, url = await start_device()
    client = await start_gateway(url, login_max_failures=1)
    wrong = {"username": "admin", "password": "wrong"}
    assert (await client.put("/login", json=wrong)).status == 401
    assert (await client.put("/devices/cam/login", json=wrong)).status == 429
    metrics = client.app[METRICS].render(0)[0].decode()
    assert 'gateway_logins_failed_total{device="cam",reason="refused"} 1.0' in metrics
    assert 'gateway_logins_failed_total{device="cam",reason="locked_out"} 1.0' in metrics


@pytest.mark.parametrize(("allow", "status"), [("127.0.0.0/8", 200), ("10.0.0.0/8", 401)])
async def test_metrics_allow_lets_a_scraper_in_without_a_token(start_device, start_gateway,
                                                               allow, status):
    _, url = await start_device()
    client = await start_gateway(url, metrics_allow=(ipaddress.ip_network(allow),))
    assert (await client.get("/metrics")).status == status


def test_every_app_has_a_registry_of_its_own():
    first, second = Metrics(), Metrics()  # the global registry would refuse the second
    first.request("GET", "/x", 200, 0.1)
    assert b'route="/x"' in first.render(0)[0]
    assert b'route="/x"' not in second.render(0)[0]


def test_soap_outcomes_are_few_and_fixed():
    from gateway.errors import DeviceBadReply, DeviceFault, DeviceTimeout, DeviceUnreachable
    assert soap_outcome(None) == "ok"
    assert soap_outcome(DeviceFault("x", "cam", "Sender", ["InvalidArgVal", "NoProfile"])
                        ) == "fault:NoProfile"
    # a subcode the gateway does not know never becomes a label of its own
    assert soap_outcome(DeviceFault("x", "cam", "Receiver", ["Whatever123"])) == "fault:Receiver"
    assert soap_outcome(DeviceFault("x", "cam", "ns:junk", [])) == "fault"
    assert soap_outcome(DeviceTimeout("x", "cam")) == "timeout"
    assert soap_outcome(DeviceUnreachable("x", "cam")) == "unreachable"
    assert soap_outcome(DeviceBadReply("x", "cam")) == "bad_reply"
    assert soap_outcome(ValueError("bug")) == "error"


# --- the request log ------------------------------------------------------------------------

async def test_one_log_line_per_request(gateway, caplog):
    token = await login(gateway)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        await gateway.get("/devices/cam/sources/video", headers={
            **bearer(token), "X-Request-ID": "r-1"})
        await gateway.get("/nowhere", headers={"X-Request-ID": "r-2"})
    records = [r for r in caplog.records if r.name == "gateway.access"]
    assert len(records) == 2
    line = records[0].getMessage()
    assert re.fullmatch(r"GET /devices/\{device_id\}/sources/video 200 \d+\.\d ms device=cam "
                        r"request_id=r-1", line), line
    assert records[0].fields["duration_ms"] >= 0
    assert records[1].getMessage().startswith("GET <unmatched> 404 ")
    assert records[1].fields["device"] is None
    assert token not in caplog.text


async def test_a_device_is_logged_by_name_only_if_it_could_be_one(gateway, caplog):
    token = await login(gateway)
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        for name in ("cam", "nosuch", "bad%0Aname", "x" * 65, "cam"):  # asked twice: kept
            await gateway.get(f"/devices/{name}/device-information", headers=bearer(token))
    devices = [r.fields["device"] for r in caplog.records if r.name == "gateway.access"]
    assert devices == ["cam", "nosuch", "<invalid>", "<invalid>", "cam"]


async def test_json_log_lines(gateway, caplog):
    with caplog.at_level(logging.INFO, logger="gateway.access"):
        await gateway.get("/device-information", headers={"X-Request-ID": "j-1"})
    record = next(r for r in caplog.records if r.name == "gateway.access")
    entry = json.loads(JsonFormatter().format(record))
    assert entry | {"time": "t", "duration_ms": 0} == {
        "time": "t", "level": "INFO", "logger": "gateway.access",
        "message": entry["message"], "method": "GET", "route": "/device-information",
        "status": 401, "duration_ms": 0, "device": "cam", "request_id": "j-1"}


def test_a_request_record_is_what_make_record_makes():
    args = ("GET", "/device-information", 200, 1.5, "cam", "r-1")
    made = access_log.makeRecord(access_log.name, logging.INFO, "x", 0, ACCESS_LINE, args, None,
                                 extra={"fields": {"status": 200}})
    ours = _access_record(logging.INFO, args, {"status": 200})
    assert ours.getMessage() == made.getMessage() == "GET /device-information 200 1.5 ms " \
        "device=cam request_id=r-1"
    assert set(vars(ours)) == set(vars(made)) | {"credential_free"}
    same = ("name", "levelno", "levelname", "msg", "args", "fields", "thread", "threadName",
            "process", "processName", "exc_info", "stack_info")
    assert [getattr(ours, name) for name in same] == [getattr(made, name) for name in same]
    assert ours.created >= made.created
    assert ours.msecs == int(ours.created % 1 * 1000)
    assert ours.relativeCreated - made.relativeCreated == pytest.approx(
        (ours.created - made.created) * 1000, abs=1)
    # a record of a thread of its own says so
    other: list[logging.LogRecord] = []
    thread = threading.Thread(target=lambda: other.append(_access_record(logging.INFO, args, {})))
    thread.start()
    thread.join()
    assert other[0].thread == thread.ident
    assert other[0].threadName == thread.name


@pytest.mark.parametrize("created", [1_700_000_000.0, 1_700_000_000.0423, 1_700_000_000.9996,
                                     1_700_000_001.0004])
def test_plain_lines_are_logging_s_own(created):
    record = logging.makeLogRecord({"msg": "hello %s", "args": ("there",), "name": "gateway.x",
                                    "levelname": "INFO", "levelno": logging.INFO})
    record.created, record.msecs = created, int(created % 1 * 1000) + 0.0
    ours = PlainFormatter()
    before = ours.format(logging.makeLogRecord({**vars(record), "created": created - 1}))
    assert ours.format(record) == logging.Formatter(PLAIN_FORMAT).format(record)  # a new second
    assert ours.format(record) == logging.Formatter(PLAIN_FORMAT).format(record)  # a kept one
    assert before != ours.format(record)


def test_plain_lines_with_a_traceback_or_stack_are_logging_s_own():
    try:
        raise ValueError("boom")
    except ValueError:
        exc_info = sys.exc_info()
    for extra in ({"exc_info": exc_info}, {"stack_info": "Stack (most recent call last):\n  x"},
                  {"exc_text": "Traceback: kept"}, {}):
        record = logging.makeLogRecord({"msg": "failed %d", "args": (3,), "name": "gateway.y",
                                        "levelname": "ERROR", "levelno": logging.ERROR,
                                        **extra})
        expected = logging.Formatter(PLAIN_FORMAT).format(logging.makeLogRecord(vars(record)))
        assert PlainFormatter().format(record) == expected
        assert ("boom" in expected) == ("exc_info" in extra)


@pytest.fixture
def batched():
    """A logger whose lines go through a TurnBatchingHandler to a StringIO: (logger, stream)."""
    stream = io.StringIO()
    handler = TurnBatchingHandler()
    handler.setStream(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tests.batched")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, stream
    logger.removeHandler(handler)


async def test_lines_logged_on_a_loop_are_written_together_when_its_turn_ends(batched):
    logger, stream = batched
    logger.info("one")
    logger.info("two")
    assert stream.getvalue() == ""  # this turn of the loop is not over
    await asyncio.sleep(0)
    assert stream.getvalue() == "one\ntwo\n"
    logger.info("three")
    logger.warning("four")  # at once, after what waited
    assert stream.getvalue() == "one\ntwo\nthree\nfour\n"
    logger.info("five")
    logging.shutdown([weakref.ref(logger.handlers[0])])  # what happens at exit
    assert stream.getvalue().endswith("four\nfive\n")


def test_lines_logged_off_a_loop_are_written_at_once(batched):
    logger, stream = batched
    logger.info("one")
    assert stream.getvalue() == "one\n"
    thread = threading.Thread(target=logger.info, args=("two",))
    thread.start()
    thread.join()
    assert stream.getvalue() == "one\ntwo\n"


def test_the_log_format_and_metrics_allow_are_settings():
    config = parse_config("[gateway]\nlog_format = json\n"
                          "metrics_allow = 127.0.0.1, 10.0.0.0/8, ::1\n"
                          "[device:cam]\nurl = http://127.0.0.1:8000/x\n", base_dir=Path("."))
    assert config.log_format == "json"
    assert [str(n) for n in config.metrics_allow] == ["127.0.0.1/32", "10.0.0.0/8", "::1/128"]
    default = parse_config("[device:cam]\nurl = http://127.0.0.1:8000/x\n", base_dir=Path("."))
    assert (default.log_format, default.metrics_allow) == ("plain", ())


@pytest.mark.parametrize(("line", "named"), [
    ("log_format = yaml", "log_format = 'yaml': must be one of plain, json"),
    ("metrics_allow = 10.0.0.0/33", "'10.0.0.0/33' is not an IP address or network"),
    ("metrics_allow = 127.0.0.1, localhost", "'localhost' is not an IP address or network"),
    ("metrics_allow = 10.0.0.1/8", "'10.0.0.1/8' is not an IP address or network"),
])
def test_bad_settings_are_named(line, named):
    with pytest.raises(ConfigError, match=re.escape(named)):
        parse_config(f"[gateway]\n{line}\n[device:cam]\nurl = http://127.0.0.1:8000/x\n",
                     base_dir=Path("."))


async def next_json_line(stream, where):
    """The next log line (every one must be JSON) for which where(line) holds."""
    while True:
        raw = await asyncio.wait_for(stream.readline(), timeout=60)
        assert raw, "the gateway exited"
        line = json.loads(raw)
        if where(line):
            return line


async def test_serve_logs_json_lines_and_lets_the_scraper_in(start_device, tmp_path):
    _, url = await start_device()
    ini = tmp_path / "gateway.ini"
    ini.write_text(f"[gateway]\nport = 0\nlog_format = json\nmetrics_allow = 127.0.0.1\n"
                   f"[device:cam]\nurl = {url}\n")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway", "serve", "-c", str(ini),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    assert process.stdout is not None
    try:
        serving = await next_json_line(process.stdout,
                                       lambda line: "serving on" in line["message"])
        async with aiohttp.ClientSession() as http:
            base = f"http://127.0.0.1:{port_of(serving['message'], 'gateway serving on')}"
            async with http.get(f"{base}/metrics", headers={"X-Request-ID": "scrape-1"}) as r:
                assert r.status == 200  # no token: 127.0.0.1 is allowed
        line = await next_json_line(process.stdout,
                                    lambda line: line["logger"] == "gateway.access")
        assert (line["route"], line["status"], line["request_id"]) == ("/metrics", 200,
                                                                         "scrape-1")
    finally:
        process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.wait(), timeout=30)


# --- the request log line written straight to the gateway's handler -------------------------

def _handler(formatter: logging.Formatter) -> TurnBatchingHandler:
    """The gateway's handler (as configure_logging makes it) writing to a StringIO."""
    handler = TurnBatchingHandler()
    handler.setStream(io.StringIO())
    handler.addFilter(Redact())
    handler.setFormatter(formatter)
    return handler


@pytest.mark.parametrize("formatter", [PlainFormatter, JsonFormatter])
@pytest.mark.parametrize("created", [1_700_000_000.0, 1_700_000_000.0423, 1_700_000_000.9996,
                                     1_700_000_061.5])
@pytest.mark.parametrize("level", [logging.INFO, logging.WARNING])
def test_a_direct_line_is_the_line_of_the_record(formatter, created, level, monkeypatch):
    monkeypatch.setattr(time, "time", lambda: created)  # both lines made at that time
    args = ("GET", "/devices/{device_id}/device-information", 200, 0.4, "cam", "r-1")
    fields = {"method": "GET", "route": args[1], "status": 200, "duration_ms": 0.4,
              "device": "cam", "request_id": "r-1"}
    direct, logged = _handler(formatter()), _handler(formatter())
    direct.emit_line(level, access_log.name, ACCESS_LINE % args, fields)
    logged.handle(_access_record(level, args, fields))
    for handler in (direct, logged):
        handler.flush()
    line = direct.stream.getvalue()
    assert line == logged.stream.getvalue()
    assert line.endswith("\n")
    assert line.count("\n") == 1
    if formatter is JsonFormatter:
        assert json.loads(line)["request_id"] == "r-1"
    else:
        assert line.endswith(f" {logging.getLevelName(level)} gateway.access: GET "
                             "/devices/{device_id}/device-information 200 0.4 ms device=cam "
                             "request_id=r-1\n")


@pytest.fixture
def own_logger():
    """A logger under a parent, both without handlers; restored. (The test makes the parent
    not propagate: pytest adds its handlers to the loggers that do not when a test starts.)"""
    parent = logging.getLogger("tests.direct")
    logger = logging.getLogger("tests.direct.access")
    yield parent, logger
    for each in (parent, logger):
        each.handlers.clear()
        each.filters.clear()
        each.propagate, each.disabled = True, False
        each.setLevel(logging.NOTSET)


def test_a_line_goes_direct_only_where_nothing_else_would_see_its_record(own_logger):
    parent, logger = own_logger
    parent.propagate = False
    ours = _handler(PlainFormatter())
    assert direct_handler(logger, logging.INFO) is None  # no handler: logging's last resort
    parent.addHandler(ours)
    assert direct_handler(logger, logging.INFO) is ours
    logger.addFilter(Redact())  # lets a credential-free record pass unread
    assert direct_handler(logger, logging.INFO) is ours

    other = logging.StreamHandler(io.StringIO())

    def refuse(record: logging.LogRecord) -> bool:
        return False

    for change, undo in [
        (lambda: logger.addHandler(other), lambda: logger.removeHandler(other)),
        (lambda: parent.addHandler(other), lambda: parent.removeHandler(other)),
        (lambda: logger.addFilter(refuse), lambda: logger.removeFilter(refuse)),
        (lambda: ours.addFilter(refuse), lambda: ours.removeFilter(refuse)),
        (lambda: ours.setFormatter(logging.Formatter()),
         lambda: ours.setFormatter(PlainFormatter())),
        (lambda: ours.setLevel(logging.WARNING), lambda: ours.setLevel(logging.NOTSET)),
        (lambda: setattr(logger, "disabled", True), lambda: setattr(logger, "disabled", False)),
        (lambda: setattr(parent, "propagate", True),  # the root's handlers (pytest's)
         lambda: setattr(parent, "propagate", False)),
    ]:
        change()
        assert direct_handler(logger, logging.INFO) is None
        undo()
        assert direct_handler(logger, logging.INFO) is ours
    assert direct_handler(logger, logging.INFO) is ours

    class Mine(TurnBatchingHandler):
        pass

    parent.removeHandler(ours)
    parent.addHandler(mine := Mine())
    assert direct_handler(logger, logging.INFO) is None
    parent.removeHandler(mine)
    logger.addHandler(ours)  # the logger's own, the parent's propagation ends the way up
    parent.addHandler(other)
    logger.propagate = False
    assert direct_handler(logger, logging.INFO) is ours


async def test_request_lines_reach_a_handler_or_filter_a_user_adds(gateway):
    token = await login(gateway)
    ours = _handler(JsonFormatter())
    access_log.addHandler(ours)
    access_log.propagate = False  # the gateway's handler alone: lines go direct
    access_log.setLevel(logging.INFO)
    seen: list[logging.LogRecord] = []

    class Theirs(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record)

    def keep_and_drop(record: logging.LogRecord) -> bool:
        seen.append(record)
        return False

    theirs = Theirs()
    try:
        assert direct_handler(access_log, logging.INFO) is ours
        await gateway.get("/device-information", headers={**bearer(token), "X-Request-ID": "d-1"})
        access_log.addHandler(theirs)
        await gateway.get("/device-information", headers={**bearer(token), "X-Request-ID": "d-2"})
        access_log.removeHandler(theirs)
        access_log.addFilter(keep_and_drop)
        await gateway.get("/device-information", headers={**bearer(token), "X-Request-ID": "d-3"})
        access_log.removeFilter(keep_and_drop)
        await gateway.get("/device-information", headers={**bearer(token), "X-Request-ID": "d-4"})
        ours.flush()
    finally:
        access_log.removeHandler(ours)
        access_log.removeHandler(theirs)
        access_log.propagate = True
        access_log.setLevel(logging.NOTSET)
    lines = [json.loads(line) for line in ours.stream.getvalue().splitlines()]
    assert [line["request_id"] for line in lines] == ["d-1", "d-2", "d-4"]
    assert {(line["status"], line["route"], line["device"]) for line in lines} == {
        (200, "/device-information", "cam")}
    assert [record.fields["request_id"] for record in seen] == ["d-2", "d-3"]  # type: ignore[attr-defined]
    assert seen[0].getMessage().endswith(" ms device=cam request_id=d-2")
