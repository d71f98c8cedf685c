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


class CountsAndDurations(Collector):
    """A counter by some labels and a histogram of durations by the first of them
    (gateway_http_requests by method, route and status, its durations by method and route;
    gateway_soap_calls by device, service, operation and outcome, its durations by device,
    service and operation), counted in plain numbers and shown at each scrape as
    prometheus_client's Counter and Histogram show theirs.

    An update adds to two lists, where prometheus_client's values took a lock for each of their
    three updates (a twentieth of a cached read's handling), and a histogram series is a list,
    where theirs is a value object with a lock per bucket (about 3 KiB a series: 14 KiB of each
    device a gateway in front of 500 devices had used). Counted on the event loop only; every
    label value is bounded, so the series are too, and never dropped."""

    BOUNDS = Histogram.DEFAULT_BUCKETS  # the seconds each bucket counts up to; the last is inf
    LE = tuple(floatToGoString(bound) for bound in BOUNDS)  # type: ignore[no-untyped-call]

    def __init__(self, counter: str, counter_help: str, histogram: str, histogram_help: str,
                 labels: tuple[str, ...], histogram_labels: int) -> None:
        self._counter, self._counter_help = counter, counter_help
        self._histogram, self._histogram_help = histogram, histogram_help
        self._labels, self._by = labels, histogram_labels
        self._counts: dict[tuple[Any, ...], list[float]] = {}  # [count, created]
        # [one count per bucket (not cumulated), sum, created]
        self._durations: dict[tuple[Any, ...], list[float]] = {}

    def add(self, values: tuple[Any, ...], seconds: float) -> None:
        """One event (values: its labels' values, shown as text) and how long it took."""
        try:
            self._counts[values][0] += 1
        except KeyError:
            self._counts[values] = [1, time.time()]
        key = values[:self._by]
        try:
            durations = self._durations[key]
        except KeyError:
            durations = self._durations[key] = [0.0] * (len(self.BOUNDS) + 1) + [time.time()]
        durations[bisect.bisect_left(self.BOUNDS, seconds)] += 1  # the first bound >= seconds
        durations[-2] += seconds

    def collect(self) -> Iterator[Metric]:
        counter = Metric(self._counter, self._counter_help, "counter")
        for values, (count, created) in self._counts.items():
            labels = dict(zip(self._labels, map(str, values), strict=True))
            counter.add_sample(f"{self._counter}_total", labels, count)
            counter.add_sample(f"{self._counter}_created", labels, created)
        yield counter
        name = self._histogram
        durations = Metric(name, self._histogram_help, "histogram")
        for key, numbers in self._durations.items():
            labels = dict(zip(self._labels[:self._by], map(str, key), strict=True))
            count = 0.0
            for le, in_bucket in zip(self.LE, numbers, strict=False):
                count += in_bucket
                durations.add_sample(f"{name}_bucket", {**labels, "le": le}, count)
            durations.add_sample(f"{name}_count", labels, count)
            durations.add_sample(f"{name}_sum", labels, numbers[-2])
            durations.add_sample(f"{name}_created", labels, numbers[-1])
        yield durations


class Metrics:
    """Request, SOAP call, session and login metrics of one gateway app."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self._requests = CountsAndDurations(
            "gateway_http_requests", "HTTP requests answered, by route and status",
            "gateway_http_request_duration_seconds", "Time to answer an HTTP request",
            ("method", "route", "status"), 2)
        self.registry.register(self._requests)
        self._soap = CountsAndDurations(
            "gateway_soap_calls", "SOAP calls to devices, by how they ended",
            "gateway_soap_call_duration_seconds", "Time a SOAP call to a device took",
            ("device", "service", "operation", "outcome"), 3)
        self.registry.register(self._soap)
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

    def snapshot_fetch(self, device: str, outcome: str) -> None:
        """The snapshot proxy's observer: one fetch from a device, and how it ended."""
        self.snapshot_fetches.labels(device, outcome).inc()

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """The request log's: one answered request, its route, status and duration."""
        self._requests.add((method, route, status), seconds)

    def soap_call(self, device: str, service: str, operation: str, error: Exception | None,
                  seconds: float) -> None:
        """The DeviceClient observer: called once per SOAP call, whatever its outcome."""
        self._soap.add((device, service, operation, soap_outcome(error)), seconds)

    def render(self, sessions: int) -> bytes:
        """The Prometheus text exposition of every metric, with the live sessions counted now."""
        self.sessions.set(sessions)
        return generate_latest(self.registry)
