"""The gateway's own metric series, next to prometheus_client's."""

from __future__ import annotations

import re
import subprocess
import sys

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from gateway.metrics import Counts, CountsAndDurations, Metrics

CALLS = [("cam1", "device", "GetDeviceInformation", "ok", 0.004),
         ("cam1", "device", "GetDeviceInformation", "ok", 0.005),  # on a bound: that bucket
         ("cam1", "device", "GetDeviceInformation", "fault:NotAuthorized", 0.3),
         ("cam2", "media", "GetProfiles", "timeout", 12.0),  # past the last bound: +Inf
         ("cam1", "device", "GetSystemDateAndTime", "ok", 0.0)]


def without_created(text: bytes) -> str:
    return re.sub(r"(_created\{[^}]*\}) \S+", r"\1 T", text.decode())


def test_counts_and_durations_are_shown_as_prometheus_clients_own():
    theirs = CollectorRegistry()
    calls = Counter("gateway_soap_calls", "SOAP calls to devices, by how they ended",
                    ["device", "service", "operation", "outcome"], registry=theirs)
    seconds = Histogram("gateway_soap_call_duration_seconds", "Time a SOAP call to a device took",
                        ["device", "service", "operation"], registry=theirs)
    ours = CollectorRegistry()
    series = CountsAndDurations(
        "gateway_soap_calls", "SOAP calls to devices, by how they ended",
        "gateway_soap_call_duration_seconds", "Time a SOAP call to a device took",
        ("device", "service", "operation", "outcome"), 3)
    ours.register(series)
    assert generate_latest(ours) == generate_latest(theirs)  # nothing yet
    for device, service, operation, outcome, took in CALLS:
        calls.labels(device, service, operation, outcome).inc()
        seconds.labels(device, service, operation).observe(took)
        series.add((device, service, operation, outcome), took)
    text = without_created(generate_latest(ours))
    assert text == without_created(generate_latest(theirs))
    assert ('gateway_soap_calls_total{device="cam1",operation="GetDeviceInformation",'
            'outcome="ok",service="device"} 2.0') in text
    assert ('gateway_soap_call_duration_seconds_bucket{device="cam1",'
            'le="0.005",operation="GetDeviceInformation",service="device"} 2.0') in text


def test_the_buckets_are_prometheus_clients_default_ones():
    assert CountsAndDurations.BOUNDS == Histogram.DEFAULT_BUCKETS


def test_counts_are_shown_as_prometheus_clients_counter():
    theirs, ours = CollectorRegistry(), CollectorRegistry()
    counter = Counter("gateway_logins_failed", "Logins refused", ["device", "reason"],
                      registry=theirs)
    counts = Counts("gateway_logins_failed", "Logins refused", ("device", "reason"))
    ours.register(counts)
    assert generate_latest(ours) == generate_latest(theirs)  # nothing yet
    for device, reason in [("cam1", "refused"), ("cam1", "refused"), ("", "locked_out")]:
        counter.labels(device, reason).inc()
        counts.add((device, reason))
    text = without_created(generate_latest(ours))
    assert text == without_created(generate_latest(theirs))
    assert 'gateway_logins_failed_total{device="cam1",reason="refused"} 2.0' in text


def test_the_exposition_is_prometheus_clients_own():
    theirs = CollectorRegistry()
    Counter("gateway_http_requests", "HTTP requests answered, by route and status",
            ["method", "route", "status"], registry=theirs)
    Histogram("gateway_http_request_duration_seconds", "Time to answer an HTTP request",
              ["method", "route"], registry=theirs)
    Counter("gateway_soap_calls", "SOAP calls to devices, by how they ended",
            ["device", "service", "operation", "outcome"], registry=theirs)
    Histogram("gateway_soap_call_duration_seconds", "Time a SOAP call to a device took",
              ["device", "service", "operation"], registry=theirs)
    Counter("gateway_snapshot_fetches", "Snapshots fetched from devices (kept ones not counted), "
            "by how the fetch ended: ok, refused, timeout, unreachable, unauthorized, bad_reply",
            ["device", "outcome"], registry=theirs).labels("cam", "ok").inc()
    Counter("gateway_logins_failed", "Logins refused: credentials refused, or locked out",
            ["device", "reason"], registry=theirs).labels("cam", "refused").inc()
    Gauge("gateway_sessions_active", "Live sessions (bearer tokens)", registry=theirs).set(3)
    metrics = Metrics()
    metrics.snapshot_fetch("cam", "ok")
    metrics.login_failed("cam", "refused")
    body, content_type = metrics.render(3)
    assert content_type == CONTENT_TYPE_LATEST
    assert without_created(body) == without_created(generate_latest(theirs))


IMPORTED = """
import sys
from gateway.app import create_app
from gateway.metrics import Metrics
metrics = Metrics()
metrics.request("GET", "/x", 200, 0.1)
print("prometheus_client" in sys.modules)
metrics.render(0)
print("prometheus_client" in sys.modules)
"""


def test_prometheus_client_is_imported_at_the_first_scrape_not_at_start():
    done = subprocess.run([sys.executable, "-c", IMPORTED], capture_output=True, text=True,
                          check=False)
    assert done.stdout.split() == ["False", "True"], done.stdout + done.stderr
