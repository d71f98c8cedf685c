"""The gateway's Prometheus metrics, in a registry of each app's own (never the global one).

Label values are all bounded and never secret: routes are canonical paths (never raw URLs),
devices are the configured names, SOAP outcomes a short fixed vocabulary.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from gateway.errors import (
    FAULT_STATUS,
    DeviceBadReply,
    DeviceFault,
    DeviceTimeout,
    DeviceUnreachable,
)

# SOAP 1.2 fault codes; subcodes only from FAULT_STATUS: a device cannot invent label values.
FAULT_CODES = {"Sender", "Receiver", "VersionMismatch", "MustUnderstand", "DataEncodingUnknown"}


def soap_outcome(error: Exception | None) -> str:
    """How a SOAP call ended: ok, fault:<subcode or code>, timeout, unreachable, bad_reply..."""
    if error is None:
        return "ok"
    if isinstance(error, DeviceFault):
        known = [code for code in reversed(error.subcodes) if code in FAULT_STATUS]
        if known:
            return f"fault:{known[0]}"
        return f"fault:{error.code}" if error.code in FAULT_CODES else "fault"
    if isinstance(error, DeviceTimeout):
        return "timeout"
    if isinstance(error, DeviceUnreachable):
        return "unreachable"
    if isinstance(error, DeviceBadReply):
        return "bad_reply"
    return "error"


class Metrics:
    """Request, SOAP call, session and login metrics of one gateway app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "gateway_http_requests", "HTTP requests answered, by route and status",
            ["method", "route", "status"], registry=self.registry)
        self.request_seconds = Histogram(
            "gateway_http_request_duration_seconds", "Time to answer an HTTP request",
            ["method", "route"], registry=self.registry)
        self.soap_calls = Counter(
            "gateway_soap_calls", "SOAP calls to devices, by how they ended",
            ["device", "service", "operation", "outcome"], registry=self.registry)
        self.soap_seconds = Histogram(
            "gateway_soap_call_duration_seconds", "Time a SOAP call to a device took",
            ["device", "service", "operation"], registry=self.registry)
        self.snapshot_fetches = Counter(
            "gateway_snapshot_fetches", "Snapshots fetched from devices (kept ones not counted), "
            "by how the fetch ended: ok, refused, timeout, unreachable, unauthorized, bad_reply",
            ["device", "outcome"], registry=self.registry)
        # Set from the session store at each scrape (it may be shared, in Redis).
        self.sessions = Gauge(
            "gateway_sessions_active", "Live sessions (bearer tokens)", registry=self.registry)
        self.logins_failed = Counter(
            "gateway_logins_failed", "Logins refused: credentials refused, or locked out",
            ["device", "reason"], registry=self.registry)

        # The labelled series each request and SOAP call touches, looked up once per label
        # values (prometheus_client's labels() checks and locks on every call: a few
        # microseconds a request). Every label value is bounded, so these are too; like the
        # registry's own, a series is never dropped.
        self._request_series: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._soap_series: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}

    def snapshot_fetch(self, device: str, outcome: str) -> None:
        """The snapshot proxy's observer: one fetch from a device, and how it ended."""
        self.snapshot_fetches.labels(device, outcome).inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        series = self._request_series.get(key)
        if series is None:
            series = self._request_series[key] = (
                self.requests.labels(method, route, str(status)),
                self.request_seconds.labels(method, route))
        series[0].inc()
        series[1].observe(seconds)

    def soap_call(self, device: str, service: str, operation: str, error: Exception | None,
                  seconds: float) -> None:
        """The DeviceClient observer: called once per SOAP call, whatever its outcome."""
        key = (device, service, operation, soap_outcome(error))
        series = self._soap_series.get(key)
        if series is None:
            series = self._soap_series[key] = (
                self.soap_calls.labels(*key), self.soap_seconds.labels(*key[:3]))
        series[0].inc()
        series[1].observe(seconds)

    def render(self, sessions: int) -> bytes:
        """The Prometheus text exposition of every metric, with the live sessions counted now."""
        self.sessions.set(sessions)
        return generate_latest(self.registry)
