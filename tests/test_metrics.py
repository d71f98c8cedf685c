"""The gateway's own metric series, next to prometheus_client's."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from gateway.metrics import CountsAndDurations

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
