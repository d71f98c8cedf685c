"""The gateway's Prometheus metrics, in a registry of each app's own (never the global one).

Label values are all bounded and never secret: routes are canonical paths (never raw URLs),
devices are the configured names, SOAP outcomes a short fixed vocabulary.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

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


class RequestCounts(Collector):
    """gateway_http_requests (a counter by method, route and status) and
    gateway_http_request_duration_seconds (a histogram by method and route), counted in plain
    numbers and shown at each scrape as prometheus_client's Counter and Histogram show theirs.
    A request adds to two lists, where prometheus_client's values took a lock for each of their
    three updates (a twentieth of a cached read's handling). Counted on the event loop only;
    every label value is bounded, so the series are too, and never dropped."""

    BOUNDS = Histogram.DEFAULT_BUCKETS  # the seconds each bucket counts up to; the last is inf
    LE = tuple(floatToGoString(bound) for bound in BOUNDS)  # type: ignore[no-untyped-call]

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], list[float]] = {}  # [count, created]
        # [one count per bucket (not cumulated), sum, created]
        self._durations: dict[tuple[str, str], list[float]] = {}

    def add(self, method: str, route: str, status: int, seconds: float) -> None:
        """One answered request."""
        try:
            self._counts[method, route, status][0] += 1
        except KeyError:
            self._counts[method, route, status] = [1, time.time()]
        try:
            durations = self._durations[method, route]
        except KeyError:
            durations = self._durations[method, route] = [0.0] * (len(self.BOUNDS) + 1) \
                + [time.time()]
        durations[bisect.bisect_left(self.BOUNDS, seconds)] += 1  # the first bound >= seconds
        durations[-2] += seconds

    def collect(self) -> Iterator[Metric]:
        requests = Metric("gateway_http_requests", "HTTP requests answered, by route and status",
                          "counter")
        for (method, route, status), (count, created) in self._counts.items():
            labels = {"method": method, "route": route, "status": str(status)}
            requests.add_sample("gateway_http_requests_total", labels, count)
            requests.add_sample("gateway_http_requests_created", labels, created)
        yield requests
        name = "gateway_http_request_duration_seconds"
        durations = Metric(name, "Time to answer an HTTP request", "histogram")
        for (method, route), values in self._durations.items():
            labels = {"method": method, "route": route}
            count = 0.0
            for le, in_bucket in zip(self.LE, values, strict=False):
                count += in_bucket
                durations.add_sample(f"{name}_bucket", {**labels, "le": le}, count)
            durations.add_sample(f"{name}_count", labels, count)
            durations.add_sample(f"{name}_sum", labels, values[-2])
            durations.add_sample(f"{name}_created", labels, values[-1])
        yield durations


class Metrics:
    """Request, SOAP call, session and login metrics of one gateway app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = RequestCounts()
        self.registry.register(self._requests)
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

        # The labelled series each SOAP call touches, looked up once per label values
        # (prometheus_client's labels() checks and locks on every call: a few microseconds a
        # call). Every label value is bounded, so these are too; like the registry's own, a
        # series is never dropped.
        self._soap_series: dict[tuple[str, str, str, str], tuple[Any, Any]] = {}

    def snapshot_fetch(self, device: str, outcome: str) -> None:
        """The snapshot proxy's observer: one fetch from a device, and how it ended."""
        self.snapshot_fetches.labels(device, outcome).inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """The request log's: one answered request, its route, status and duration."""
        self._requests.add(method, route, status, seconds)

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
