"""Event state of one simulated device: its properties (motion, digital inputs) and pull points.

A pull point (ONVIF's PullPointSubscription) queues every notification raised after it was
created, starting with an Initialized message for each property, and lives until its
TerminationTime unless renewed. Times here are monotonic seconds; the SOAP side turns them into
the device's clock.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

# The topics the simulated device raises (ONVIF topic namespace tns1).
MOTION_TOPIC: Final = "tns1:VideoSource/MotionAlarm"
INPUT_TOPIC: Final = "tns1:Device/Trigger/DigitalInput"
# A TP-Link Tapo's smart detections (SimulatedDevice.smart_events): one topic and source for all.
SMART_EVENT_TOPIC: Final = "tns1:RuleEngine/CellMotionDetector/TpSmartEvent"
SMART_EVENT_SOURCE: Final = (("VideoSourceConfigurationToken", "vsconf"),
                             ("VideoAnalyticsConfigurationToken", "VideoAnalyticsToken"),
                             ("Rule", "MyTPSmartEventDetectorRule"))
# A pull point nobody reads keeps at most this many notifications (the oldest go first).
PULL_POINT_QUEUE: Final = 1000


@dataclass(frozen=True)
class Notification:
    """One tt:Message: topic, time, PropertyOperation and its Source and Data SimpleItems."""

    topic: str
    utc_time: datetime
    operation: str  # Initialized | Changed | Deleted
    source: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class RawNotification:
    """A wsnt:NotificationMessage sent as written (EventState.send_raw): a real camera's message
    verbatim, with shapes the simulator's own messages never have (ElementItems, no Source, no
    PropertyOperation, vendor prefixes)."""

    xml: str


@dataclass
class PullPoint:
    """One subscription: what it has not pulled yet and when it ends (monotonic seconds)."""

    id: int
    expires: float
    messages: deque[Notification | RawNotification] = field(
        default_factory=lambda: deque(maxlen=PULL_POINT_QUEUE))
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def put(self, notification: Notification | RawNotification) -> None:
        self.messages.append(notification)
        self.arrived.set()

    def take(self, limit: int) -> list[Notification | RawNotification]:
        taken = [self.messages.popleft() for _ in range(min(limit, len(self.messages)))]
        if not self.messages:
            self.arrived.clear()
        return taken


@dataclass
class EventState:
    """Properties and pull points of one device; every method is safe to call from tests."""

    clock: Callable[[], float] = time.monotonic
    # (topic, source items, data item names) -> the last notification of that property (the
    # names tell apart the properties a Tapo tells under one topic and source: see smart_events)
    properties: dict[tuple[str, tuple[tuple[str, str], ...], tuple[str, ...]], Notification] = (
        field(default_factory=dict))
    pull_points: dict[int, PullPoint] = field(default_factory=dict)
    # How many pull points were ever created, the most that lived at once, and how many
    # CreatePullPointSubscription were refused for max_pull_points (what tests and benchmarks
    # count).
    created: int = 0
    peak: int = 0
    refused: int = 0
    next_motion: float = 0.0  # when periodic motion (SimulatedDevice.motion_every) toggles next

    def live(self) -> dict[int, PullPoint]:
        """The pull points that have not reached their TerminationTime (the others are gone)."""
        now = self.clock()
        for expired in [i for i, point in self.pull_points.items() if point.expires <= now]:
            self.drop(expired)
        return self.pull_points

    def create(self, lifetime: float, initialized: bool = True) -> PullPoint:
        """A new pull point, holding an Initialized message of every property (unless not
        `initialized`: then only SetSynchronizationPoint tells them)."""
        self.created += 1
        point = PullPoint(self.created, self.clock() + lifetime)
        self.pull_points[point.id] = point
        self.peak = max(self.peak, len(self.pull_points))
        if initialized:
            self.synchronize(point)
        return point

    def synchronize(self, point: PullPoint) -> None:
        """Queue the current value of every property, as Initialized (SetSynchronizationPoint)."""
        for notification in self.properties.values():
            point.put(Notification(notification.topic, notification.utc_time, "Initialized",
                                   notification.source, notification.data))

    def drop(self, point_id: int) -> None:
        """End a pull point (Unsubscribe, expiry, or the device dropping it)."""
        point = self.pull_points.pop(point_id, None)
        if point is not None:
            point.arrived.set()  # a PullMessages waiting on it answers now

    def drop_all(self) -> None:
        """End every pull point, as a device does when it reboots or loses its state."""
        for point_id in list(self.pull_points):
            self.drop(point_id)

    def send_raw(self, xml: str) -> None:
        """Tell every live pull point one wsnt:NotificationMessage, given as XML (its namespaces
        declared in it), sent as it is: no property of the device changes."""
        for point in self.live().values():
            point.put(RawNotification(xml))

    def set_property(self, topic: str, source: tuple[tuple[str, str], ...],
                     data: tuple[tuple[str, str], ...], now: datetime,
                     operation: str = "Changed") -> None:
        """Give a property a value and tell every live pull point."""
        notification = Notification(topic, now, operation, source, data)
        key = (topic, source, tuple(name for name, _ in data))
        if operation == "Deleted":
            self.properties.pop(key, None)
        else:
            self.properties[key] = notification
        for point in self.live().values():
            point.put(notification)
