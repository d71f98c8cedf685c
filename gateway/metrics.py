"""The gateway's Prometheus metrics, in a registry of each app's own (never the global one).

Label values are all bounded and never secret: routes are canonical paths (never raw URLs),
devices are the configured names, SOAP outcomes a short fixed vocabulary.

Counted in plain numbers; prometheus_client makes the text a scraper reads, and is imported at the
first scrape (by the methods that show the metrics: collect, registry, render), not at start,
where it took 0.02-0.03 s of CPU.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from gateway.errors import (
    FAULT_STATUS,
    DeviceBadReply,
    DeviceFault,
    DeviceTimeout,
    DeviceUnreachable,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Gauge
    from prometheus_client.metrics_core import Metric

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


def _counter(name: str, text: str, labels: tuple[str, ...],
             counts: dict[tuple[Any, ...], list[float]]) -> Metric:
    """The samples prometheus_client's Counter of that name shows for these counts."""
    from prometheus_client.metrics_core import Metric

    counter = Metric(name, text, "counter")
    for values, (count, created) in counts.items():
        label_values = dict(zip(labels, map(str, values), strict=True))
        counter.add_sample(f"{name}_total", label_values, count)
        counter.add_sample(f"{name}_created", label_values, created)
    return counter


class Counts:
    """A counter by some labels (gateway_logins_failed by device and reason, ...), counted in
    plain numbers and shown at each scrape as prometheus_client's Counter shows its own. Counted
    on the event loop only; every label value is bounded, so the series are too."""

    def __init__(self, counter: str, counter_help: str, labels: tuple[str, ...]) -> None:
        self._counter, self._counter_help = counter, counter_help
        self._labels = labels
        self._counts: dict[tuple[Any, ...], list[float]] = {}  # [count, created]

    def add(self, values: tuple[Any, ...]) -> None:
        """One event; values: its labels' values, shown as text."""
        try:
            self._counts[values][0] += 1
        except KeyError:
            self._counts[values] = [1, time.time()]

    def collect(self) -> Iterator[Metric]:
        yield _counter(self._counter, self._counter_help, self._labels, self._counts)


class CountsAndDurations:
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

    # The seconds each bucket counts up to (the last is inf): prometheus_client's default ones.
    BOUNDS = (.005, .01, .025, .05, .075, .1, .25, .5, .75, 1.0, 2.5, 5.0, 7.5, 10.0, math.inf)

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
        from prometheus_client.metrics_core import Metric
        from prometheus_client.utils import floatToGoString

        yield _counter(self._counter, self._counter_help, self._labels, self._counts)
        name = self._histogram
        durations = Metric(name, self._histogram_help, "histogram")
        le = [floatToGoString(bound) for bound in self.BOUNDS]  # type: ignore[no-untyped-call]
        for key, numbers in self._durations.items():
            labels = dict(zip(self._labels[:self._by], map(str, key), strict=True))
            count = 0.0
            for bound, in_bucket in zip(le, numbers, strict=False):
                count += in_bucket
                durations.add_sample(f"{name}_bucket", {**labels, "le": bound}, count)
            durations.add_sample(f"{name}_count", labels, count)
            durations.add_sample(f"{name}_sum", labels, numbers[-2])
            durations.add_sample(f"{name}_created", labels, numbers[-1])
        yield durations


class Metrics:
    """Request, SOAP call, session and login metrics of one gateway app."""

    def __init__(self) -> None:
        self._requests = CountsAndDurations(
            "gateway_http_requests", "HTTP requests answered, by route and status",
            "gateway_http_request_duration_seconds", "Time to answer an HTTP request",
            ("method", "route", "status"), 2)
        self._soap = CountsAndDurations(
            "gateway_soap_calls", "SOAP calls to devices, by how they ended",
            "gateway_soap_call_duration_seconds", "Time a SOAP call to a device took",
            ("device", "service", "operation", "outcome"), 3)
        self._snapshot_fetches = Counts(
            "gateway_snapshot_fetches", "Snapshots fetched from devices (kept ones not counted), "
            "by how the fetch ended: ok, refused, timeout, unreachable, unauthorized, bad_reply",
            ("device", "outcome"))
        self._logins_failed = Counts(
            "gateway_logins_failed", "Logins refused: credentials refused, or locked out",
            ("device", "reason"))
        self._registry: tuple[CollectorRegistry, Gauge] | None = None

    @property
    def registry(self) -> CollectorRegistry:
        """prometheus_client's registry of these metrics, made at the first scrape."""
        return self._exposed()[0]

    def _exposed(self) -> tuple[CollectorRegistry, Gauge]:
        if self._registry is None:
            from prometheus_client import CollectorRegistry, Gauge

            registry = CollectorRegistry()
            for series in (self._requests, self._soap, self._snapshot_fetches,
                           self._logins_failed):
                registry.register(series)
            # Set from the session store at each scrape (it may be shared, in Redis).
            sessions = Gauge("gateway_sessions_active", "Live sessions (bearer tokens)",
                             registry=registry)
            self._registry = registry, sessions
        return self._registry

    def snapshot_fetch(self, device: str, outcome: str) -> None:
        """The snapshot proxy's observer: one fetch from a device, and how it ended."""
        self._snapshot_fetches.add((device, outcome))

    def login_failed(self, device: str, reason: str) -> None:
        """A login refused (reason: refused, locked_out) on a device ("" if none was found)."""
        self._logins_failed.add((device, reason))

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        """The request log's: one answered request, its route, status and duration."""
        self._requests.add((method, route, status), seconds)

    def soap_call(self, device: str, service: str, operation: str, error: Exception | None,
                  seconds: float) -> None:
        """The DeviceClient observer: called once per SOAP call, whatever its outcome."""
        self._soap.add((device, service, operation, soap_outcome(error)), seconds)

    def render(self, sessions: int) -> tuple[bytes, str]:
        """The Prometheus text exposition of every metric, with the live sessions counted now,
        and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        registry, gauge = self._exposed()
        gauge.set(sessions)
        return generate_latest(registry), CONTENT_TYPE_LATEST
